/* Bounded loops over stack arrays and global data; 32-bit and 64-bit arithmetic. */
#include "bpf_defs.h"

__u32 table[16] = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3 };
__u64 total;
const char message[] = "sum=%llu\n";

static __noinline __u32 checksum(const __u8 *buf, int len)
{
	__u32 sum = 0;
	for (int i = 0; i < len && i < 64; i++)
		sum = (sum << 5) + sum + buf[i];
	return sum ^ (sum >> 16);
}

SEC("socket")
int loops(struct __sk_buff *skb)
{
	__u8 buf[64];
	__u64 acc = 0;
	int i;

	for (i = 0; i < 64; i++)
		buf[i] = (__u8)(i * 7 + skb->len);
#pragma clang loop unroll(disable)
	for (i = 0; i < 16; i++) {
		acc += table[i] * (__u64)skb->mark;
		if (acc > 1000000)
			break;
	}
	total += acc;
	bpf_trace_printk(message, sizeof(message), acc);
	return checksum(buf, skb->len & 63) + (int)(acc >> 3);
}

SEC("socket")
int bubble(struct __sk_buff *skb)
{
	__u32 v[8];
	for (int i = 0; i < 8; i++)
		v[i] = (skb->hash >> (i * 4)) & 0xf;
	for (int i = 0; i < 8; i++)
		for (int j = 0; j + 1 < 8 - i; j++)
			if (v[j] > v[j + 1]) {
				__u32 t = v[j];
				v[j] = v[j + 1];
				v[j + 1] = t;
			}
	return v[0] | (v[7] << 8);
}

char _license[] SEC("license") = "GPL";
