/* XDP with BTF-defined maps and every kind of global data section. */
#include "bpf_elf.h"

struct value {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct value);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(max_entries, 4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

int data_var = 7;
const volatile __u32 rodata_var = 0x1234;
__u64 bss_var;
__u32 custom_var SEC(".data.x") = 42;
__u64 second_data = 99;

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex;
	struct value *v = bpf_map_lookup_elem(&counters, &key);
	if (v) {
		v->packets++;
		v->bytes += ctx->data_end - ctx->data;
	}
	__u32 idx = 1;
	__u64 *s = bpf_map_lookup_elem(&stats, &idx);
	if (s)
		*s += rodata_var;
	bss_var += data_var + custom_var;
	second_data++;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
