/* Legacy 7-field map definitions (samples/bpf bpf_load.c): inner_map_idx and numa_node. */
#include "bpf_elf.h"

struct bpf_map_def_ext {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
	unsigned int inner_map_idx;
	unsigned int numa_node;
};

struct bpf_map_def_ext SEC("maps") inner_tmpl = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 1,
};

struct bpf_map_def_ext SEC("maps") outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.key_size = 4,
	.value_size = 4,
	.max_entries = 8,
	.map_flags = 4, /* BPF_F_NUMA_NODE */
	.inner_map_idx = 0,
	.numa_node = 1,
};

SEC("socket/outer")
int use_outer(struct __sk_buff *skb)
{
	__u32 key = 0;
	void *inner = bpf_map_lookup_elem(&outer, &key);
	return inner ? 1 : 0;
}

char _license[] SEC("license") = "GPL";
