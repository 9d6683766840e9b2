"""The LPM trie's lookup as LLVM IR: ``pb_lpm_lookup(m, key)``.

Mirrors ``trie_lookup_elem()`` and ``longest_prefix_match()`` of kernel/bpf/lpm_trie.c
(Linux 6.18) on the node records :class:`pybpf.runtime.maps.lpm.LpmTrie` keeps in native
memory (the record layout is :data:`pybpf.native.layout.LPM_NODE`; ``NativeMap.trie`` is the
root's record). The walk descends from the root while the key matches a node's whole prefix,
remembering the deepest node that is not intermediate; a node matched on all
``max_prefixlen`` bits ends it. A key whose ``prefixlen`` exceeds ``max_prefixlen`` finds
nothing. Returns the found node's value address (a program address), or 0.

The trie's updates and deletes are Python's (:mod:`pybpf.runtime.maps.lpm`, which writes the
records), and so is its iteration; this walk is its only lookup, called by Python
(``LpmTrie.lookup_elem``) and, through ``pb_map_lookup``, by compiled programs.
"""

from __future__ import annotations

from pybpf.jit.irtext import ModuleText
from pybpf.native.htab_ir import field
from pybpf.native.irkit import Builder
from pybpf.native.layout import LPM_NODE, LPM_NODE_IM

__all__ = ["EXPORTS", "add"]

EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_lpm_lookup": ("i64", ("ptr", "ptr")),
}


def _longest_prefix_match(mod: ModuleText) -> None:
    """``longest_prefix_match(trie, node, key)``: the leading bits the node's data and the
    key's share, at most ``min(node->prefixlen, key->prefixlen)``."""
    b = Builder(mod, "pb_lpm_match", "i32",
                [("ptr", "node"), ("ptr", "key"), ("i32", "size"), ("i32", "limit")],
                linkage="internal")
    mod.declare("llvm.ctlz.i8", "declare i8 @llvm.ctlz.i8(i8, i1)")
    prefixlen = b.var("i32", 0)
    i = b.var("i32", 0)
    with b.loop() as lp:
        index = i.get()
        b.break_if(b.op(f"icmp uge i32 {index}, %size"), lp)
        at = b.zext(index)
        mine = b.ld("i8", b.ptr("%node", LPM_NODE["data"]), at)
        theirs = b.ld("i8", b.ptr("%key", 4), at)
        diff = b.op(f"xor i8 {mine}, {theirs}")
        same = b.op(f"zext i8 {b.op(f'call i8 @llvm.ctlz.i8(i8 {diff}, i1 false)')} to i32")
        total = b.op(f"add i32 {prefixlen.get()}, {same}")
        prefixlen.set(total)
        b.return_if(b.op(f"icmp uge i32 {total}, %limit"), "%limit", "i32")
        b.break_if(b.op(f"icmp ult i32 {same}, 8"), lp)
        i.set(b.op(f"add i32 {index}, 1"))
    b.ret(prefixlen.get(), "i32")


def _lookup(mod: ModuleText) -> None:
    """``trie_lookup_elem()``."""
    b = Builder(mod, "pb_lpm_lookup", "i64", [("ptr", "m"), ("ptr", "key")])
    size = b.op(f"sub i32 {field(b, '%m', 'key_size')}, 4")
    max_prefixlen = b.op(f"shl i32 {size}, 3")
    key_prefixlen = b.ld("i32", "%key")
    b.return_if(b.op(f"icmp ugt i32 {key_prefixlen}, {max_prefixlen}"), 0)
    found = b.var("i64", 0)
    node = b.var("ptr", field(b, "%m", "trie", "ptr"))
    with b.loop() as lp:
        here = node.get()
        b.break_if(b.op(f"icmp eq ptr {here}, null"), lp)
        node_prefixlen = b.ld("i32", here, LPM_NODE["prefixlen"])
        limit = b.op(f"select i1 {b.op(f'icmp ult i32 {node_prefixlen}, {key_prefixlen}')}, "
                     f"i32 {node_prefixlen}, i32 {key_prefixlen}")
        matchlen = b.call("i32", "pb_lpm_match", [("ptr", here), ("ptr", "%key"),
                                                  ("i32", size), ("i32", limit)])
        value = b.ld("i64", here, LPM_NODE["value"])
        # matched on every bit: an intermediate node never has max_prefixlen bits
        b.return_if(b.op(f"icmp eq i32 {matchlen}, {max_prefixlen}"), value)
        b.break_if(b.op(f"icmp ult i32 {matchlen}, {node_prefixlen}"), lp)
        flags = b.ld("i32", here, LPM_NODE["flags"])
        with b.if_(b.op(f"icmp eq i32 {b.op(f'and i32 {flags}, {LPM_NODE_IM}')}, 0")):
            found.set(value)
        # extract_bit(key->data, node->prefixlen): MSB first
        byte = b.ld("i8", b.ptr("%key", 4), b.zext(b.op(f"lshr i32 {node_prefixlen}, 3")))
        low = b.op(f"and i32 {node_prefixlen}, 7")
        shift = b.op(f"trunc i32 {b.op(f'sub i32 7, {low}')} to i8")
        bit = b.op(f"and i8 {b.op(f'lshr i8 {byte}, {shift}')}, 1")
        slot = b.op(f"shl i64 {b.zext(bit, 'i8')}, 3")
        child = b.op(f"add i64 {LPM_NODE['child']}, {slot}")
        node.set(b.ld("ptr", here, child))
    b.ret(found.get())


def add(mod: ModuleText) -> None:
    """Add the lookup to the library module."""
    _longest_prefix_match(mod)
    _lookup(mod)
