"""pybpf.btf.Btf on a clang-19 object: kinds, names, sizes and offsets the C source implies."""

from __future__ import annotations

import pytest
from btf_testdata import DATA, bpftool_dump, bpftool_raw, section

from pybpf.btf import (
    Array,
    Btf,
    BtfKind,
    DataSec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Ptr,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarLinkage,
    Void,
)
from pybpf.errors import BTFError


@pytest.fixture(scope="module")
def btf(types_btf):  # type: ignore[no-untyped-def]
    return types_btf[0]


def member(btf: Btf, struct: str, name: str):  # type: ignore[no-untyped-def]
    t = btf[btf.find(struct, BtfKind.STRUCT)]
    return next(m for m in t.members if m.name == name)


def test_matches_bpftool_raw_dump() -> None:
    btf = Btf.from_bytes(section("types", ".BTF"))
    assert bpftool_raw(btf) == bpftool_dump(str(DATA / "types.o"))


def test_void_and_len(btf: Btf) -> None:
    assert isinstance(btf[0], Void) and btf[0].id == 0
    assert len(btf) == len(btf.types)
    assert all(t.id == i for i, t in enumerate(btf.types))
    with pytest.raises(BTFError, match="no type"):
        btf[len(btf)]
    with pytest.raises(BTFError):
        btf[-1]


