/* A legacy map definition with a non-zero field after numa_node: libbpf refuses it. */
#include "bpf_elf.h"
struct bpf_map_def_8 {
	unsigned int type, key_size, value_size, max_entries, map_flags, inner_map_idx, numa_node;
	unsigned int unknown_option;
};
struct bpf_map_def_8 SEC("maps") odd = { .type = BPF_MAP_TYPE_ARRAY, .key_size = 4,
	.value_size = 4, .max_entries = 1, .unknown_option = 1 };
SEC("socket") int use_odd(struct __sk_buff *skb)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&odd, &k) != 0;
}
char _license[] SEC("license") = "GPL";
