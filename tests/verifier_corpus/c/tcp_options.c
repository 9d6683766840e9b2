// SPDX-License-Identifier: GPL-2.0
/* tc classifier: walks the TCP options of SYN packets (at most 40 bytes, 10 options) to
 * find the MSS and the window scale, and records them per flow. The IPv4 header length
 * is variable.
 *
 * tcp_syn_options walks the packet directly, one bounds check per byte: each option
 * length makes a new packet offset, the states never prune, and the kernel gives up
 * at 1M instructions (a realistic rejection). tcp_syn_options_buffered copies the
 * options to the stack first and walks them with a masked index, and is accepted.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct flow {
	__be32 saddr, daddr;
	__be16 sport, dport;
};

struct syn_info {
	__u16 mss;
	__u8 wscale;
	__u8 sack_ok;
	__u32 seen;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow);
	__type(value, struct syn_info);
	__uint(max_entries, 4096);
} syns SEC(".maps");

SEC("tc")
int tcp_syn_options(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct tcphdr *th;
	struct syn_info info = {};
	struct flow key = {};
	__u8 *opt, *opt_end;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > end || iph->protocol != IPPROTO_TCP || iph->ihl < 5)
		return TC_ACT_OK;
	th = (void *)iph + iph->ihl * 4;
	if ((void *)(th + 1) > end || !th->syn)
		return TC_ACT_OK;
	opt = (__u8 *)(th + 1);
	opt_end = (__u8 *)th + th->doff * 4;
	for (int i = 0; i < 10; i++) {
		__u8 kind, len;
		if (opt + 1 > (__u8 *)end || opt >= opt_end)
			break;
		kind = opt[0];
		if (kind == 0)
			break;
		if (kind == 1) {
			opt++;
			continue;
		}
		if (opt + 2 > (__u8 *)end)
			break;
		len = opt[1];
		if (len < 2)
			break;
		if (kind == 2 && len == 4 && opt + 4 <= (__u8 *)end)
			info.mss = (opt[2] << 8) | opt[3];
		else if (kind == 3 && len == 3 && opt + 3 <= (__u8 *)end)
			info.wscale = opt[2];
		else if (kind == 4)
			info.sack_ok = 1;
		opt += len;
	}
	key.saddr = iph->saddr;
	key.daddr = iph->daddr;
	key.sport = th->source;
	key.dport = th->dest;
	info.seen = 1;
	bpf_map_update_elem(&syns, &key, &info, BPF_ANY);
	return TC_ACT_OK;
}

SEC("tc")
int tcp_syn_options_buffered(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct tcphdr *th;
	struct syn_info info = {};
	struct flow key = {};
	__u8 opts[64] = {};
	__u32 off = 0, n, th_off;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > end || iph->protocol != IPPROTO_TCP || iph->ihl < 5)
		return TC_ACT_OK;
	th_off = sizeof(*eth) + iph->ihl * 4;
	th = data + th_off;
	if ((void *)(th + 1) > end || !th->syn || th->doff <= 5)
		return TC_ACT_OK;
	n = (th->doff - 5) * 4;
	if (n > 40)
		n = 40;
	if (bpf_skb_load_bytes(skb, th_off + sizeof(*th), opts, 40) < 0)
		return TC_ACT_OK;
	for (int i = 0; i < 10; i++) {
		__u8 kind, len;
		if (off >= n)
			break;
		kind = opts[off & 63];
		if (kind == 0)
			break;
		if (kind == 1) {
			off++;
			continue;
		}
		len = opts[(off + 1) & 63];
		if (len < 2)
			break;
		if (kind == 2)
			info.mss = (opts[(off + 2) & 63] << 8) | opts[(off + 3) & 63];
		else if (kind == 3)
			info.wscale = opts[(off + 2) & 63];
		else if (kind == 4)
			info.sack_ok = 1;
		off += len;
	}
	key.saddr = iph->saddr;
	key.daddr = iph->daddr;
	key.sport = th->source;
	key.dport = th->dest;
	info.seen = 1;
	bpf_map_update_elem(&syns, &key, &info, BPF_ANY);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
