"""A re-implementation of the Linux kernel's eBPF verifier (kernel/bpf/verifier.c, 6.18).

``verify(spec)`` returns a :class:`VerificationResult`: the verdict, the kernel's error
message, the processed-instruction count and, on request, the log in the kernel's format.
The pieces are small modules named after what they mirror: :mod:`.tnum`, :mod:`.bounds`,
:mod:`.scalar_alu`, :mod:`.branch`, :mod:`.regstate`, :mod:`.state`, :mod:`.log`,
:mod:`.check_cfg`, :mod:`.liveness`, :mod:`.transfer` (per instruction class),
:mod:`.prune`, :mod:`.explore` and :mod:`.api`.
"""

from pybpf.verifier.api import VerificationResult, verify, verify_bytes

__all__ = ["VerificationResult", "verify", "verify_bytes"]
