// SPDX-License-Identifier: GPL-2.0
/* A small learning L2 switch in XDP: a software switch programmable in eBPF.
 *
 * Attach to every port. On each frame the switch learns source MAC -> ingress port in
 * `fdb`, then forwards: a known unicast destination goes out of its port through
 * bpf_redirect_map() on the `ports` devmap (keyed by port ifindex); broadcast, multicast
 * and unknown destinations are flooded to every other port (BPF_F_BROADCAST |
 * BPF_F_EXCLUDE_INGRESS). Frames for a port's own interface are dropped (hairpin).
 * Build: see ../build.sh
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct mac {
	__u8 addr[ETH_ALEN];
};

struct fdb_entry {
	__u32 ifindex;
	__u32 pad;
	__u64 last_seen_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct mac);
	__type(value, struct fdb_entry);
	__uint(max_entries, 4096);
} fdb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);      /* port ifindex */
	__type(value, __u32);    /* egress ifindex */
	__uint(max_entries, 64);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);  /* 0 forwarded, 1 flooded, 2 hairpin-dropped, 3 learned */
} switch_stats SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&switch_stats, &idx);

	if (v)
		*v += 1;
}

SEC("xdp")
int l2_switch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct fdb_entry entry = {}, *dst;
	__u32 in_port = ctx->ingress_ifindex;
	struct mac src, dmac;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(src.addr, eth->h_source, ETH_ALEN);
	__builtin_memcpy(dmac.addr, eth->h_dest, ETH_ALEN);

	if (!(src.addr[0] & 1)) {
		struct fdb_entry *known = bpf_map_lookup_elem(&fdb, &src);

		if (!known || known->ifindex != in_port) {
			entry.ifindex = in_port;
			entry.last_seen_ns = bpf_ktime_get_ns();
			bpf_map_update_elem(&fdb, &src, &entry, BPF_ANY);
			count(3);
		} else {
			known->last_seen_ns = bpf_ktime_get_ns();
		}
	}

	if (!(dmac.addr[0] & 1)) {
		dst = bpf_map_lookup_elem(&fdb, &dmac);
		if (dst) {
			if (dst->ifindex == in_port) {
				count(2);
				return XDP_DROP;
			}
			count(0);
			return bpf_redirect_map(&ports, dst->ifindex, XDP_DROP);
		}
	}
	count(1);
	return bpf_redirect_map(&ports, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
}

char LICENSE[] SEC("license") = "GPL";
