// SPDX-License-Identifier: MIT
/* primes: count the primes below n by trial division (d * d <= x, x % d), rounds times.
 * Input: bench_header. Returns the count summed over the rounds.
 * Build: see build.sh */
#include "bench.h"

SEC("xdp")
int primes(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_header *h;
	__u32 n, rounds, r, x, d, count = 0;

	h = header_at(data, data_end);
	if (!h)
		return 0;
	n = h->n;
	rounds = h->rounds;
	for (r = bench_zero; r < rounds && can_loop; r++) {
		for (x = bench_zero + 2; x < n && can_loop; x++) {
			int prime = 1;

			for (d = bench_zero + 2; d * d <= x && can_loop; d++) {
				if (x % d == 0) {
					prime = 0;
					break;
				}
			}
			count += prime;
		}
	}
	return count;
}

char LICENSE[] SEC("license") = "GPL";
