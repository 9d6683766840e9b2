// SPDX-License-Identifier: MIT
/* array_map: a histogram in an array map. Each round zeroes the 64 counters, then for
 * each of the n key bytes looks up counter key & 63 with bpf_map_lookup_elem and
 * increments it. Input: bench_header, then the key bytes. Returns
 * sum(k * counts[k]) after the last round; the map holds the histogram.
 * Build: see build.sh */
#include "bench.h"

#define SLOTS 64

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int array_map(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_header *h;
	__u32 n, rounds, r, i, k;
	__u64 sum = 0;

	h = header_at(data, data_end);
	if (!h)
		return 0;
	n = h->n;
	rounds = h->rounds;
	for (r = bench_zero; r < rounds && can_loop; r++) {
		for (k = bench_zero; k < SLOTS && can_loop; k++) {
			__u64 *c = bpf_map_lookup_elem(&counts, &k);

			if (c)
				*c = 0;
		}
		for (i = bench_zero; i < n && can_loop; i++) {
			__u8 *key = pkt_at(data, data_end, 8 + i, 1);
			__u64 *c;

			if (!key)
				break;
			k = *key & (SLOTS - 1);
			c = bpf_map_lookup_elem(&counts, &k);
			if (c)
				*c += 1;
		}
	}
	for (k = bench_zero; k < SLOTS && can_loop; k++) {
		__u64 *c = bpf_map_lookup_elem(&counts, &k);

		if (c)
			sum += k * *c;
	}
	return (__u32)sum;
}

char LICENSE[] SEC("license") = "GPL";
