/* Host build only: stands in for libbpf's <bpf/bpf_helpers.h>. */
#include "../../native_shim.h"
