#!/bin/sh
# Rebuild the BTF test objects from this directory (the .o files are committed, so tests run
# without clang):  cd tests/data/btf && ./build.sh
# Needs clang-19 (Debian package clang-19).
set -eu
cd "$(dirname "$0")"
for src in *.c; do
	name=${src%.c}
	clang-19 -O2 -g -target bpf -c "$name.c" -o "$name.o"
done
