/* tc programs calling .text functions (one calling the other) and a bpf_loop callback. */
#include "bpf_elf.h"

__u64 total;

static __noinline __u32 mix(__u32 x)
{
	return x * 2654435761u + 17;
}

__noinline int scale(__u32 len)
{
	__u32 m = mix(len);
	return m >> 3;
}

static int loop_cb(__u32 index, void *ctx)
{
	__u64 *acc = ctx;
	*acc += index;
	return 0;
}

SEC("tc")
int tc_main(struct __sk_buff *skb)
{
	int r = scale(skb->len);
	total += r;
	return r & 1;
}

SEC("tc/ingress")
int tc_loop(struct __sk_buff *skb)
{
	__u64 acc = 0;
	bpf_loop(skb->len & 0xf, loop_cb, &acc, 0);
	return mix(acc) & 1;
}

char _license[] SEC("license") = "GPL";
