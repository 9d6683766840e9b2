/* One tiny program per interesting section name: flags, '?', attach types and targets. */
#include "bpf_elf.h"

SEC("?xdp") int not_autoloaded(struct xdp_md *ctx) { return XDP_PASS; }
SEC("xdp.frags") int frags(struct xdp_md *ctx) { return XDP_PASS; }
SEC("xdp/devmap") int devmap(struct xdp_md *ctx) { return XDP_PASS; }
SEC("cgroup_skb/ingress") int cg_ingress(struct __sk_buff *skb) { return 1; }
SEC("cgroup/connect4") int connect4(void *ctx) { return 1; }
SEC("lsm.s/file_open") int sleepable_lsm(void *ctx) { return 0; }
SEC("fentry/tcp_v4_connect") int fentry_prog(void *ctx) { return 0; }
SEC("tcx/egress") int tcx_egress(struct __sk_buff *skb) { return 0; }
SEC("socket1") int legacy_socket_name(struct __sk_buff *skb) { return 0; }
SEC("uprobe//bin/true:main") int uprobe_prog(void *ctx) { return 0; }
SEC("syscall") int syscall_prog(void *ctx) { return 0; }

char _license[] SEC("license") = "GPL";
