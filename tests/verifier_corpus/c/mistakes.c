// SPDX-License-Identifier: GPL-2.0
/* Realistic mistakes the verifier catches, one program each. These objects are expected to
 * be REJECTED; each program's comment names the bug.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64[16]);
	__uint(max_entries, 1);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 12);
} events SEC(".maps");

/* Bug: the IP header is read after checking only the Ethernet header's bounds. */
SEC("xdp")
int missing_bounds_check(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + sizeof(*eth);

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	return iph->protocol == IPPROTO_TCP ? XDP_PASS : XDP_DROP;
}

/* Bug: the lookup result is used without a NULL check. */
SEC("xdp")
int missing_null_check(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	*v += 1;
	return XDP_PASS;
}

/* Bug: an index from the packet is only masked to 8 bits for a 16-entry array. */
SEC("xdp")
int index_not_bounded(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	__u32 zero = 0;
	__u64 *slot;

	if ((void *)(p + 1) > end)
		return XDP_DROP;
	slot = bpf_map_lookup_elem(&slots, &zero);
	if (!slot)
		return XDP_PASS;
	slot[p[0] & 0xff] += 1;
	return XDP_PASS;
}

/* The fix of index_not_bounded: masked to the array size. */
SEC("xdp")
int index_bounded(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	__u32 zero = 0;
	__u64 *slot;

	if ((void *)(p + 1) > end)
		return XDP_DROP;
	slot = bpf_map_lookup_elem(&slots, &zero);
	if (!slot)
		return XDP_PASS;
	slot[p[0] & 0xf] += 1;
	return XDP_PASS;
}

/* Bug: an early return leaks the ring buffer reservation. */
SEC("xdp")
int ringbuf_leak(struct xdp_md *ctx)
{
	__u32 *e = bpf_ringbuf_reserve(&events, sizeof(__u32), 0);

	if (!e)
		return XDP_PASS;
	*e = ctx->rx_queue_index;
	if (ctx->rx_queue_index > 4)
		return XDP_PASS;
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}

/* Not a bug here: a global (non-static) function would be verified on its own with BTF;
 * without BTF func info the kernel verifies it like a static subprogram. */
__noinline int global_helper(__u32 x)
{
	return x * 3;
}

SEC("xdp")
int global_func_without_btf(struct xdp_md *ctx)
{
	return global_helper(ctx->rx_queue_index) & 3;
}

/* Bug: two 300-byte stack buffers in nested calls exceed the 512-byte stack. */
static __noinline int inner_buf(__u32 seed)
{
	volatile __u8 buf[300];

	for (int i = 0; i < 300; i += 50)
		buf[i] = seed + i;
	return buf[seed & 0xff];
}

SEC("xdp")
int stack_too_deep(struct xdp_md *ctx)
{
	volatile __u8 buf[300];

	for (int i = 0; i < 300; i += 50)
		buf[i] = ctx->rx_queue_index + i;
	return (inner_buf(buf[0]) + buf[ctx->rx_queue_index & 0xff]) & 3;
}

/* Bug: a packet walk whose loop bound depends on packet data only. */
SEC("xdp")
int unbounded_walk(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	__u32 sum = 0;

	while ((void *)(p + 1) <= end) {
		sum += *p;
		p++;
	}
	return sum & 3;
}

/* Bug: writes the read-only skb->len. */
SEC("tc")
int write_len(struct __sk_buff *skb)
{
	skb->len = 0;
	return 0;
}

/* Bug: cgroup_skb must return 0 or 1 on ingress. */
SEC("cgroup_skb/ingress")
int bad_return(struct __sk_buff *skb)
{
	return skb->len > 100 ? 2 : 1;
}

char LICENSE[] SEC("license") = "GPL";
