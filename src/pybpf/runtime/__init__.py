"""What programs run against: checked memory regions, the run-time state, helpers."""

from pybpf.runtime.memory import Memory, Region, RegionKind

__all__ = ["Memory", "Region", "RegionKind"]
