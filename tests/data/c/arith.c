/* Arithmetic: 32-bit and 64-bit ALU, shifts, unsigned and (v4) signed division, sign
 * extension, byte swaps and a switch. */
#include "bpf_defs.h"

static __noinline __u64 mix(__u64 a, __u32 b)
{
	__u32 lo = (__u32)a * 2654435761u + b;
	__u64 hi = (a >> 33) ^ ((__u64)lo << 7);
	return hi + (lo >> (b & 31)) - (a % 1000003) + (b / 7);
}

static __noinline __s64 signed_ops(__s64 a, __s32 b)
{
	__s64 r = a >> 3;
#if __BPF_CPU_VERSION__ >= 4
	if (b != 0 && b != -1) {
		r += a / b;
		r -= a % b;
		r += (__s32)((__s32)a / b) + (__s32)a % b;
	}
#endif
	return r + (__s8)b + (__s16)(b >> 8);
}

SEC("socket")
int arith(struct __sk_buff *skb)
{
	__u64 v = ((__u64)skb->hash << 32) | skb->mark;
	__s8 *sp = (__s8 *)&skb->cb[0];
	__s16 *hp = (__s16 *)&skb->cb[1];
	__s32 *wp = (__s32 *)&skb->cb[2];
	__u64 r = mix(v, skb->len);

	r += signed_ops((__s64)v, *wp) + *sp + *hp;
	r ^= __builtin_bswap64(r) + __builtin_bswap32((__u32)r) + __builtin_bswap16((__u16)r);
	r += bpf_htons(skb->protocol) + bpf_htonl(skb->priority);
	switch (skb->pkt_type) {
	case 0: r += 11; break;
	case 1: r *= 3; break;
	case 2: r -= 5; break;
	case 3: r <<= 2; break;
	case 7: r = ~r; break;
	default: r = 0;
	}
	return (int)(r & 0x7fffffff);
}

char _license[] SEC("license") = "GPL";
