/* Host build only (benchmarks/c/native_shim.h): the UAPI <linux/bpf.h>, with struct xdp_md
 * widened so that data/data_end/data_meta hold real 64-bit pointers. In the kernel they
 * are 32-bit fields the verifier rewrites into pointer loads; programs read them through
 * (void *)(long)ctx->data, which works unchanged with these fields. */
#ifndef PYBPF_NATIVE_LINUX_BPF_H
#define PYBPF_NATIVE_LINUX_BPF_H

#define xdp_md pybpf_uapi_xdp_md
#include_next <linux/bpf.h>
#undef xdp_md

struct xdp_md {
	__u64 data;
	__u64 data_end;
	__u64 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

#endif
