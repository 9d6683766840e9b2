// SPDX-License-Identifier: MIT
/* vm: a small register bytecode machine, dispatched by a switch in a loop. Eight u32
 * registers; r1 starts as the header's `rounds` (the argument), the others as 0. An
 * instruction is a little-endian u32: op | a << 8 | b << 16 | c << 24, with imm = b | c << 8
 * (16 bits, sign-extended where noted). Input: bench_header (n = instructions), then the
 * code. Returns r0 at HALT (or when pc leaves the code).
 * Build: see build.sh */
#include "bench.h"

enum op {
	OP_HALT,	/* return r0 */
	OP_LI,		/* ra = imm (zero-extended) */
	OP_MOV,		/* ra = rb */
	OP_ADD,		/* ra += rb */
	OP_SUB,		/* ra -= rb */
	OP_MUL,		/* ra *= rb */
	OP_XOR,		/* ra ^= rb */
	OP_SHR,		/* ra >>= imm & 31 */
	OP_ADDI,	/* ra += (s16)imm */
	OP_JNZ,		/* if ra != 0: pc = imm */
};

SEC("xdp")
int vm(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_header *h;
	__u32 regs[8] = {};
	__u32 n, pc = bench_zero;

	h = header_at(data, data_end);
	if (!h)
		return 0;
	n = h->n;
	regs[1] = h->rounds;
	while (pc < n && can_loop) {
		__u32 *word = pkt_at(data, data_end, 8 + pc * 4, 4);
		__u32 insn, a, b, imm;

		if (!word)
			break;
		insn = *word;
		a = (insn >> 8) & 7;
		b = (insn >> 16) & 7;
		imm = insn >> 16;
		pc++;
		switch (insn & 0xff) {
		case OP_HALT:
			return regs[0];
		case OP_LI:
			regs[a] = imm;
			break;
		case OP_MOV:
			regs[a] = regs[b];
			break;
		case OP_ADD:
			regs[a] += regs[b];
			break;
		case OP_SUB:
			regs[a] -= regs[b];
			break;
		case OP_MUL:
			regs[a] *= regs[b];
			break;
		case OP_XOR:
			regs[a] ^= regs[b];
			break;
		case OP_SHR:
			regs[a] >>= imm & 31;
			break;
		case OP_ADDI:
			regs[a] += (__s16)imm;
			break;
		case OP_JNZ:
			if (regs[a])
				pc = imm;
			break;
		default:
			return -1;
		}
	}
	return regs[0];
}

char LICENSE[] SEC("license") = "GPL";
