/* Legacy packet loads (ld_abs / ld_ind) and instructions written in inline asm:
 * may_goto, gotol, jmp32, movsx, sdiv/smod and the LLVM syntax of many encodings (-mcpu=v3+). */
#include "bpf_defs.h"

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

SEC("socket")
int legacy(struct __sk_buff *skb)
{
	__u64 proto = load_half(skb, 12);
	__u64 ihl = load_byte(skb, 14) & 0xf;
	__u64 word = load_word(skb, 14 + ihl * 4);
	return (int)(proto + word + load_byte(skb, ihl));
}

SEC("socket")
int inline_asm(struct __sk_buff *skb)
{
	int ret = 0;
#if __BPF_CPU_VERSION__ >= 3 /* w registers need alu32 */
	asm volatile(
		"r0 = 0;"
		"r2 = 0x1122334455667788 ll;"
		"w3 = 7;"
		"w3 s/= 2;"
		"r3 s%%= 3;"
		"r4 = r1;"
		"r4 = (s8)r3;"
		"w4 = (s16)w3;"
		"r5 = (s32)r4;"
		"r2 = be16 r2;"
		"r2 = le32 r2;"
		"r2 = bswap64 r2;"
		"r0 = *(s8 *)(r1 + 0);"
		"w0 = *(u16 *)(r1 + 2);"
		"*(u32 *)(r10 - 8) = 7;"
		"*(u64 *)(r10 - 16) = r2;"
		"if w3 s> 2 goto +1;"
		"r0 += 1;"
		"if r3 & 4 goto +0;"
		"may_goto +1;"
		"r0 -= 1;"
		"gotol +1;"
		"r0 ^= 3;"
		"%[ret] = r0;"
		: [ret] "=r"(ret)
		:
		: "r0", "r2", "r3", "r4", "r5", "memory");
#endif
	return ret;
}

char _license[] SEC("license") = "GPL";
