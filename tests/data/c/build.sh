#!/bin/sh
# Rebuild the test objects: every program at -mcpu=v1..v4 (NAME.vN.o), from this directory:
#   cd tests/data/c && ./build.sh
# Needs clang-19 (Debian package clang-19). The objects are committed so tests run without it.
set -eu
CLANG=${CLANG:-clang-19}
cd "$(dirname "$0")"
for src in *.c; do
	name=${src%.c}
	for cpu in v1 v2 v3 v4; do
		"$CLANG" -O2 -g -target bpf -mcpu=$cpu -c "$src" -o "$name.$cpu.o"
	done
done
