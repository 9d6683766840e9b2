// SPDX-License-Identifier: MIT
/* sort: copy n u32 from the input area to the output area that follows it and sort them
 * there in place by insertion sort, rounds times (every round starts from the input, so
 * repeated runs do the same work). Input: bench_header, in[n], out[n]. Returns
 * sum(out[i] * (i + 1)) over the sorted output, which is in the output packet.
 * Build: see build.sh */
#include "bench.h"

#define AT(i) ((__u32 *)pkt_at(data, data_end, (i) * 4, 4))

SEC("xdp")
int sort(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_header *h;
	__u32 n, rounds, r, i, j, out, sum = 0;

	h = header_at(data, data_end);
	if (!h)
		return 0;
	n = h->n;
	rounds = h->rounds;
	out = 2 + n;	/* in u32 units: the header is two */
	for (r = bench_zero; r < rounds && can_loop; r++) {
		for (i = bench_zero; i < n && can_loop; i++) {
			__u32 *s = AT(2 + i), *d = AT(out + i);

			if (!s || !d)
				return 0;
			*d = *s;
		}
		for (i = bench_zero + 1; i < n && can_loop; i++) {
			__u32 *p = AT(out + i), x;

			if (!p)
				return 0;
			x = *p;
			for (j = i; j > 0 && can_loop; j--) {
				__u32 *prev, *cur;

				opaque(j);	/* keeps clang from deriving constant-start counters */
				prev = AT(out + j - 1);
				cur = AT(out + j);
				if (!prev || !cur)
					return 0;
				if (*prev <= x)
					break;
				*cur = *prev;
			}
			p = AT(out + j);
			if (!p)
				return 0;
			*p = x;
		}
	}
	for (i = bench_zero; i < n && can_loop; i++) {
		__u32 *p = AT(out + i);

		if (!p)
			return 0;
		sum += *p * (i + 1);
	}
	return sum;
}

char LICENSE[] SEC("license") = "GPL";
