// SPDX-License-Identifier: GPL-2.0
/* sock_ops TCP tuning for connections inside a data centre.
 *
 * For connections whose peer is in 10.0.0.0/8: a 10 ms SYN retransmission timeout
 * (TIMEOUT_INIT), a 40-segment initial receive window (RWND_INIT), an initial congestion
 * window of 10 and DCTCP as congestion control once established, ECN requested
 * (NEEDS_ECN), and RTO/retransmit/state callbacks enabled and counted.
 * Everything else keeps the kernel's defaults (reply -1). Build: see ../build.sh
 */
#include <linux/bpf.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define SOL_TCP 6
#define TCP_CONGESTION 13
#define TCP_BPF_IW 1001

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);   /* events counted by op code */
} events SEC(".maps");

static __always_inline int in_dc(struct bpf_sock_ops *skops)
{
	return skops->family == 2 /* AF_INET */ &&
	       (bpf_ntohl(skops->remote_ip4) >> 24) == 10;
}

SEC("sockops")
int tcp_tuning(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	__u64 *n;
	int rv = -1;
	char cc[] = "dctcp";
	int iw = 10;

	n = bpf_map_lookup_elem(&events, &op);
	if (n)
		__sync_fetch_and_add(n, 1);
	if (!in_dc(skops)) {
		skops->reply = -1;
		return 1;
	}
	switch (op) {
	case BPF_SOCK_OPS_TIMEOUT_INIT:
		rv = 10;                 /* in jiffies at HZ=1000: 10 ms SYN RTO */
		break;
	case BPF_SOCK_OPS_RWND_INIT:
		rv = 40;
		break;
	case BPF_SOCK_OPS_NEEDS_ECN:
		rv = 1;
		break;
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		bpf_setsockopt(skops, SOL_TCP, TCP_CONGESTION, cc, sizeof(cc));
		rv = 0;
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_setsockopt(skops, SOL_TCP, TCP_CONGESTION, cc, sizeof(cc));
		bpf_setsockopt(skops, SOL_TCP, TCP_BPF_IW, &iw, sizeof(iw));
		rv = bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_RTO_CB_FLAG |
					       BPF_SOCK_OPS_RETRANS_CB_FLAG |
					       BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	default:
		rv = 0;
	}
	skops->reply = rv;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
