#!/bin/sh
# Rebuild the ELF loader's test objects, from this directory:
#   cd tests/data/elf && ./build.sh
# Needs only clang-19 (Debian package clang-19): the programs include bpf_elf.h, not libbpf's
# headers. The objects are committed so the tests run without clang.
set -eu
CLANG=${CLANG:-clang-19}
cd "$(dirname "$0")"
# -fdebug-prefix-map keeps the checkout's path out of DWARF and BTF line info (file names
# come out as ./x.c), so the objects are byte-identical wherever they are rebuilt.
CLANG="$CLANG -fdebug-prefix-map=$(pwd)=."
$CLANG -O2 -g -target bpf -c xdp_maps.c -o xdp_maps.o
$CLANG -O2 -g -target bpf -mcpu=v3 -c xdp_maps.c -o xdp_maps.v3.o
$CLANG -O2 -target bpf -c legacy_socket.c -o legacy_socket.o
$CLANG -O2 -target bpf -c legacy_inner.c -o legacy_inner.o
$CLANG -O2 -g -target bpf -c tc_subprogs.c -o tc_subprogs.o
$CLANG -O2 -g -target bpf -mcpu=v3 -c tc_subprogs.c -o tc_subprogs.v3.o
$CLANG -O2 -g -target bpf -c prog_array.c -o prog_array.o
$CLANG -O2 -g -target bpf -c tracing.c -o tracing.o
$CLANG -O2 -g -target bpf -mcpu=v3 -c tracing.c -o tracing.v3.o
$CLANG -O2 -g -target bpf -mcpu=v3 -c kconfig.c -o kconfig.o
$CLANG -O2 -g -target bpf -c sections.c -o sections.o
# Objects the loader must refuse (tests/unit/elf/test_elf_errors.py).
for bad in bad_section bad_map_field bad_key bad_reloc bad_static; do
	$CLANG -O2 -g -target bpf -c "$bad.c" -o "$bad.o"
done
$CLANG -O2 -target bpf -c bad_legacy.c -o bad_legacy.o
$CLANG -O2 -g -target bpf -mcpu=v3 -c core.c -o core.o
