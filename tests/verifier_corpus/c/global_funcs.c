// SPDX-License-Identifier: GPL-2.0
/* Global (non-static) functions, loaded WITH BTF as libbpf loads them: the kernel verifies
 * each global function once, on its own, from the argument types of its BTF prototype
 * (ctx pointers, scalars, pointers to sized memory that may be NULL), and a call to one only
 * checks the arguments and returns an unknown scalar. One program per case of
 * cases/global_funcs.toml; the comment above each says what the kernel should decide.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

/* Hides a value from the compiler, so that calls are not folded away. */
#define OPAQUE(x) asm volatile("" : "+r"(x))

#ifndef __arg_nullable
#define __arg_nullable __attribute((btf_decl_tag("arg:nullable")))
#endif

#ifndef __arg_nonnull
#define __arg_nonnull __attribute((btf_decl_tag("arg:nonnull")))
#endif

struct pair {
	__u32 a;
	__u32 b;
};

struct big {
	__u64 w[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct big);
	__uint(max_entries, 4);
} bigs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 2);
} jumps SEC(".maps");

/* --- the global functions ------------------------------------------------------------ */

__noinline int gf_ctx_queue(struct xdp_md *ctx)
{
	return ctx->rx_queue_index & 1;
}

__noinline int gf_add(int a, int b)
{
	return a + b;
}

__noinline int gf_sum_nullable(const __u32 *p)
{
	if (!p)
		return 0;
	return *p + 1;
}

__noinline int gf_deref(const __u32 *p)
{
	return *p;
}

__noinline int gf_deref_nonnull(const __u32 *p __arg_nonnull)
{
	return *p;
}

__noinline int gf_fill(struct big *b)
{
	if (!b)
		return -1;
	for (int i = 0; i < 8; i++)
		b->w[i] = i;
	return 0;
}

__noinline int gf_past_end(const __u32 *p)
{
	if (!p)
		return 0;
	return p[4];
}

__noinline int *gf_returns_ptr(int *p)
{
	OPAQUE(p);
	return p;
}

__noinline int gf_struct_arg(struct pair p)
{
	return p.a + p.b;
}

__noinline int gf_void_ptr(void *p)
{
	return p != 0;
}

__noinline int gf_leaf(int x)
{
	return x * 2;
}

__noinline int gf_middle(int x)
{
	return gf_leaf(x) + 1;
}

__noinline int gf_eth_proto(const struct ethhdr *eth)
{
	if (!eth)
		return 0;
	return eth->h_proto;
}

__noinline int gf_tail(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jumps, 0);
	return 0;
}

__noinline int gf_mask(int x)
{
	asm volatile("" ::: "memory");
	return x & 3;
}

static __noinline int sf_mask(int x)
{
	asm volatile("" ::: "memory");
	return x & 3;
}

__noinline int gf_use_map(__u32 key)
{
	struct big *b = bpf_map_lookup_elem(&bigs, &key);

	if (!b)
		return 0;
	return b->w[0] & 0xff;
}

__noinline int gf_div(int x)
{
	int y = 0;

	asm volatile("%[y] /= 0" : [y] "+r"(y));
	return x + y;
}

__noinline int gf_ret_fp(int x)
{
	asm volatile("if %[x] > 3 goto +2; r0 = r10; exit" : : [x] "r"(x) : "r0");
	return x;
}

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");

__noinline int gf_ld_abs(struct __sk_buff *skb)
{
	return load_byte(skb, 14) & 1;
}

__noinline void gf_void(__u32 *p)
{
	if (p)
		*p = 1;
}

__noinline int gf_adjust(struct xdp_md *ctx)
{
	return bpf_xdp_adjust_head(ctx, 0);
}

enum verdict { V_PASS = 2, V_DROP = 1 };

__noinline enum verdict gf_enum(enum verdict v)
{
	return v == V_DROP ? V_DROP : V_PASS;
}

__noinline int gf_big_stack(int x)
{
	volatile __u8 buf[300];

	for (int i = 0; i < 300; i += 60)
		buf[i] = x;
	return buf[x & 0xff];
}

static __noinline int sf_read(const __u32 *p)
{
	return *p + 1;
}

__noinline int gf_calls_static(int x)
{
	__u32 v = x;

	return sf_read(&v);
}

__noinline int gf_nullable(const __u32 *p __arg_nullable)
{
	return p ? *p : 0;
}

