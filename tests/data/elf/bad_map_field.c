/* A BTF map definition with a field libbpf does not know. */
#include "bpf_elf.h"
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
	__uint(frobnication, 3);
} weird SEC(".maps");
SEC("xdp") int use_weird(struct xdp_md *ctx)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&weird, &k) ? XDP_PASS : XDP_DROP;
}
char _license[] SEC("license") = "GPL";
