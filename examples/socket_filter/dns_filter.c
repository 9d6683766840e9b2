// SPDX-License-Identifier: GPL-2.0
/* Socket filter: keep only DNS (UDP port 53, either direction) over IPv4, truncated to
 * the first `snaplen` bytes of the network packet; drop everything else.
 * Socket filters see the packet from the network header. Build: see ../build.sh
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 snaplen = 128;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);        /* 0: kept, 1: dropped */
} counts SEC(".maps");

static __always_inline void bump(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("socket")
int dns_filter(struct __sk_buff *skb)
{
	struct iphdr ip;
	struct udphdr udp;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		goto drop;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0 || ip.protocol != IPPROTO_UDP)
		goto drop;
	if (bpf_skb_load_bytes(skb, ip.ihl * 4, &udp, sizeof(udp)) < 0)
		goto drop;
	if (udp.dest != bpf_htons(53) && udp.source != bpf_htons(53))
		goto drop;
	bump(0);
	return skb->len < snaplen ? skb->len : snaplen;
drop:
	bump(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
