#!/bin/sh
# Rebuild the corpus's C programs (the objects are committed, so the corpus needs neither clang
# nor libbpf to run). Needs clang-19, libbpf-dev (headers) and linux-libc-dev.
#   sh tests/verifier_corpus/c/build.sh
# After rebuilding, re-record: python3 tools/corpus_record.py -k 'c_programs/*'
set -eu
cd "$(dirname "$0")"
CFLAGS="-O2 -g -target bpf -mcpu=v3 -Wall -Werror -I/usr/include/$(uname -m)-linux-gnu"
for src in *.c; do
    obj="${src%.c}.o"
    clang-19 $CFLAGS -c "$src" -o "$obj"
    echo "built $obj"
done
