/* BTF-defined maps and helper calls: lookup, update, delete, time, random numbers. */
#include "bpf_defs.h"

struct flow_key { __u32 saddr; __u32 daddr; __u16 sport; __u16 dport; };
struct flow_stats { __u64 packets; __u64 bytes; __u64 last_seen; };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} config SEC(".maps");

SEC("tc")
int account(struct __sk_buff *skb)
{
	struct flow_key key = {};
	struct flow_stats *stats, fresh = {};
	__u32 idx = 0;
	__u64 *limit;

	if (bpf_skb_load_bytes(skb, 26, &key, 12) < 0)
		return 0;
	stats = bpf_map_lookup_elem(&flows, &key);
	if (!stats) {
		fresh.packets = 1;
		fresh.bytes = skb->len;
		fresh.last_seen = bpf_ktime_get_ns();
		bpf_map_update_elem(&flows, &key, &fresh, BPF_ANY);
		return 0;
	}
	stats->packets++;
	stats->bytes += skb->len;
	stats->last_seen = bpf_ktime_get_ns();
	limit = bpf_map_lookup_elem(&config, &idx);
	if (limit && stats->bytes > *limit) {
		bpf_map_delete_elem(&flows, &key);
		return 2;
	}
	return (bpf_get_prandom_u32() % 100) < 5 ? 1 : 0;
}

SEC("tc")
int sample(struct __sk_buff *skb)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 *slot = bpf_map_lookup_elem(&config, &cpu);
	if (!slot)
		return -1;
	*slot = skb->len | ((__u64)cpu << 32);
	return 0;
}

char _license[] SEC("license") = "GPL";
