// SPDX-License-Identifier: GPL-2.0
/* XDP firewall and counter.
 *
 * Drops IPv4/IPv6 packets whose source address is in `blocked_v4`/`blocked_v6`, drops
 * TCP/UDP packets to a destination port listed in `blocked_ports`, passes the rest, and
 * counts packets and bytes per verdict (per CPU) and per IPv4 source (LRU hash).
 * Build: see ../build.sh
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

enum verdict { V_PASS, V_DROP_SRC, V_DROP_PORT, V_MALFORMED, V_MAX };

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, V_MAX);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);            /* IPv4 source, network order */
	__type(value, __u8);
	__uint(max_entries, 4096);
} blocked_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct in6_addr);
	__type(value, __u8);
	__uint(max_entries, 1024);
} blocked_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);            /* destination port, host order */
	__type(value, __u8);
	__uint(max_entries, 256);
} blocked_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, 1024);
} per_source SEC(".maps");

static __always_inline int account(struct xdp_md *ctx, __u32 verdict)
{
	struct counter *c = bpf_map_lookup_elem(&stats, &verdict);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return verdict == V_PASS ? XDP_PASS : XDP_DROP;
}

static __always_inline int port_blocked(void *l4, void *data_end, __u8 proto)
{
	__u16 port;

	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > data_end)
			return -1;
		port = bpf_ntohs(tcp->dest);
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > data_end)
			return -1;
		port = bpf_ntohs(udp->dest);
	} else {
		return 0;
	}
	return bpf_map_lookup_elem(&blocked_ports, &port) != NULL;
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	int blocked;

	if ((void *)(eth + 1) > data_end)
		return account(ctx, V_MALFORMED);

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		struct counter *src, fresh = {};

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return account(ctx, V_MALFORMED);
		src = bpf_map_lookup_elem(&per_source, &ip->saddr);
		if (!src) {
			bpf_map_update_elem(&per_source, &ip->saddr, &fresh, BPF_NOEXIST);
			src = bpf_map_lookup_elem(&per_source, &ip->saddr);
		}
		if (src) {
			__sync_fetch_and_add(&src->packets, 1);
			__sync_fetch_and_add(&src->bytes, data_end - data);
		}
		if (bpf_map_lookup_elem(&blocked_v4, &ip->saddr))
			return account(ctx, V_DROP_SRC);
		blocked = port_blocked((void *)ip + ip->ihl * 4, data_end, ip->protocol);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return account(ctx, V_MALFORMED);
		if (bpf_map_lookup_elem(&blocked_v6, &ip6->saddr))
			return account(ctx, V_DROP_SRC);
		blocked = port_blocked(ip6 + 1, data_end, ip6->nexthdr);
	} else {
		return account(ctx, V_PASS);
	}
	if (blocked < 0)
		return account(ctx, V_MALFORMED);
	return account(ctx, blocked ? V_DROP_PORT : V_PASS);
}

char LICENSE[] SEC("license") = "GPL";
