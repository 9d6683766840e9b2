// SPDX-License-Identifier: MIT
/* memcpy: copy n bytes from the source area to the destination area that follows it,
 * rounds times: 64-byte blocks of eight u64 moves (one bounds check per block and side),
 * then the tail byte by byte. Input: bench_header, src[n], dst[n]. Returns the number of
 * bytes copied over all rounds; the copy itself is in the output packet.
 * Build: see build.sh */
#include "bench.h"

#define BLOCK 64

SEC("xdp")
int bench_memcpy(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_header *h;
	__u32 n, rounds, r, off, copied = 0;

	h = header_at(data, data_end);
	if (!h)
		return 0;
	n = h->n;
	rounds = h->rounds;
	for (r = bench_zero; r < rounds && can_loop; r++) {
		for (off = bench_zero; off + BLOCK <= n && can_loop; off += BLOCK) {
			__u64 *s = pkt_at(data, data_end, 8 + off, BLOCK);
			__u64 *d = pkt_at(data, data_end, 8 + n + off, BLOCK);

			if (!s || !d)
				return copied;
			d[0] = s[0]; d[1] = s[1]; d[2] = s[2]; d[3] = s[3];
			d[4] = s[4]; d[5] = s[5]; d[6] = s[6]; d[7] = s[7];
			copied += BLOCK;
		}
		for (; off < n && can_loop; off++) {
			__u8 *s = pkt_at(data, data_end, 8 + off, 1);
			__u8 *d = pkt_at(data, data_end, 8 + n + off, 1);

			if (!s || !d)
				return copied;
			*d = *s;
			copied++;
		}
	}
	return copied;
}

char LICENSE[] SEC("license") = "GPL";
