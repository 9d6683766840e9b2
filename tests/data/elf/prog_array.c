/* A prog array and a map of maps with static `values` initialisation. */
#include "bpf_elf.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
};

struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_map SEC(".maps") = {
	.values = { [0] = &inner_a, [3] = &inner_b },
};

int tail0(struct xdp_md *ctx);
int tail2(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 3);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jmp_table SEC(".maps") = {
	.values = { [0] = (void *)&tail0, [2] = (void *)&tail2 },
};

SEC("xdp")
int tail0(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int tail2(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	__u32 key = 0;
	void *m = bpf_map_lookup_elem(&outer_map, &key);
	if (m)
		bpf_map_lookup_elem(m, &key);
	bpf_tail_call(ctx, &jmp_table, ctx->ingress_ifindex & 3);
	return XDP_ABORTED;
}

char _license[] SEC("license") = "GPL";
