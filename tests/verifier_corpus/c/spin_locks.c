// SPDX-License-Identifier: GPL-2.0
/* bpf_spin_lock in map values, loaded WITH BTF as libbpf loads them (the lock is found in
 * the value's BTF). One program per case of cases/global_funcs.toml (spin_* cases).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counter {
	struct bpf_spin_lock lock;
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, 4);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, 16);
} hcounters SEC(".maps");

struct plain {
	__u64 packets;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct plain);
	__uint(max_entries, 4);
} plains SEC(".maps");

struct bpf_spin_lock glock SEC(".bss.lock");
__u64 gcount SEC(".bss.lock");

static __noinline int add_locked(struct counter *c, __u64 len)
{
	c->packets++;
	c->bytes += len;
	return 0;
}

__noinline int gf_add_locked(struct counter *c)
{
	if (!c)
		return 0;
	c->packets++;
	return 1;
}

/* accept: lock, update, unlock */
SEC("xdp")
int spin_ok(struct xdp_md *ctx)
{
	__u32 key = ctx->rx_queue_index & 3;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);

	if (!c)
		return XDP_PASS;
	bpf_spin_lock(&c->lock);
	c->packets++;
	c->bytes += ctx->data_end - ctx->data;
	bpf_spin_unlock(&c->lock);
	return XDP_PASS;
}

/* accept: a hash map value */
SEC("tc")
int spin_hash_ok(struct __sk_buff *skb)
{
	__u32 key = skb->mark;
	struct counter *c = bpf_map_lookup_elem(&hcounters, &key);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	c->packets++;
	bpf_spin_unlock(&c->lock);
	return 0;
}

/* reject: the lock is never released */
SEC("xdp")
int spin_no_unlock(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);

	if (!c)
		return XDP_PASS;
	bpf_spin_lock(&c->lock);
	c->packets++;
	return XDP_PASS;
}

/* reject: a helper call while holding the lock */
SEC("xdp")
int spin_helper_inside(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);

	if (!c)
		return XDP_PASS;
	bpf_spin_lock(&c->lock);
	c->packets = bpf_ktime_get_ns();
	bpf_spin_unlock(&c->lock);
	return XDP_PASS;
}

/* reject: locking twice */
SEC("xdp")
int spin_twice(struct xdp_md *ctx)
{
	__u32 key = 0, key2 = 1;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);
	struct counter *d = bpf_map_lookup_elem(&counters, &key2);

	if (!c || !d)
		return XDP_PASS;
	bpf_spin_lock(&c->lock);
	bpf_spin_lock(&d->lock);
	bpf_spin_unlock(&d->lock);
	bpf_spin_unlock(&c->lock);
	return XDP_PASS;
}

/* reject: unlocking another value's lock */
SEC("xdp")
int spin_unlock_other(struct xdp_md *ctx)
{
	__u32 key = 0, key2 = 1;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);
	struct counter *d = bpf_map_lookup_elem(&counters, &key2);

	if (!c || !d)
		return XDP_PASS;
	bpf_spin_lock(&c->lock);
	c->packets++;
	bpf_spin_unlock(&d->lock);
	return XDP_PASS;
}

/* reject: the lock read directly */
SEC("xdp")
int spin_direct_access(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);

	if (!c)
		return XDP_PASS;
	return *(volatile __u32 *)&c->lock & 1;
}

/* reject: a map without a bpf_spin_lock */
SEC("xdp")
int spin_no_lock_in_value(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct plain *p = bpf_map_lookup_elem(&plains, &key);

	if (!p)
		return XDP_PASS;
	bpf_spin_lock((struct bpf_spin_lock *)p);
	bpf_spin_unlock((struct bpf_spin_lock *)p);
	return XDP_PASS;
}

/* reject: the lock's address is wrong */
SEC("xdp")
int spin_wrong_offset(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);

	if (!c)
		return XDP_PASS;
	bpf_spin_lock((struct bpf_spin_lock *)&c->packets);
	bpf_spin_unlock((struct bpf_spin_lock *)&c->packets);
	return XDP_PASS;
}

/* accept: a static function called while holding the lock */
SEC("xdp")
int spin_static_call(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);

	if (!c)
		return XDP_PASS;
	bpf_spin_lock(&c->lock);
	add_locked(c, ctx->data_end - ctx->data);
	bpf_spin_unlock(&c->lock);
	return XDP_PASS;
}

/* reject: a global function called while holding the lock */
SEC("xdp")
int spin_global_call(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);
	int r;

	if (!c)
		return XDP_PASS;
	bpf_spin_lock(&c->lock);
	r = gf_add_locked(c);
	bpf_spin_unlock(&c->lock);
	return r ? XDP_PASS : XDP_DROP;
}

/* accept: a lock in .bss (a global variable) */
SEC("xdp")
int spin_global_var(struct xdp_md *ctx)
{
	bpf_spin_lock(&glock);
	gcount++;
	bpf_spin_unlock(&glock);
	return XDP_PASS;
}

/* reject: socket filters may not use spin locks */
SEC("socket")
int spin_socket_filter(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	c->packets++;
	bpf_spin_unlock(&c->lock);
	return 0;
}

/* reject: exit with the lock held on one path */
SEC("xdp")
int spin_exit_one_path(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);

	if (!c)
		return XDP_PASS;
	bpf_spin_lock(&c->lock);
	if (c->packets > 10)
		return XDP_DROP;
	c->packets++;
	bpf_spin_unlock(&c->lock);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
