"""Helpers as LLVM IR, for compiled programs: the clock, the PRNG, checksum differences.

* ``pb_ktime(clock_id)`` — ``bpf_ktime_get_ns()``, ``bpf_ktime_get_boot_ns()``,
  ``bpf_ktime_get_coarse_ns()`` and ``bpf_ktime_get_tai_ns()`` on the host clock
  (:class:`~pybpf.runtime.helpers.time.HostClock`: ``clock_gettime()`` of
  ``CLOCK_MONOTONIC``, ``_BOOTTIME``, ``_MONOTONIC_COARSE``, ``_TAI``, what Python's
  ``time.clock_gettime_ns`` reads). Other clocks (``ManualClock``...) are Python's.
* ``pb_prandom_u32(state)`` — ``prandom_u32_state()`` of lib/random32.c (lfsr113) on a
  ``struct rnd_state`` (:class:`~pybpf.runtime.helpers.random.RndState`); the only
  implementation: :class:`~pybpf.runtime.helpers.random.Prandom` calls it too.
* ``pb_csum_diff(from, from_size, to, to_size, seed)`` — ``bpf_csum_diff()`` as
  :func:`pybpf.runtime.helpers.csum.bpf_csum_diff` computes it (x86_64 ``csum_partial()``,
  ``csum_sub()``, ``csum_from32to16()``), on host buffers the caller translated.
"""

from __future__ import annotations

from pybpf.jit.irtext import ModuleText
from pybpf.native.irkit import Builder

__all__ = ["EXPORTS", "add", "csum_add"]

NSEC_PER_SEC = 1_000_000_000
M32 = 0xFFFFFFFF

EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_ktime": ("i64", ("i32",)),
    "pb_prandom_u32": ("i64", ("ptr",)),
    "pb_csum_diff": ("i64", ("ptr", "i64", "ptr", "i64", "i64")),
}

# TAUSWORTHE(s, a, b, c, d) parameters of the four components (prandom_u32_state())
_TAUS = ((6, 13, 4294967294, 18), (2, 27, 4294967288, 2), (13, 21, 4294967280, 7),
         (3, 12, 4294967168, 13))


def _ktime(mod: ModuleText) -> None:
    mod.declare("clock_gettime", "declare i32 @clock_gettime(i32, ptr)")
    b = Builder(mod, "pb_ktime", "i64", [("i32", "clock")])
    ts = b.op("alloca [2 x i64], align 8")
    b.call("i32", "clock_gettime", [("i32", "%clock"), ("ptr", ts)])
    sec = b.ld("i64", ts)
    nsec = b.ld("i64", ts, 8)
    b.ret(b.op(f"add i64 {b.op(f'mul i64 {sec}, {NSEC_PER_SEC}')}, {nsec}"))


def _prandom(mod: ModuleText) -> None:
    b = Builder(mod, "pb_prandom_u32", "i64", [("ptr", "state")])
    out = "0"
    for i, (a, bb, c, d) in enumerate(_TAUS):
        s = b.ld("i32", "%state", 4 * i)
        masked = b.op(f"and i32 {s}, {c - (1 << 32)}")
        left = b.op(f"shl i32 {masked}, {d}")
        shifted = b.op(f"shl i32 {s}, {a}")
        right = b.op(f"lshr i32 {b.op(f'xor i32 {shifted}, {s}')}, {bb}")
        new = b.op(f"xor i32 {left}, {right}")
        b.st("i32", new, "%state", 4 * i)
        out = new if out == "0" else b.op(f"xor i32 {out}, {new}")
    b.ret(b.zext(out))


def _csum(mod: ModuleText) -> None:
    # csum_partial(): 32-bit little-endian words summed with end-around carry, the tail
    # zero-padded; 0 only when everything is 0 (total - 1) % 0xffffffff + 1
    b = Builder(mod, "pb_csum_partial", "i64", [("ptr", "p"), ("i64", "n"), ("i64", "seed")],
                linkage="internal")
    total = b.var("i64", "%seed")
    i = b.var("i64", 0)
    words = b.op("and i64 %n, -4")
    with b.loop() as lp:
        cur = i.get()
        b.break_if(b.op(f"icmp uge i64 {cur}, {words}"), lp)
        word = b.zext(b.fn.load("i32", b.ptr("%p", cur), align=1))
        total.set(b.op(f"add i64 {total.get()}, {word}"))
        i.set(b.op(f"add i64 {cur}, 4"))
    rest = b.op("and i64 %n, 3")
    with b.if_(b.op(f"icmp ne i64 {rest}, 0")):
        tail = b.op("alloca i32, align 4")
        b.st("i32", 0, tail)
        b.memcpy(tail, b.ptr("%p", words), rest)
        total.set(b.op(f"add i64 {total.get()}, {b.zext(b.ld('i32', tail))}"))
    t = total.get()
    b.return_if(b.op(f"icmp eq i64 {t}, 0"), 0)
    less = b.op(f"sub i64 {t}, 1")
    b.ret(b.op(f"add i64 {b.op(f'urem i64 {less}, {M32}')}, 1"))

    b = Builder(mod, "pb_csum_diff", "i64", [("ptr", "from"), ("i64", "from_size"),
                                             ("ptr", "to"), ("i64", "to_size"), ("i64", "seed")])
    seed = b.op(f"and i64 %seed, {M32}")
    result = b.var("i64", seed)
    has_from = b.op("icmp ne i64 %from_size, 0")
    has_to = b.op("icmp ne i64 %to_size, 0")
    with b.if_else(b.op(f"and i1 {has_from}, {has_to}")) as (both, other):
        with both:
            to_sum = b.call("i64", "pb_csum_partial", [("ptr", "%to"), ("i64", "%to_size"),
                                                       ("i64", seed)])
            from_sum = b.call("i64", "pb_csum_partial", [("ptr", "%from"),
                                                         ("i64", "%from_size"), ("i64", 0)])
            result.set(csum_add(b, to_sum, b.op(f"xor i64 {from_sum}, {M32}")))
        with other, b.if_else(has_to) as (to_only, rest):
            with to_only:
                result.set(b.call("i64", "pb_csum_partial", [
                    ("ptr", "%to"), ("i64", "%to_size"), ("i64", seed)]))
            with rest, b.if_(has_from):
                inverted = b.op(f"xor i64 {seed}, {M32}")
                part = b.call("i64", "pb_csum_partial", [
                    ("ptr", "%from"), ("i64", "%from_size"), ("i64", inverted)])
                result.set(b.op(f"xor i64 {part}, {M32}"))
    # csum_from32to16(): fold 32 bits into 16 with end-around carry
    c = result.get()
    low, high = b.op(f"lshr i64 {c}, 16"), b.op(f"shl i64 {c}, 16")
    rotated = b.op(f"and i64 {b.op(f'or i64 {low}, {high}')}, {M32}")
    folded = b.op(f"and i64 {b.op(f'add i64 {c}, {rotated}')}, {M32}")
    b.ret(b.op(f"lshr i64 {folded}, 16"))


def csum_add(b: Builder, csum: str, addend: str) -> str:
    """csum_add(): a 32-bit add with the carry folded back in (both below 2**32)."""
    res = b.op(f"and i64 {b.op(f'add i64 {csum}, {addend}')}, {M32}")
    carry = b.zext(b.op(f"icmp ult i64 {res}, {addend}"), "i1")
    return b.op(f"and i64 {b.op(f'add i64 {res}, {carry}')}, {M32}")


def add(mod: ModuleText) -> None:
    """Add the helpers to the library module."""
    _ktime(mod)
    _prandom(mod)
    _csum(mod)
