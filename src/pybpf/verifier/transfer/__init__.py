"""Transfer functions: how each instruction class changes the verifier state.

One module per instruction class, as kernel/bpf/verifier.c's ``check_alu_op()``,
``check_cond_jmp_op()``, ``check_mem_access()``, ``check_helper_call()`` and
``check_atomic()``: :mod:`.alu`, :mod:`.jmp`, :mod:`.mem`, :mod:`.call`, :mod:`.atomic`;
:mod:`.common` holds the register-operand checks they share. Calls have helpers of their
own: :mod:`.callback` (helpers calling back into the program, ``bpf_loop``...) and
:mod:`.bprintf` (constant strings, ``bpf_snprintf``'s format).
"""
