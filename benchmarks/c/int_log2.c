// SPDX-License-Identifier: MIT
/* int_log2: the sum of floor(log2(v >> r)) over n u64 values for r in [0, rounds)
 * (log2(0) counts as 0). Input: bench_header, then the values. Returns the sum.
 * Build: see build.sh */
#include "bench.h"

static __always_inline __u32 ilog2(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r;
}

SEC("xdp")
int int_log2(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_header *h;
	__u32 sum = 0, n, rounds, r, i;

	h = header_at(data, data_end);
	if (!h)
		return 0;
	n = h->n;
	rounds = h->rounds;
	for (r = bench_zero; r < rounds && can_loop; r++) {
		for (i = bench_zero; i < n && can_loop; i++) {
			__u64 *v = pkt_at(data, data_end, 8 + i * 8, 8);

			if (!v)
				break;
			sum += ilog2(*v >> (r & 63));
		}
	}
	return sum;
}

char LICENSE[] SEC("license") = "GPL";
