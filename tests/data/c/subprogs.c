/* bpf-to-bpf calls: static and global noinline functions, calls across sections. */
#include "bpf_defs.h"

static __noinline int square(int x)
{
	return x * x;
}

static __noinline int sum_squares(int a, int b, int c, int d, int e)
{
	return square(a) + square(b) + square(c) + square(d) + square(e);
}

__noinline int global_helper(struct __sk_buff *skb)
{
	if (!skb)
		return 0;
	return skb->len > 100 ? sum_squares(1, 2, 3, 4, 5) : square(skb->len);
}

SEC("socket")
int caller_a(struct __sk_buff *skb)
{
	return global_helper(skb) + square(skb->mark & 0xff);
}

SEC("socket")
int caller_b(struct __sk_buff *skb)
{
	return sum_squares(skb->len, skb->mark, skb->priority, 1, 2) - global_helper(skb);
}

char _license[] SEC("license") = "GPL";
