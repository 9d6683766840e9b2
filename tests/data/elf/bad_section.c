/* A program in a section no libbpf SEC() pattern matches. */
#include "bpf_elf.h"
SEC("frobnicate/now") int unknown_kind(void *ctx) { return 0; }
char _license[] SEC("license") = "GPL";
