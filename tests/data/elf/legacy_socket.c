/* A socket filter with legacy "maps" section definitions, built without -g (no BTF). */
#include "bpf_elf.h"

struct bpf_map_def SEC("maps") sock_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 256,
};

struct bpf_map_def SEC("maps") sock_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 64,
	.map_flags = BPF_F_NO_PREALLOC,
};

SEC("socket")
int sock_filter(struct __sk_buff *skb)
{
	__u32 key = skb->protocol & 0xff;
	__u64 *count = bpf_map_lookup_elem(&sock_counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	__u32 len = skb->len;
	bpf_map_update_elem(&sock_hash, &key, &len, 0);
	return skb->len;
}

char _license[] SEC("license") = "GPL";
unsigned int _version SEC("version") = 0x060c00;
