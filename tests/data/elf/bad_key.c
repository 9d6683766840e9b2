/* A hash map whose key (1024 bytes) cannot be built on the 512-byte BPF stack. */
#include "bpf_elf.h"
struct big_key { char bytes[1024]; };
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct big_key);
	__type(value, __u32);
	__uint(max_entries, 16);
} huge SEC(".maps");
SEC("xdp") int use_huge(struct xdp_md *ctx)
{
	return bpf_map_lookup_elem(&huge, NULL) ? XDP_PASS : XDP_DROP;
}
char _license[] SEC("license") = "GPL";
