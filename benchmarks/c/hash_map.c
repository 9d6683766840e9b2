// SPDX-License-Identifier: MIT
/* hash_map: updates then lookups in a hash map. Each round stores value i under key
 * keys[i] for the first half of the n u32 keys (bpf_map_update_elem, BPF_ANY), then looks
 * up each key of the second half (bpf_map_lookup_elem). Input: bench_header, keys[n].
 * Returns the sum of the values found plus 0x10000 per miss, over all rounds.
 * Build: see build.sh */
#include "bench.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

SEC("xdp")
int hash_map(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_header *h;
	__u32 n, half, rounds, r, i, acc = 0;

	h = header_at(data, data_end);
	if (!h)
		return 0;
	n = h->n;
	half = n / 2;
	rounds = h->rounds;
	for (r = bench_zero; r < rounds && can_loop; r++) {
		for (i = bench_zero; i < half && can_loop; i++) {
			__u32 *p = pkt_at(data, data_end, 8 + i * 4, 4), key;
			__u64 value = i;

			if (!p)
				break;
			key = *p;
			bpf_map_update_elem(&table, &key, &value, BPF_ANY);
		}
		for (i = half; i < n && can_loop; i++) {
			__u32 *p = pkt_at(data, data_end, 8 + i * 4, 4), key;
			__u64 *value;

			if (!p)
				break;
			key = *p;
			value = bpf_map_lookup_elem(&table, &key);
			acc += value ? (__u32)*value : 0x10000;
		}
	}
	return acc;
}

char LICENSE[] SEC("license") = "GPL";
