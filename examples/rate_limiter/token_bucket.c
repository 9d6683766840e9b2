// SPDX-License-Identifier: GPL-2.0
/* tc ingress/egress rate limiter: a two-colour token bucket per flow (IPv4 5-tuple).
 *
 * Each flow earns `rate_bps` bytes per second of tokens, up to `burst_bytes`. A packet
 * that finds enough tokens is green (TC_ACT_OK) and spends them; otherwise it is red
 * (TC_ACT_SHOT). Flows live in an LRU hash; rate and burst are read-only globals the
 * loader may rewrite. Build: see ../build.sh
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

const volatile __u64 rate_bps = 125000;     /* 1 Mbit/s */
const volatile __u64 burst_bytes = 3000;

struct flow_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct bucket {
	__u64 tokens;       /* bytes */
	__u64 last_ns;
	__u64 green;
	__u64 red;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_key);
	__type(value, struct bucket);
	__uint(max_entries, 65536);
} buckets SEC(".maps");

SEC("tc")
int token_bucket(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct flow_key key = {};
	struct bucket *b, fresh = {};
	struct iphdr *ip;
	__u64 now, tokens;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	key.saddr = ip->saddr;
	key.daddr = ip->daddr;
	key.proto = ip->protocol;
	if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
		__u16 *ports = (void *)ip + ip->ihl * 4;
		if ((void *)(ports + 2) > data_end)
			return TC_ACT_OK;
		key.sport = bpf_ntohs(ports[0]);
		key.dport = bpf_ntohs(ports[1]);
	}

	now = bpf_ktime_get_ns();
	b = bpf_map_lookup_elem(&buckets, &key);
	if (!b) {
		fresh.tokens = burst_bytes;
		fresh.last_ns = now;
		bpf_map_update_elem(&buckets, &key, &fresh, BPF_ANY);
		b = bpf_map_lookup_elem(&buckets, &key);
		if (!b)
			return TC_ACT_OK;
	}
	tokens = b->tokens + (now - b->last_ns) * rate_bps / 1000000000ULL;
	if (tokens > burst_bytes)
		tokens = burst_bytes;
	b->last_ns = now;
	if (tokens >= skb->len) {
		b->tokens = tokens - skb->len;
		b->green++;
		return TC_ACT_OK;
	}
	b->tokens = tokens;
	b->red++;
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
