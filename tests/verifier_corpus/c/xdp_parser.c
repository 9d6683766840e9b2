// SPDX-License-Identifier: GPL-2.0
/* XDP packet parser: Ethernet, up to two VLAN tags, IPv4 (with options) or IPv6 (with up to
 * four extension headers), then TCP/UDP/ICMP. Counts packets per L4 protocol and per
 * destination port. Loops are bounded; the L4 step is a bpf-to-bpf call.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_VLAN 2
#define MAX_EXT 4

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct cursor {
	void *pos;
	void *end;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 256);
} proto_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);
	__type(value, __u64);
	__uint(max_entries, 1024);
} port_count SEC(".maps");

static __always_inline void bump_proto(__u32 proto)
{
	__u64 *c = bpf_map_lookup_elem(&proto_count, &proto);
	if (c)
		*c += 1;
}

static __noinline int count_port(__u16 port)
{
	__u64 one = 1, *c = bpf_map_lookup_elem(&port_count, &port);
	if (c) {
		__sync_fetch_and_add(c, 1);
		return 0;
	}
	return bpf_map_update_elem(&port_count, &port, &one, BPF_NOEXIST);
}

static __noinline int parse_l4(struct cursor *cur, __u8 proto)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = cur->pos;
		if ((void *)(th + 1) > cur->end)
			return XDP_DROP;
		if (th->doff < 5)
			return XDP_DROP;
		count_port(bpf_ntohs(th->dest));
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = cur->pos;
		if ((void *)(uh + 1) > cur->end)
			return XDP_DROP;
		count_port(bpf_ntohs(uh->dest));
	}
	bump_proto(proto);
	return XDP_PASS;
}

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
	struct cursor cur = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
	struct ethhdr *eth = cur.pos;
	__u16 proto;
	__u8 l4;

	if ((void *)(eth + 1) > cur.end)
		return XDP_DROP;
	proto = eth->h_proto;
	cur.pos = eth + 1;
#pragma unroll
	for (int i = 0; i < MAX_VLAN; i++) {
		struct vlan_hdr *vh = cur.pos;
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > cur.end)
			return XDP_DROP;
		proto = vh->proto;
		cur.pos = vh + 1;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = cur.pos;
		__u32 hlen;
		if ((void *)(iph + 1) > cur.end)
			return XDP_DROP;
		hlen = iph->ihl * 4;
		if (hlen < sizeof(*iph))
			return XDP_DROP;
		if (cur.pos + hlen > cur.end)
			return XDP_DROP;
		l4 = iph->protocol;
		cur.pos += hlen;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur.pos;
		if ((void *)(ip6 + 1) > cur.end)
			return XDP_DROP;
		l4 = ip6->nexthdr;
		cur.pos = ip6 + 1;
		for (int i = 0; i < MAX_EXT; i++) {
			struct { __u8 next; __u8 len; } *ext = cur.pos;
			if (l4 != IPPROTO_HOPOPTS && l4 != IPPROTO_ROUTING && l4 != IPPROTO_DSTOPTS)
				break;
			if ((void *)(ext + 1) > cur.end)
				return XDP_DROP;
			l4 = ext->next;
			cur.pos += (ext->len + 1) * 8;
		}
	} else {
		return XDP_PASS;
	}
	return parse_l4(&cur, l4);
}

char LICENSE[] SEC("license") = "GPL";
