// SPDX-License-Identifier: MIT
/* parse: parse the headers of a batch of frames stored back to back, rounds times.
 * A record is a little-endian u16 length and that many bytes of frame. Headers: Ethernet
 * (one 802.1Q tag is skipped), IPv4 (header length from ihl) or IPv6, then TCP or UDP.
 * Each frame folds its fields into a 32-bit FNV-style hash (mix() below):
 *   IPv4: saddr, daddr (as loaded), then TCP: ports (sport << 16 | dport), flags;
 *         UDP: ports, length; other: the protocol number
 *   IPv6: the last word of saddr, then TCP/UDP as above, other: the next header
 *   other EtherType: the EtherType; a frame too short for its headers: 0xbad.
 * Input: bench_header (n = records), then the records. Returns the hash.
 * Build: see build.sh */
#include "bench.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#define MALFORMED 0xbad

struct vlan_tag {
	__be16 tci;
	__be16 proto;	/* the encapsulated EtherType */
};

static __always_inline __u32 mix(__u32 h, __u32 v)
{
	return (h ^ v) * 0x01000193;
}

/* `size` bytes at `off` when they lie inside the frame ending at `end` (a packet offset). */
#define HDR(type, off, end) \
	((off) + sizeof(type) <= (end) ? (type *)pkt_at(data, data_end, (off), sizeof(type)) : 0)

static __always_inline __u32 parse_l4(void *data, void *data_end, __u32 h, __u8 proto,
				      __u32 off, __u32 end)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = HDR(struct tcphdr, off, end);

		if (!tcp)
			return mix(h, MALFORMED);
		h = mix(h, (__u32)bpf_ntohs(tcp->source) << 16 | bpf_ntohs(tcp->dest));
		return mix(h, ((__u8 *)tcp)[13]);
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = HDR(struct udphdr, off, end);

		if (!udp)
			return mix(h, MALFORMED);
		h = mix(h, (__u32)bpf_ntohs(udp->source) << 16 | bpf_ntohs(udp->dest));
		return mix(h, bpf_ntohs(udp->len));
	}
	return mix(h, proto);
}

static __always_inline __u32 parse_frame(void *data, void *data_end, __u32 h, __u32 off,
					 __u32 end)
{
	struct ethhdr *eth = HDR(struct ethhdr, off, end);
	__u16 proto;

	if (!eth)
		return mix(h, MALFORMED);
	proto = eth->h_proto;
	off += sizeof(*eth);
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_tag *tag = HDR(struct vlan_tag, off, end);

		if (!tag)
			return mix(h, MALFORMED);
		proto = tag->proto;
		off += sizeof(*tag);
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = HDR(struct iphdr, off, end);

		if (!ip || ip->ihl < 5)
			return mix(h, MALFORMED);
		h = mix(h, ip->saddr);
		h = mix(h, ip->daddr);
		return parse_l4(data, data_end, h, ip->protocol, off + ip->ihl * 4, end);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = HDR(struct ipv6hdr, off, end);

		if (!ip6)
			return mix(h, MALFORMED);
		h = mix(h, ip6->saddr.in6_u.u6_addr32[3]);
		return parse_l4(data, data_end, h, ip6->nexthdr, off + sizeof(*ip6), end);
	}
	return mix(h, bpf_ntohs(proto));
}

SEC("xdp")
int parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_header *hd;
	__u32 n, rounds, r, i, off, h = 0x811c9dc5;

	hd = header_at(data, data_end);
	if (!hd)
		return 0;
	n = hd->n;
	rounds = hd->rounds;
	for (r = bench_zero; r < rounds && can_loop; r++) {
		off = sizeof(*hd);
		for (i = bench_zero; i < n && can_loop; i++) {
			__u16 *len = pkt_at(data, data_end, off, 2);
			__u32 start, end;

			if (!len)
				break;
			start = off + 2;
			end = start + *len;
			h = parse_frame(data, data_end, h, start, end);
			off = end;
		}
	}
	return h;
}

char LICENSE[] SEC("license") = "GPL";
