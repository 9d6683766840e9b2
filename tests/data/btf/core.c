/* CO-RE relocations of every kind, against kernel types defined locally (no vmlinux.h).
 * Each program exercises one relocation kind; tests relocate this object against
 * /sys/kernel/btf/vmlinux and against core_target.o. Build: see build.sh. */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __core __attribute__((preserve_access_index))

/* enum bpf_field_info_kind / bpf_type_id_kind / bpf_type_info_kind / bpf_enum_value_kind */
#define FIELD_BYTE_OFFSET 0
#define FIELD_BYTE_SIZE 1
#define FIELD_EXISTS 2
#define FIELD_SIGNED 3
#define FIELD_LSHIFT_U64 4
#define FIELD_RSHIFT_U64 5
#define TYPE_ID_LOCAL 0
#define TYPE_ID_TARGET 1
#define TYPE_EXISTS 0
#define TYPE_SIZE 1
#define TYPE_MATCHES 2
#define ENUMVAL_EXISTS 0
#define ENUMVAL_VALUE 1

#define field_info(expr, kind) __builtin_preserve_field_info(expr, kind)
#define type_info(type, kind) __builtin_preserve_type_info(*(typeof(type) *)0, kind)
#define type_id(type, kind) __builtin_btf_type_id(*(typeof(type) *)0, kind)
#define enum_value(type, value, kind) __builtin_preserve_enum_value(*(typeof(type) *)value, kind)

struct task_struct___local {
	int pid;
	int tgid;
	char comm[16];
	unsigned long long flags; /* u32 in the kernel: the load is narrowed */
	struct task_struct___local *real_parent;
	unsigned int pybpf_missing; /* not in the kernel: poisoned unless guarded */
} __core;

struct task_struct___signed {
	long long pid; /* int in the kernel: a signed narrowing load is poisoned */
} __core;

/* sk_buff: next/dev live in anonymous unions/structs, protocol in a struct_group */
struct sk_buff___local {
	struct sk_buff___local *next;
	void *dev;
	unsigned int len;
	__u16 protocol;
	__u8 cloned : 1;
	__u8 pkt_type : 3;
} __core;

struct list_head___ok {
	struct list_head___ok *next, *prev;
};

struct list_head___bad {
	int next;
};

struct pybpf_no_such_type {
	int x;
};

enum bpf_map_type___local {
	BPF_MAP_TYPE_RINGBUF___local = 0,
	BPF_MAP_TYPE_PYBPF_NOPE___local = 1,
};

SEC("tp/pid")
int read_pid(void *ctx)
{
	struct task_struct___local *t = ctx;
	return t->pid;
}

SEC("tp/comm")
int read_comm(void *ctx)
{
	struct task_struct___local *t = ctx;
	return t->comm[3];
}

SEC("tp/flags")
int read_flags(void *ctx)
{
	struct task_struct___local *t = ctx;
	return t->flags;
}

SEC("tp/parent")
int read_parent_tgid(void *ctx)
{
	struct task_struct___local *t = ctx;
	return t->real_parent->tgid;
}

SEC("tp/missing")
int read_missing(void *ctx)
{
	struct task_struct___local *t = ctx;
	if (field_info(t->pybpf_missing, FIELD_EXISTS))
		return t->pybpf_missing;
	return -1;
}

SEC("tp/signed")
int read_signed(void *ctx)
{
	struct task_struct___signed *t = ctx;
	return t->pid;
}

SEC("tc/anon")
int read_skb(void *ctx)
{
	struct sk_buff___local *skb = ctx;
	return (long)skb->next + (long)skb->dev + skb->len + skb->protocol;
}

SEC("tc/bitfield")
int read_bitfield(void *ctx)
{
	struct sk_buff___local *skb = ctx;
	unsigned long long v;
	const void *p = (const void *)skb + field_info(skb->pkt_type, FIELD_BYTE_OFFSET);

	switch (field_info(skb->pkt_type, FIELD_BYTE_SIZE)) {
	case 1: v = *(const __u8 *)p; break;
	case 2: v = *(const __u16 *)p; break;
	case 4: v = *(const __u32 *)p; break;
	default: v = *(const __u64 *)p; break;
	}
	v <<= field_info(skb->pkt_type, FIELD_LSHIFT_U64);
	if (field_info(skb->pkt_type, FIELD_SIGNED))
		return ((long long)v) >> field_info(skb->pkt_type, FIELD_RSHIFT_U64);
	return v >> field_info(skb->pkt_type, FIELD_RSHIFT_U64);
}