/* --- the programs -------------------------------------------------------------------- */

/* accept: a ctx argument */
SEC("xdp")
int ctx_arg(struct xdp_md *ctx)
{
	return gf_ctx_queue(ctx) + 1;
}

/* accept: scalar arguments */
SEC("xdp")
int scalar_args(struct xdp_md *ctx)
{
	return gf_add(ctx->rx_queue_index, 1) > 3 ? XDP_DROP : XDP_PASS;
}

/* accept: a stack pointer to a function that checks for NULL */
SEC("xdp")
int mem_arg_stack(struct xdp_md *ctx)
{
	__u32 v = ctx->ingress_ifindex;

	return gf_sum_nullable(&v) & 1;
}

/* accept: NULL itself is a valid pointer-to-memory argument */
SEC("xdp")
int mem_arg_null(struct xdp_md *ctx)
{
	const __u32 *p = 0;

	OPAQUE(p);
	return gf_sum_nullable(p) & 1;
}

/* reject: the global function dereferences its argument without a NULL check */
SEC("xdp")
int deref_maybe_null(struct xdp_md *ctx)
{
	__u32 v = 7;

	return gf_deref(&v) & 1;
}

/* accept: __arg_nonnull: no NULL check needed in the callee */
SEC("xdp")
int nonnull_tag(struct xdp_md *ctx)
{
	__u32 v = 7;

	return gf_deref_nonnull(&v) & 1;
}

/* reject: __arg_nonnull, the caller passes NULL */
SEC("xdp")
int nonnull_gets_null(struct xdp_md *ctx)
{
	const __u32 *p = 0;

	OPAQUE(p);
	return gf_deref_nonnull(p) & 1;
}

/* accept: a map value pointer to a function filling a struct */
SEC("xdp")
int mem_arg_map_value(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct big *b = bpf_map_lookup_elem(&bigs, &key);

	if (!b)
		return XDP_PASS;
	return gf_fill(b) ? XDP_DROP : XDP_PASS;
}

/* reject: a 4-byte stack variable for a 64-byte struct argument */
SEC("xdp")
int mem_arg_too_small(struct xdp_md *ctx)
{
	__u32 v = 0;

	return gf_fill((struct big *)&v) ? XDP_DROP : XDP_PASS;
}

/* accept (privileged): uninitialised stack memory passed to a global function */
SEC("xdp")
int mem_arg_uninit(struct xdp_md *ctx)
{
	struct big b;

	return gf_fill(&b) ? XDP_DROP : XDP_PASS;
}

/* reject: the global function reads past the end of its 4-byte argument */
SEC("xdp")
int callee_reads_past_end(struct xdp_md *ctx)
{
	__u32 v = 7;

	return gf_past_end(&v) & 1;
}

/* reject: a global function returning a pointer */
SEC("xdp")
int returns_pointer(struct xdp_md *ctx)
{
	int v = ctx->rx_queue_index;
	int *p = gf_returns_ptr(&v);

	return p ? *p & 1 : XDP_DROP;
}

/* reject: a struct passed by value */
SEC("xdp")
int struct_by_value(struct xdp_md *ctx)
{
	struct pair p = { .a = ctx->rx_queue_index, .b = 1 };

	return gf_struct_arg(p) & 1;
}

/* reject: void * has no size */
SEC("xdp")
int void_ptr_arg(struct xdp_md *ctx)
{
	__u32 v = 0;

	return gf_void_ptr(&v) & 1;
}

/* reject: a stack pointer where the prototype says ctx */
SEC("xdp")
int ctx_arg_wrong(struct xdp_md *ctx)
{
	__u32 v[8] = {};

	return gf_ctx_queue((struct xdp_md *)v) & 1;
}

/* reject: a pointer where the prototype says int */
SEC("xdp")
int scalar_arg_gets_pointer(struct xdp_md *ctx)
{
	__u32 v = 0;

	return gf_add((long)&v, 1) & 1;
}

/* accept: a global function calling a global function */
SEC("xdp")
int chain(struct xdp_md *ctx)
{
	return gf_middle(ctx->rx_queue_index) & 1;
}

/* accept: a packet pointer checked for 14 bytes, for a struct ethhdr argument */
SEC("xdp")
int packet_arg(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	return gf_eth_proto(eth) == 8 ? XDP_DROP : XDP_PASS;
}

