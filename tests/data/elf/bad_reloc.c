/* A variable in a section that is neither a map nor global data, loaded by a program. */
#include "bpf_elf.h"
int stray SEC("mysec") = 1;
SEC("xdp") int use_stray(struct xdp_md *ctx) { return stray; }
char _license[] SEC("license") = "GPL";
