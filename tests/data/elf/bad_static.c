/* A static function as a program: libbpf refuses it. */
#include "bpf_elf.h"
SEC("xdp") static int hidden_prog(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] SEC("license") = "GPL";
