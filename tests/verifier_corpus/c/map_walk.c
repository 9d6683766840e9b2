// SPDX-License-Identifier: GPL-2.0
/* bpf_for_each_map_elem in a real program: a tc program that walks a hash map of flow
 * counters and an array of thresholds, summing the counters above their threshold, and
 * stops early when a budget is exhausted. Loaded with BTF func info (callbacks need it).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct bpf_map;

struct flow_key {
	__u32 saddr;
	__u32 daddr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, __u64);
	__uint(max_entries, 128);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} thresholds SEC(".maps");

struct walk_ctx {
	__u64 threshold;
	__u64 total;
	__u32 seen;
	__u32 budget;
};

static long sum_flow(struct bpf_map *map, struct flow_key *key, __u64 *packets,
		     struct walk_ctx *w)
{
	if (w->seen >= w->budget)
		return 1;
	w->seen++;
	if (*packets > w->threshold && key->saddr != key->daddr)
		w->total += *packets;
	return 0;
}

static long max_threshold(struct bpf_map *map, __u32 *key, __u64 *value,
			  struct walk_ctx *w)
{
	if (*key < 8 && *value > w->threshold)
		w->threshold = *value;
	return 0;
}

SEC("tc")
int tc_map_walk(struct __sk_buff *skb)
{
	struct walk_ctx w = { .budget = 32 };

	bpf_for_each_map_elem(&thresholds, max_threshold, &w, 0);
	bpf_for_each_map_elem(&flows, sum_flow, &w, 0);
	skb->mark = (__u32)w.total;
	return w.total > 1000000 ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
