"""Helper ids and names (generated from include/uapi/linux/bpf.h)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from pybpf.platform.helper_ids import MAX_ID, HelperId, helper_by_name, helper_name

ROOT = Path(__file__).resolve().parents[3]


def test_ids_are_dense_and_in_uapi_order() -> None:
    assert [int(h) for h in HelperId] == list(range(MAX_ID))
    assert HelperId.MAP_LOOKUP_ELEM == 1
    assert HelperId.TAIL_CALL == 12
    assert HelperId.LOOP == 181
    assert HelperId.USER_RINGBUF_DRAIN == 209
    assert HelperId.CGRP_STORAGE_DELETE == 211 == MAX_ID - 1


def test_names() -> None:
    assert helper_name(1) == "bpf_map_lookup_elem"
    assert helper_name(0) == "bpf_unspec"
    with pytest.raises(ValueError):
        helper_name(MAX_ID)
    assert helper_by_name("bpf_map_lookup_elem") == 1
    assert helper_by_name("map_lookup_elem") == 1
    assert helper_by_name("bpf_loop") == helper_by_name("loop") == 181
    assert helper_by_name("bpf_nonexistent") is None
    assert helper_by_name("MAP_LOOKUP_ELEM") is None


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "gen_helper_ids", ROOT / "tools/gen_helper_ids.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_helper_ids"] = module
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_module_from_the_uapi_list() -> None:
    gen = _generator()
    body = "".join(f"\tFN({h.name.lower()}, {int(h)}, ##ctx)\t\\\n" for h in HelperId)
    header = "#define ___BPF_FUNC_MAPPER(FN, ctx...)\t\\\n" + body + "\t/* */\n"
    text = gen.render(gen.parse_helpers(header))
    assert text == (ROOT / "src/pybpf/platform/helper_ids.py").read_text()


def test_generator_reads_the_old_implicit_id_format() -> None:
    gen = _generator()
    header = "#define __BPF_FUNC_MAPPER(FN)\t\\\n\tFN(unspec),\t\\\n\tFN(map_lookup_elem),\n"
    assert gen.parse_helpers(header) == [("unspec", 0), ("map_lookup_elem", 1)]
    system = Path("/usr/include/linux/bpf.h")
    if system.exists():
        names = gen.parse_helpers(system.read_text())
        assert names == [(h.name.lower(), int(h)) for h in HelperId][: len(names)]