/* reject: a packet pointer checked for only 6 bytes */
SEC("xdp")
int packet_arg_short(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	if (data + 6 > end)
		return XDP_PASS;
	return gf_eth_proto(data) == 8 ? XDP_DROP : XDP_PASS;
}

/* accept: with BTF, a tail call in a subprogram returning int is allowed */
SEC("tc")
int tail_in_global(struct __sk_buff *skb)
{
	return gf_tail(skb);
}

/* reject: the global function's result is an unknown scalar, not x & 3 */
SEC("xdp")
int result_unknown(struct xdp_md *ctx)
{
	volatile __u8 buf[4];

	buf[0] = ctx->rx_queue_index;
	buf[1] = buf[2] = buf[3] = 1;
	return buf[gf_mask(ctx->ingress_ifindex)];
}

/* accept: the same with a static function, whose result the caller knows */
SEC("xdp")
int result_known_static(struct xdp_md *ctx)
{
	volatile __u8 buf[4];

	buf[0] = ctx->rx_queue_index;
	buf[1] = buf[2] = buf[3] = 1;
	return buf[sf_mask(ctx->ingress_ifindex)];
}

/* accept: a map lookup inside the global function */
SEC("xdp")
int map_in_global(struct xdp_md *ctx)
{
	return gf_use_map(ctx->rx_queue_index) & 1;
}

/* accept: the same global function called twice is verified once */
SEC("xdp")
int called_twice(struct xdp_md *ctx)
{
	return (gf_add(1, 2) + gf_add(ctx->rx_queue_index, 3)) & 1;
}

/* reject: division by zero inside the global function */
SEC("xdp")
int callee_divides_by_zero(struct xdp_md *ctx)
{
	return gf_div(ctx->rx_queue_index) & 1;
}

/* reject: the global function returns the frame pointer on one path */
SEC("xdp")
int callee_returns_fp(struct xdp_md *ctx)
{
	return gf_ret_fp(ctx->rx_queue_index) & 1;
}

/* socket filter (for the unprivileged cases): a global function */
SEC("socket")
int sock_global(struct __sk_buff *skb)
{
	return gf_add(skb->len, 1) & 1;
}

/* socket filter without subprograms: only the main function's func info */
SEC("socket")
int sock_plain(struct __sk_buff *skb)
{
	return skb->len & 1;
}

/* accept: with BTF, LD_ABS in a global function returning int */
SEC("socket")
int ld_abs_in_global(struct __sk_buff *skb)
{
	return gf_ld_abs(skb);
}

/* reject: a global function returning void */
SEC("xdp")
int void_global(struct xdp_md *ctx)
{
	__u32 v = 0;

	gf_void(&v);
	return v & 1;
}

/* reject: the global function may change the packet, so the old packet pointer is gone */
SEC("xdp")
int pkt_changed_by_global(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *p = data;

	if ((void *)(p + 1) > end)
		return XDP_PASS;
	if (gf_adjust(ctx))
		return XDP_DROP;
	return *p & 1;
}

/* accept: enum argument and enum result */
SEC("xdp")
int enum_args(struct xdp_md *ctx)
{
	return gf_enum(ctx->rx_queue_index & 1 ? V_DROP : V_PASS);
}

/* reject: the context where the prototype says pointer to memory */
SEC("xdp")
int ctx_for_mem_arg(struct xdp_md *ctx)
{
	return gf_sum_nullable((const __u32 *)ctx) & 1;
}

/* reject: main's and the global function's stacks together exceed 512 bytes */
SEC("xdp")
int stack_main_plus_global(struct xdp_md *ctx)
{
	volatile __u8 buf[300];
	__u32 q = ctx->rx_queue_index;

	for (int i = 0; i < 300; i += 60)
		buf[i] = q;
	return (gf_big_stack(q) + buf[q & 0xff]) & 1;
}

/* accept: a global function calling a static one with a stack pointer */
SEC("xdp")
int global_calls_static(struct xdp_md *ctx)
{
	return gf_calls_static(ctx->rx_queue_index) & 1;
}

/* reject: __arg_nullable is only for trusted kernel pointers */
SEC("xdp")
int nullable_tag(struct xdp_md *ctx)
{
	__u32 v = ctx->rx_queue_index;

	return gf_nullable(&v) & 1;
}

char LICENSE[] SEC("license") = "GPL";
