// SPDX-License-Identifier: MIT
/* sha256: the SHA-256 compression function (FIPS 180-4) over n 64-byte blocks that the
 * caller has already padded, rounds times (each round starts again from the initial hash
 * value, so repeated runs do the same work). The 64 rounds, with the message schedule in
 * a ring of 16 words, run as 8 iterations of 8 written-out rounds: about 1,000
 * instructions, the suite's large program (its compile cost is measured too). Input: bench_header, the n blocks, 32 bytes for the
 * digest, which the program writes big-endian. Returns the digest's first word.
 * Build: see build.sh */
#include "bench.h"

static const __u32 K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static __always_inline __u32 load_be32(const __u8 *p)
{
	return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

/* One round (i is a multiple of 8 plus a constant). */
#define ROUND(i)								\
	do {									\
		__u32 t1, t2;							\
		if ((i) >= 16) {	/* the message schedule, a ring of 16 words */	\
			__u32 w15 = w[((i) - 15) & 15], w2 = w[((i) - 2) & 15];	\
			__u32 s0 = ROTR(w15, 7) ^ ROTR(w15, 18) ^ (w15 >> 3);	\
			__u32 s1 = ROTR(w2, 17) ^ ROTR(w2, 19) ^ (w2 >> 10);	\
			w[(i) & 15] += s0 + w[((i) - 7) & 15] + s1;		\
		}								\
		t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) +		\
		     ((e & f) ^ (~e & g)) + K[i] + w[(i) & 15];			\
		t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) +			\
		     ((a & b) ^ (a & c) ^ (b & c));				\
		h = g; g = f; f = e; e = d + t1;				\
		d = c; c = b; b = a; a = t1 + t2;				\
	} while (0)
#define ROUND8(i)								\
	do {									\
		ROUND(i); ROUND((i) + 1); ROUND((i) + 2); ROUND((i) + 3);	\
		ROUND((i) + 4); ROUND((i) + 5); ROUND((i) + 6); ROUND((i) + 7);	\
	} while (0)

static __always_inline void compress(__u32 st[8], const __u8 *block)
{
	__u32 wbuf[16], *w = wbuf, a, b, c, d, e, f, g, h;
	int i;

	opaque(w);	/* keeps the schedule in memory: 16 more live values would not fit
			 * the 512-byte stack once the register allocator spills them */
#pragma unroll
	for (i = 0; i < 16; i++)
		w[i] = load_be32(block + 4 * i);
	a = st[0]; b = st[1]; c = st[2]; d = st[3];
	e = st[4]; f = st[5]; g = st[6]; h = st[7];
	for (i = 0; i < 64; i += 8)
		ROUND8(i);
	st[0] += a; st[1] += b; st[2] += c; st[3] += d;
	st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

SEC("xdp")
int sha256(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_header *h;
	__u32 st[8] = {}, n, rounds, r, i;
	__u8 *out;

	h = header_at(data, data_end);
	if (!h)
		return 0;
	n = h->n;
	rounds = h->rounds;
	for (r = bench_zero; r < rounds && can_loop; r++) {
		st[0] = 0x6a09e667; st[1] = 0xbb67ae85; st[2] = 0x3c6ef372; st[3] = 0xa54ff53a;
		st[4] = 0x510e527f; st[5] = 0x9b05688c; st[6] = 0x1f83d9ab; st[7] = 0x5be0cd19;
		for (i = bench_zero; i < n && can_loop; i++) {
			__u8 *block = pkt_at(data, data_end, 8 + i * 64, 64);

			if (!block)
				return 0;
			compress(st, block);
		}
	}
	out = pkt_at(data, data_end, 8 + n * 64, 32);
	if (!out)
		return 0;
#pragma unroll
	for (i = 0; i < 8; i++) {
		out[4 * i] = st[i] >> 24;
		out[4 * i + 1] = st[i] >> 16;
		out[4 * i + 2] = st[i] >> 8;
		out[4 * i + 3] = st[i];
	}
	return st[0];
}

char LICENSE[] SEC("license") = "GPL";
