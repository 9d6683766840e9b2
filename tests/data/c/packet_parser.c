/* XDP packet parser: Ethernet / VLAN / IPv4 / IPv6 / TCP / UDP with bounds checks. */
#include "bpf_defs.h"

struct ethhdr { __u8 h_dest[6]; __u8 h_source[6]; __u16 h_proto; } __attribute__((packed));
struct vlanhdr { __u16 tci; __u16 proto; };
struct iphdr {
	__u8 ihl_version; __u8 tos; __u16 tot_len; __u16 id; __u16 frag_off;
	__u8 ttl; __u8 protocol; __u16 check; __u32 saddr; __u32 daddr;
};
struct ipv6hdr { __u32 flow; __u16 payload_len; __u8 nexthdr; __u8 hop_limit; __u8 addr[32]; };
struct udphdr { __u16 source; __u16 dest; __u16 len; __u16 check; };
struct tcphdr { __u16 source; __u16 dest; __u32 seq; __u32 ack_seq; __u16 flags; __u16 window; };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} proto_counts SEC(".maps");

static __always_inline int parse_l4(void *data, void *data_end, __u8 proto)
{
	if (proto == 17) {
		struct udphdr *udp = data;
		if ((void *)(udp + 1) > data_end)
			return XDP_DROP;
		if (udp->dest == bpf_htons(53))
			return XDP_PASS;
		return udp->len < bpf_htons(8) ? XDP_DROP : XDP_PASS;
	}
	if (proto == 6) {
		struct tcphdr *tcp = data;
		if ((void *)(tcp + 1) > data_end)
			return XDP_DROP;
		if ((tcp->flags & bpf_htons(0x0002)) && tcp->dest == bpf_htons(22))
			return XDP_TX;
	}
	return XDP_PASS;
}

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u16 proto;
	__u32 key;
	__u64 *count;

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	proto = eth->h_proto;
	data = eth + 1;
	if (proto == bpf_htons(0x8100)) {
		struct vlanhdr *vlan = data;
		if ((void *)(vlan + 1) > data_end)
			return XDP_DROP;
		proto = vlan->proto;
		data = vlan + 1;
	}
	switch (bpf_ntohs(proto)) {
	case 0x0800: {
		struct iphdr *ip = data;
		if ((void *)(ip + 1) > data_end)
			return XDP_DROP;
		key = ip->protocol;
		count = bpf_map_lookup_elem(&proto_counts, &key);
		if (count)
			__sync_fetch_and_add(count, 1);
		return parse_l4((char *)ip + ((ip->ihl_version & 0xf) << 2), data_end, ip->protocol);
	}
	case 0x86dd: {
		struct ipv6hdr *ip6 = data;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_DROP;
		return parse_l4(ip6 + 1, data_end, ip6->nexthdr);
	}
	case 0x0806:
		return XDP_PASS;
	default:
		return XDP_DROP;
	}
}

char _license[] SEC("license") = "GPL";
