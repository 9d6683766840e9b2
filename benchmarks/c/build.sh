#!/bin/sh
# Rebuild every benchmark object from its C source (the objects are committed, so running
# the benchmarks needs neither clang nor libbpf). Needs: clang-19 (>= 19 for may_goto),
# libbpf-dev (headers), linux-libc-dev.   Usage: sh benchmarks/c/build.sh
set -eu
cd "$(dirname "$0")"
CFLAGS="-O2 -g -target bpf -mcpu=v3 -Wall -Werror -I/usr/include/$(uname -m)-linux-gnu"
for src in *.c; do
    case "$src" in native_*) continue ;; esac
    obj="${src%.c}.o"
    clang-19 $CFLAGS -c "$src" -o "$obj"
    echo "built $obj"
done
