// SPDX-License-Identifier: GPL-2.0
/* cgroup_skb programs: per-protocol byte accounting on ingress and egress, with a policy
 * that drops egress UDP to a configured port. Reads the IP header directly (cgroup skb
 * data starts at the network header).
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 256);
} bytes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u16);
	__uint(max_entries, 1);
} blocked_port SEC(".maps");

static __always_inline void account(struct __sk_buff *skb, __u32 dir)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *iph = data;
	__u32 key = dir << 8;
	__u64 *v, len = skb->len;

	if ((void *)(iph + 1) <= end)
		key |= iph->protocol;
	v = bpf_map_lookup_elem(&bytes, &key);
	if (v)
		*v += len;
	else
		bpf_map_update_elem(&bytes, &key, &len, BPF_NOEXIST);
}

SEC("cgroup_skb/ingress")
int acct_ingress(struct __sk_buff *skb)
{
	account(skb, 0);
	return 1;
}

SEC("cgroup_skb/egress")
int acct_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *iph = data;
	struct udphdr *uh;
	__u32 zero = 0;
	__u16 *port;

	account(skb, 1);
	if ((void *)(iph + 1) > end || iph->protocol != IPPROTO_UDP || iph->ihl != 5)
		return 1;
	uh = (void *)(iph + 1);
	if ((void *)(uh + 1) > end)
		return 1;
	port = bpf_map_lookup_elem(&blocked_port, &zero);
	if (port && *port && bpf_ntohs(uh->dest) == *port)
		return 0;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