def test_struct_sample_layout(btf: Btf) -> None:
    sid = btf.find("sample")
    s = btf[sid]
    assert isinstance(s, Struct) and s.size == btf.size_of(sid)
    names = [m.name for m in s.members]
    assert names[:5] == ["id", "name", "pos", "path", "col"]
    assert names[5] == ""  # the anonymous union
    offs = {m.name: m.bit_offset // 8 for m in s.members}
    # __u32 id; char name[16]; struct inner pos (4); struct inner path[3] (12); enum color
    assert offs["id"] == 0 and offs["name"] == 4 and offs["pos"] == 20
    assert offs["path"] == 24 and offs["col"] == 36 and offs[""] == 40
    assert offs["range"] == 44 and offs["ptr"] == 56  # 8-aligned pointer after 8-byte range
    assert btf.type_str(member(btf, "sample", "name").type) == "char[16]"
    assert btf.type_str(member(btf, "sample", "path").type) == "struct inner[3]"
    assert btf.type_str(member(btf, "sample", "ptr").type) == "const volatile __u64 *"
    assert btf.type_str(member(btf, "sample", "callback").type) == (
        "int (*)(struct sample *, int)")
    assert btf.type_str(member(btf, "sample", "matrix").type) == "__s64[2][3]"
    assert btf.size_of(member(btf, "sample", "matrix").type) == 48
    assert btf.type_str(member(btf, "sample", "op").type) == "struct opaque *"
    assert btf.type_str(member(btf, "sample", "uptr").type) == (
        '__attribute__((btf_type_tag("user"))) char *')


def test_anonymous_members(btf: Btf) -> None:
    s = btf[btf.find("sample")]
    anon_union = btf[s.members[5].type]
    assert isinstance(anon_union, Union) and anon_union.name == ""
    assert [m.name for m in anon_union.members] == ["word", "bytes"]
    assert {m.bit_offset for m in anon_union.members} == {0}
    rng = btf[member(btf, "sample", "range").type]
    assert isinstance(rng, Struct) and rng.name == "" and rng.size == 8
    assert btf.type_str(rng.id) == "struct <anon>"


def test_bitfields_kind_flag(btf: Btf) -> None:
    fl = btf[btf.find("flags", BtfKind.STRUCT)]
    assert isinstance(fl, Struct) and fl.kind_flag and fl.size == 8
    got = [(m.name, m.bit_offset, m.bitfield_size) for m in fl.members]
    # unsigned a:3, b:5; int c:7; unsigned long long d:40 (packs at bit 15); __u8 e
    assert got == [("a", 0, 3), ("b", 3, 5), ("c", 8, 7), ("d", 15, 40), ("e", 56, 0)]
    assert btf.type_str(fl.members[2].type) == "int"


def test_ints_and_floats(btf: Btf) -> None:
    u32 = btf.find("__u32")
    assert isinstance(btf[u32], Typedef)
    ui = btf[btf.resolve(u32)]
    assert isinstance(ui, Int) and ui.name == "unsigned int" and ui.size == 4
    assert ui.encoding == IntEncoding.NONE and ui.bits == 32 and ui.offset == 0
    assert btf[btf.find("char")].encoding == IntEncoding.SIGNED
    assert btf[btf.find("_Bool")].encoding == IntEncoding.BOOL
    assert btf[btf.find("long long")].signed
    d = btf[btf.find("double")]
    assert isinstance(d, Float) and d.size == 8
    assert btf.size_of(btf.find("float")) == 4


def test_enums(btf: Btf) -> None:
    color = btf[btf.find("color")]
    assert isinstance(color, Enum) and color.signed and color.size == 4
    assert dict(color.values) == {"RED": 0, "GREEN": 5, "BLUE": -3}
    tiny = btf[btf.find("tiny")]
    assert isinstance(tiny, Enum) and tiny.size == 1 and not tiny.signed
    assert tiny.values[-1] == ("T2", 200)
    big = btf[btf.find("big")]
    assert isinstance(big, Enum64) and big.size == 8
    assert dict(big.values) == {"SMALL": 1, "HUGE": 0x123456789A}


def test_modifiers_resolve(btf: Btf) -> None:
    ptr = btf[member(btf, "sample", "ptr").type]
    assert isinstance(ptr, Ptr)
    assert [btf[i].kind for i in (ptr.type, btf[ptr.type].type)] == [
        BtfKind.CONST, BtfKind.VOLATILE]
    resolved = btf.resolve(ptr.type)
    assert btf[resolved].name == "unsigned long long"
    assert btf.size_of(ptr.type) == 8 and btf.size_of(ptr.id) == 8
    tag = btf[btf.find("user", BtfKind.TYPE_TAG)]
    assert isinstance(tag, TypeTag) and btf.resolve(tag.id) == btf.find("char")


def test_functions(btf: Btf) -> None:
    f = btf[btf.find("helper_sum", BtfKind.FUNC)]
    assert isinstance(f, Func) and f.linkage == FuncLinkage.STATIC
    proto = btf[f.type]
    assert isinstance(proto, FuncProto) and [p.name for p in proto.params] == ["a", "b"]
    assert btf.type_str(f.id) == "int helper_sum(int, int)"
    g = btf[btf.find("global_func")]
    assert g.linkage == FuncLinkage.GLOBAL
    assert btf.type_str(btf.find("prog_main")) == "int prog_main(void *)"
    with pytest.raises(BTFError, match="no size"):
        btf.size_of(f.id)


def test_decl_tags(btf: Btf) -> None:
    tags = {btf[i].name: btf[i] for i in range(len(btf)) if isinstance(btf[i], DeclTag)}
    assert tags["sample_tag"].component_idx == -1
    assert btf[tags["sample_tag"].type].name == "sample"
    cb = tags["cb"]
    assert cb.component_idx == [m.name for m in btf[cb.type].members].index("callback")
    assert btf[tags["arg"].type].name == "helper_sum" and tags["arg"].component_idx == 1


def test_globals_and_datasecs(btf: Btf) -> None:
    secs = {btf[i].name: btf[i] for i in range(len(btf)) if isinstance(btf[i], DataSec)}
    assert set(secs) == {".bss", ".data", ".maps", ".rodata", "license"}
    (data_var,) = secs[".data"].vars
    var = btf[data_var.type]
    assert isinstance(var, Var) and var.name == "global_sample"
    assert var.linkage == VarLinkage.GLOBAL_ALLOCATED
    assert data_var.size == btf.size_of(var.type) == btf.size_of(var.id)
    msg = btf[secs[".rodata"].vars[0].type]
    assert btf.type_str(msg.id) == "const char message[6]"
    maps = btf[btf[secs[".maps"].vars[0].type].type]
    assert isinstance(maps, Struct) and [m.name for m in maps.members] == [
        "type", "max_entries", "key", "value"]
    # __uint(type, 2) is int (*type)[2]: the value is the array length
    arr = btf[btf[maps.members[0].type].type]
    assert isinstance(arr, Array) and arr.nelems == 2


def test_find_and_names(btf: Btf) -> None:
    assert btf.find("no_such_type") is None
    assert btf.find("sample", BtfKind.UNION) is None
    assert btf.find_all("sample") == [btf.find("sample")]
    assert btf.find("opaque", BtfKind.FWD) is not None
    assert isinstance(btf[btf.find("opaque")], Fwd)
    sid = btf.find("sample")
    assert btf.name_of(sid) == "sample" and btf.name_of(0) == ""
    assert btf.string_at(0) == ""
    assert btf.describe(sid) == "struct sample"
    assert btf.kind_of(sid) == BtfKind.STRUCT


def test_find_all_returns_every_match(btf: Btf) -> None:
    protos = btf.find_all("", None)
    assert protos == []  # anonymous types are not indexed by name
    int_ids = [i for i in range(1, len(btf)) if btf[i].name == "int"]
    assert btf.find_all("int") == int_ids
    assert btf.find_all("int", BtfKind.TYPEDEF) == []


def test_equality_and_bytes(btf: Btf) -> None:
    again = Btf.from_bytes(section("types", ".BTF"))
    assert again == btf and hash(again) == hash(btf)
    assert again.to_bytes() == section("types", ".BTF")
    assert again.pointer_size == 8


def test_values_are_frozen(btf: Btf) -> None:
    s = btf[btf.find("sample")]
    with pytest.raises(AttributeError):
        s.size = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        s.members[0].name = "x"  # type: ignore[misc]


@pytest.mark.parametrize("obj", sorted(p.stem for p in DATA.glob("*.o")))
def test_find_before_the_name_index_agrees_with_it(obj: str) -> None:
    """``find`` on a fresh Btf scans the string offsets instead of building the name index;
    for every name (and a missing one) it gives the index's first id."""
    data = section(obj, ".BTF")
    indexed = Btf.from_bytes(data)
    index = indexed._name_index()
    for name, ids in index.items():
        if name:
            assert Btf.from_bytes(data).find(name) == ids[0], name
    assert Btf.from_bytes(data).find("no_such_type_anywhere") is None