SEC("tp/types")
int type_relos(void *ctx)
{
	int r = 0;

	r += type_info(struct task_struct___local, TYPE_EXISTS);
	r += type_info(struct pybpf_no_such_type, TYPE_EXISTS) * 2;
	r += type_info(struct task_struct___local, TYPE_SIZE);
	r += type_info(struct list_head___ok, TYPE_MATCHES) * 4;
	r += type_info(struct list_head___bad, TYPE_MATCHES) * 8;
	return r;
}

SEC("tp/ids")
long type_ids(void *ctx)
{
	return type_id(struct task_struct___local, TYPE_ID_LOCAL) * 1000000 +
	       type_id(struct task_struct___local, TYPE_ID_TARGET);
}

SEC("tp/enums")
long enum_relos(void *ctx)
{
	long r = 0;

	if (enum_value(enum bpf_map_type___local, BPF_MAP_TYPE_RINGBUF___local, ENUMVAL_EXISTS))
		r += enum_value(enum bpf_map_type___local, BPF_MAP_TYPE_RINGBUF___local, ENUMVAL_VALUE);
	if (enum_value(enum bpf_map_type___local, BPF_MAP_TYPE_PYBPF_NOPE___local, ENUMVAL_EXISTS))
		r += enum_value(enum bpf_map_type___local, BPF_MAP_TYPE_PYBPF_NOPE___local,
				ENUMVAL_VALUE);
	return r;
}

/* More shapes: a named nested struct, a char array, a flexible array, a 64-bit enum,
 * stores, a signed bitfield (core_target.o has one; the kernel does not). */
struct thread_info___local {
	unsigned long flags;
} __core;

struct task_struct___nest {
	struct thread_info___local thread_info;
	unsigned int sched_migrated : 1;
	int pid;
} __core;

struct sk_buff___cb {
	char cb[48];
} __core;

struct cgroup___local {
	int level;
	struct cgroup___local *ancestors[];
} __core;

enum blake2b_iv___local {
	BLAKE2B_IV1___local = 1ULL << 40,
};

struct sbits___local {
	int val : 5;
} __core;

SEC("tp/nested")
long read_nested(void *ctx)
{
	struct task_struct___nest *t = ctx;
	return t->thread_info.flags;
}

SEC("tp/task_bitfield")
long read_task_bitfield(void *ctx)
{
	struct task_struct___nest *t = ctx;
	unsigned long long v = *(unsigned int *)((void *)t +
		field_info(t->sched_migrated, FIELD_BYTE_OFFSET));

	v <<= field_info(t->sched_migrated, FIELD_LSHIFT_U64);
	return v >> field_info(t->sched_migrated, FIELD_RSHIFT_U64);
}

SEC("tc/cb")
long read_cb(void *ctx)
{
	struct sk_buff___cb *skb = ctx;
	return skb->cb[5] + field_info(skb->cb, FIELD_BYTE_SIZE);
}

SEC("tp/flex")
long read_flex(void *ctx)
{
	struct cgroup___local *cg = ctx;
	return (long)cg->ancestors[2] + cg->level;
}

SEC("tp/enum64")
long read_enum64(void *ctx)
{
	return enum_value(enum blake2b_iv___local, BLAKE2B_IV1___local, ENUMVAL_VALUE);
}

SEC("tp/store")
int store_pid(void *ctx)
{
	struct task_struct___nest *t = ctx;
	t->pid = 7;
	t->thread_info.flags = (unsigned long)ctx;
	return field_info(t->pid, FIELD_EXISTS);
}

SEC("tp/sbits")
long read_sbits(void *ctx)
{
	struct sbits___local *s = ctx;
	unsigned long long v = *(unsigned int *)((void *)s + field_info(s->val, FIELD_BYTE_OFFSET));

	v <<= field_info(s->val, FIELD_LSHIFT_U64);
	if (field_info(s->val, FIELD_SIGNED))
		return ((long long)v) >> field_info(s->val, FIELD_RSHIFT_U64);
	return v >> field_info(s->val, FIELD_RSHIFT_U64);
}

char LICENSE[] SEC("license") = "GPL";
