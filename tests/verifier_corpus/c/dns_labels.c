// SPDX-License-Identifier: GPL-2.0
/* Socket filter: copies the first bytes of a UDP/53 payload with bpf_skb_load_bytes and
 * walks the DNS question name label by label (bounded), hashing it (FNV-1a) to look it up
 * in a block list. Socket filters see the packet from the IP header.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define NAME_MAX_BYTES 64

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u32);
	__uint(max_entries, 1024);
} blocked_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} dns_stats SEC(".maps");

static __noinline __u64 hash_name(const __u8 *name, __u32 n)
{
	__u64 h = 0xcbf29ce484222325ULL;
	for (__u32 i = 0; i < NAME_MAX_BYTES; i++) {
		if (i >= n)
			break;
		h ^= name[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

SEC("socket")
int dns_block(struct __sk_buff *skb)
{
	__u8 buf[NAME_MAX_BYTES];
	struct iphdr iph;
	struct udphdr uh;
	__u32 off, pos = 0, key = 0;
	__u64 *cnt, h;

	if (bpf_skb_load_bytes(skb, 0, &iph, sizeof(iph)) < 0)
		return -1;
	if (iph.protocol != IPPROTO_UDP || iph.ihl < 5)
		return -1;
	off = iph.ihl * 4;
	if (bpf_skb_load_bytes(skb, off, &uh, sizeof(uh)) < 0)
		return -1;
	if (uh.dest != bpf_htons(53))
		return -1;
	off += sizeof(uh) + 12; /* skip the DNS header */
	if (bpf_skb_load_bytes(skb, off, buf, sizeof(buf)) < 0)
		return -1;
	/* find where the name ends: labels of at most 63 bytes */
	for (int i = 0; i < 16; i++) {
		__u8 len;
		if (pos >= NAME_MAX_BYTES)
			break;
		len = buf[pos & (NAME_MAX_BYTES - 1)];
		if (len == 0 || len > 63)
			break;
		pos += len + 1;
	}
	if (pos > NAME_MAX_BYTES)
		pos = NAME_MAX_BYTES;
	h = hash_name(buf, pos);
	cnt = bpf_map_lookup_elem(&dns_stats, &key);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	if (bpf_map_lookup_elem(&blocked_names, &h))
		return 0;
	return -1;
}

char LICENSE[] SEC("license") = "GPL";
