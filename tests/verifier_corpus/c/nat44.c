// SPDX-License-Identifier: GPL-2.0
/* tc egress source NAT for IPv4 TCP/UDP: looks up the original (address, port) in a hash
 * map and rewrites the source with bpf_skb_store_bytes, fixing the IP checksum with
 * bpf_l3_csum_replace and the L4 checksum with bpf_l4_csum_replace. Verifies the IP header
 * checksum first with a bounded loop over the header's 16-bit words.
 */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct nat_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct nat_val {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct nat_key);
	__type(value, struct nat_val);
	__uint(max_entries, 16384);
} nat SEC(".maps");

#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (IP_OFF + offsetof(struct iphdr, check))
#define IP_SRC_OFF (IP_OFF + offsetof(struct iphdr, saddr))

static __noinline int ip_csum_ok(struct iphdr *iph, void *end)
{
	__u32 sum = 0;
	__u16 *w = (__u16 *)iph;

	for (int i = 0; i < 30; i++) {
		if (i >= iph->ihl * 2)
			break;
		if ((void *)(w + i + 1) > end)
			return 0;
		sum += w[i];
	}
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum == 0;
}

SEC("tc")
int snat(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + IP_OFF;
	struct nat_key key = {};
	struct nat_val *val;
	__u32 l4_off, csum_off, port_off;
	__be16 *sport;

	if ((void *)(iph + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || iph->ihl != 5)
		return TC_ACT_OK;
	if (!ip_csum_ok(iph, end))
		return TC_ACT_SHOT;
	l4_off = IP_OFF + sizeof(*iph);
	if (iph->protocol == IPPROTO_TCP) {
		csum_off = l4_off + offsetof(struct tcphdr, check);
		port_off = l4_off + offsetof(struct tcphdr, source);
	} else if (iph->protocol == IPPROTO_UDP) {
		csum_off = l4_off + offsetof(struct udphdr, check);
		port_off = l4_off + offsetof(struct udphdr, source);
	} else {
		return TC_ACT_OK;
	}
	sport = data + port_off;
	if ((void *)(sport + 1) > end)
		return TC_ACT_OK;
	key.addr = iph->saddr;
	key.port = *sport;
	key.proto = iph->protocol;
	val = bpf_map_lookup_elem(&nat, &key);
	if (!val)
		return TC_ACT_OK;
	bpf_l4_csum_replace(skb, csum_off, key.addr, val->addr, BPF_F_PSEUDO_HDR | 4);
	bpf_l4_csum_replace(skb, csum_off, key.port, val->port, 2);
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, key.addr, val->addr, 4);
	bpf_skb_store_bytes(skb, IP_SRC_OFF, &val->addr, 4, 0);
	bpf_skb_store_bytes(skb, port_off, &val->port, 2, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
