"""Loads through map pointers and BTF pointers, on a hand-built kernel BTF.

``verify(..., kernel_btf=...)`` takes the target kernel's BTF; here a tiny one whose
``struct bpf_array`` holds pointers with the type tags a clang-built kernel has (``__user``,
``__percpu``, ``__rcu``) — the running GCC-built kernel has none, so the corpus cannot show
them — and a pointer to ``struct nf_conn``. What the live kernel does with real vmlinux is
checked by tests/verifier_corpus/cases/map_ptr_btf.toml.
"""

from __future__ import annotations

import errno

from pybpf.asm import assemble
from pybpf.btf import Int, IntEncoding, Member, Ptr, Struct, TypeTag
from pybpf.btf.write import from_types
from pybpf.isa import OP_LDDW, Instruction
from pybpf.platform.enums import MapType, ProgType
from pybpf.program.spec import MapReference, MapSpec, ProgramSpec
from pybpf.verifier import verify
from pybpf.verifier.api import VerificationResult

ENOTSUPP = 524


def _m(name: str, type_id: int, byte_off: int) -> Member:
    return Member(name, type_id, byte_off * 8)


KERNEL_BTF = from_types([
    Int(1, "u32", 4, IntEncoding.NONE, 32),
    Struct(2, "inner", 8, (_m("a", 1, 0), _m("b", 1, 4))),
    TypeTag(3, "user", 2), Ptr(4, "", 3),
    TypeTag(5, "percpu", 2), Ptr(6, "", 5),
    TypeTag(7, "rcu", 2), Ptr(8, "", 7),
    Struct(9, "nf_conn", 8, (_m("status", 1, 0), _m("mark", 1, 4))), Ptr(10, "", 9),
    Struct(11, "bpf_array", 40, (_m("x", 1, 0), _m("up", 4, 8), _m("pp", 6, 16),
                                 _m("rp", 8, 24), _m("ct", 10, 32))),
])  # fmt: skip
ARRAY = MapSpec("m", int(MapType.ARRAY), 4, 8, 1)
HASH = MapSpec("m", int(MapType.HASH), 4, 8, 1)


def run(body: str, prog_type: ProgType = ProgType.SOCKET_FILTER,
        map_spec: MapSpec = ARRAY) -> VerificationResult:
    """``r1 = {map:m} ll`` then ``body``, verified against :data:`KERNEL_BTF`."""
    insns = (Instruction(OP_LDDW, 1, 1, 0, 0, 0), *assemble(body, syntax="llvm"))
    spec = ProgramSpec("t", insns, license="GPL", prog_type=int(prog_type),
                       map_references=(MapReference(0, "m"),))  # fmt: skip
    return verify(spec, maps={"m": map_spec}, log_level=2, kernel_btf=KERNEL_BTF)


def test_scalar_field_and_hole() -> None:
    res = run("r0 = *(u32 *)(r1 + 0)\nexit")
    assert res.accepted, res.error
    res = run("r0 = *(u32 *)(r1 + 4)\nexit")
    assert (res.error, res.errno) == ("struct bpf_array doesn't have field at offset 4",
                                      errno.EINVAL)


def test_user_pointer_cannot_be_read() -> None:
    res = run("r2 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r2 + 0)\nexit")
    assert "R2=user_untrusted_ptr_inner()" in res.log
    assert (res.error, res.errno) == ("R2 is ptr_inner access user memory: off=0", errno.EACCES)


def test_percpu_pointer_cannot_be_read() -> None:
    res = run("r2 = *(u64 *)(r1 + 16)\nr2 += 4\nr0 = *(u32 *)(r2 + 0)\nexit")
    assert "R2=percpu_untrusted_ptr_inner(off=4)" in res.log
    assert res.error == "R2 is ptr_inner access percpu memory: off=4"


def test_rcu_pointer_read_through_is_untrusted() -> None:
    res = run("r2 = *(u64 *)(r1 + 24)\nr0 = *(u32 *)(r2 + 4)\nexit")
    assert res.accepted, res.error
    assert "R2=rcu_untrusted_ptr_inner()" in res.log


def test_map_type_without_btf_struct() -> None:
    res = run("r0 = *(u32 *)(r1 + 0)\nexit", map_spec=HASH)  # no struct bpf_htab here
    assert (res.error, res.errno) == ("map_ptr access not supported for map type 1", ENOTSUPP)


def test_xdp_write_to_nf_conn_is_not_modelled() -> None:
    res = run("r2 = *(u64 *)(r1 + 32)\n*(u32 *)(r2 + 4) = 1\nr0 = 2\nexit", ProgType.XDP)
    assert res.errno == errno.EOPNOTSUPP
    assert "nf_conn" in (res.error or "")


def test_socket_filter_write_to_nf_conn_is_read_only() -> None:
    res = run("r2 = *(u64 *)(r1 + 32)\n*(u32 *)(r2 + 4) = 1\nr0 = 0\nexit")
    assert (res.error, res.errno) == ("only read is supported", errno.EACCES)


def test_btf_pointer_of_unknown_type_is_not_modelled() -> None:
    # the NETFILTER context's skb is a trusted BTF pointer pybpf has no type id for
    insns = assemble("r2 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r2 + 0)\nr0 = 1\nexit",
                     syntax="llvm")  # fmt: skip
    spec = ProgramSpec("t", tuple(insns), license="GPL", prog_type=int(ProgType.NETFILTER))
    res = verify(spec, kernel_btf=KERNEL_BTF, expected_attach_type=45)
    assert res.errno == errno.EOPNOTSUPP, res.error
    assert (res.error or "").startswith("pybpf does not model loads through R2 (trusted_ptr_)")
