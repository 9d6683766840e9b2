// SPDX-License-Identifier: GPL-2.0
/* bpf_loop in a real program: an XDP program that scans the first bytes of the packet in a
 * bpf_loop callback (the loop context on the stack carries the packet bounds), counts
 * non-zero bytes, and keeps the count in an array map. Loaded with BTF func info
 * (callbacks need it).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} counts SEC(".maps");

struct scan_ctx {
	void *data;
	void *data_end;
	__u64 nonzero;
	__u64 sum;
};

static long scan_byte(__u64 index, void *arg)
{
	struct scan_ctx *c = arg;
	unsigned char *p = c->data;

	if (index >= 64)
		return 1;
	p += index;
	if ((void *)(p + 1) > c->data_end)
		return 1; /* stop: end of packet */
	if (*p)
		c->nonzero++;
	c->sum += *p;
	return 0;
}

SEC("xdp")
int xdp_loop_stats(struct xdp_md *ctx)
{
	struct scan_ctx c = {
		.data = (void *)(long)ctx->data,
		.data_end = (void *)(long)ctx->data_end,
	};
	__u32 key = 0;
	__u64 *v;

	bpf_loop(64, scan_byte, &c, 0);
	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		__sync_fetch_and_add(v, c.nonzero);
	key = 1;
	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		*v = c.sum;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
