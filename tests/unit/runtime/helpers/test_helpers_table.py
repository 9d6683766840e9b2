"""The helper table."""

from __future__ import annotations

import pytest
from helpers_support import load

from pybpf.errors import NotSupportedError
from pybpf.platform.helper_ids import HelperId
from pybpf.runtime.helpers import HELPERS, default_helpers


def test_table_covers_the_documented_helpers() -> None:
    table = default_helpers()
    assert len(table) == len(HELPERS) >= 90
    assert HelperId.TAIL_CALL not in table  # the interpreter does tail calls itself
    assert HelperId.OVERRIDE_RETURN not in table  # not available on the reference kernel
    for hid, fn in table.items():
        assert fn.__name__ == "bpf_" + HelperId(hid).name.lower() or hid in (
            HelperId.GET_CURRENT_TASK_BTF,)


def test_unimplemented_helpers_are_refused_at_load() -> None:
    with pytest.raises(NotSupportedError, match="bpf_override_return"):
        load("call bpf_override_return\nexit")
