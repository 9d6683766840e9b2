/* Shared by the benchmark programs in benchmarks/c.
 *
 * Every program is an XDP program whose input is the packet: a fixed-size layout the
 * Python side builds (benchmarks/pybpf_bench/inputs.py), so the same object runs on
 * pybpf's interpreter and JIT and in the kernel through BPF_PROG_TEST_RUN. The same
 * source also compiles for the host with gcc: benchmarks/c/native/ shadows the libbpf and
 * UAPI headers (see native_shim.h), and there can_loop is simply true.
 */
#ifndef PYBPF_BENCH_H
#define PYBPF_BENCH_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef can_loop
/* True until the kernel's loop budget runs out: the `may_goto` instruction (Linux 6.9+,
 * assembled by clang >= 19) jumps to `out` once the per-program counter is exhausted.
 * Lets the verifier accept loops whose trip count it cannot bound. */
#define can_loop                                                     \
	({                                                           \
		__label__ out, go;                                   \
		int keep_going = 1;                                  \
		asm volatile goto("may_goto %l[out]" :::: out);     \
		goto go;                                             \
	out:                                                         \
		keep_going = 0;                                      \
	go:                                                          \
		keep_going;                                          \
	})
#endif

/* A zero the verifier cannot see through (a global read at run time). Loop counters that
 * start from it are not constants to the verifier, so they stay imprecise and may_goto
 * loops converge, instead of the verifier walking every iteration with exact values. */
volatile __u32 bench_zero;

/* Hide a value from the optimiser so that a bounds check on it stays in the code (the
 * verifier needs the check; clang would drop it when it can prove it redundant). */
#define opaque(x) asm volatile("" : "+r"(x))

/* Largest packet offset a program reads at (the kernel's XDP test frames are smaller). */
#define PKT_LIMIT 4096

/* `size` bytes at data + off, or NULL past data_end. Every variable-offset packet access
 * needs a check of its own: the verifier gives a packet pointer plus a variable a range
 * of zero until that pointer is compared with data_end again, and it only accepts the
 * sum when the variable is bounded (the PKT_LIMIT test, kept by opaque()). */
static __always_inline void *pkt_at(void *data, void *data_end, __u32 off, __u32 size)
{
	void *p;

	opaque(off);
	if (off > PKT_LIMIT)
		return 0;
	p = data + off;
	if (p + size > data_end)
		return 0;
	return p;
}

/* Every input starts with these two words; the payload follows at offset 8. */
struct bench_header {
	__u32 n;	/* elements to process */
	__u32 rounds;	/* passes over them */
};

/* The header at the start of the packet, or NULL when the packet is shorter. For the
 * caller's `if (!h)` clang tests the 32-bit ctx->data for zero (`if w2 == 0`): sound
 * because no packet address has its low 32 bits all zero, in the kernel or in pybpf. */
static __always_inline struct bench_header *header_at(void *data, void *data_end)
{
	struct bench_header *h = data;

	if ((void *)(h + 1) > data_end)
		return 0;
	return h;
}

#endif
