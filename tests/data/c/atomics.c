/* Atomic operations: __sync_* and __atomic_* builtins on 32-bit and 64-bit values.
 * Fetching forms, xchg and cmpxchg need -mcpu=v3 or later. */
#include "bpf_defs.h"

__u64 counter64;
__u32 counter32;
__u64 flags64;

SEC("tc")
int atomics(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&counter64, skb->len);
	__sync_fetch_and_add(&counter32, 1);
#if __BPF_CPU_VERSION__ >= 3
	__u64 old = __sync_fetch_and_add(&counter64, 2);
	__u32 old32 = __sync_fetch_and_add(&counter32, 3);
	__sync_fetch_and_or(&flags64, 0x10);
	__sync_fetch_and_and(&flags64, ~0x1ULL);
	__sync_fetch_and_xor(&counter32, 0x5a);
	old ^= __sync_fetch_and_xor(&flags64, old);
	old32 |= __atomic_fetch_or(&counter32, 0x100, __ATOMIC_RELAXED);
	old32 &= __atomic_fetch_and(&counter32, 0xff, __ATOMIC_SEQ_CST);
	old += __atomic_exchange_n(&counter64, 7, __ATOMIC_SEQ_CST);
	old32 += __atomic_exchange_n(&counter32, 9, __ATOMIC_SEQ_CST);
	old += __sync_val_compare_and_swap(&counter64, old, old + 1);
	old32 += __sync_val_compare_and_swap(&counter32, old32, 0);
	return (int)(old + old32);
#else
	return 0;
#endif
}

char _license[] SEC("license") = "GPL";
