#!/bin/sh
# Rebuild every example object from its C source (the objects are committed, so running
# the examples needs neither clang nor libbpf). Needs: clang-19, libbpf-dev (headers),
# linux-libc-dev.   Usage: sh examples/build.sh
set -eu
cd "$(dirname "$0")"
CFLAGS="-O2 -g -target bpf -mcpu=v3 -Wall -Werror -I/usr/include/$(uname -m)-linux-gnu"
for src in */*.c; do
    obj="${src%.c}.o"
    clang-19 $CFLAGS -c "$src" -o "$obj"
    echo "built $obj"
done
