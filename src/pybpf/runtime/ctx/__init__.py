"""Program contexts: the structure r1 points at, with the kernel's context-access rewriting."""

from pybpf.runtime.ctx.base import ContextRegion

__all__ = ["ContextRegion"]
