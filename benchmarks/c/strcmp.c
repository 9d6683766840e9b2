// SPDX-License-Identifier: MIT
/* strcmp: compare n pairs of NUL-terminated strings, each in a 32-byte slot (a pair is
 * 64 bytes), rounds times. Each comparison is strcmp() on unsigned bytes: the difference
 * of the first differing bytes, or 0. Input: bench_header, then the pairs. Returns
 * acc = acc * 31 + (u32)cmp over all comparisons.
 * Build: see build.sh */
#include "bench.h"

#define SLOT 32

static __always_inline int compare(void *data, void *data_end, __u32 a, __u32 b)
{
	__u32 k;

	for (k = bench_zero; k < SLOT && can_loop; k++) {
		__u8 *ca = pkt_at(data, data_end, a + k, 1);
		__u8 *cb = pkt_at(data, data_end, b + k, 1);

		if (!ca || !cb)
			return 0;
		if (*ca != *cb)
			return (int)*ca - (int)*cb;
		if (*ca == 0)
			return 0;
	}
	return 0;
}

SEC("xdp")
int bench_strcmp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_header *h;
	__u32 n, rounds, r, i, acc = 0;

	h = header_at(data, data_end);
	if (!h)
		return 0;
	n = h->n;
	rounds = h->rounds;
	for (r = bench_zero; r < rounds && can_loop; r++) {
		for (i = bench_zero; i < n && can_loop; i++) {
			__u32 a = 8 + i * 2 * SLOT;

			acc = acc * 31 + (__u32)compare(data, data_end, a, a + SLOT);
		}
	}
	return acc;
}

char LICENSE[] SEC("license") = "GPL";
