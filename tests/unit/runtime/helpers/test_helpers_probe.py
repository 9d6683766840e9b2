

def test_user_reads_see_mapped_user_memory() -> None:
    """probe_read_user(_str)/copy_from_user read regions mapped with Memory.map_user."""
    from pybpf.asm import assemble
    from pybpf.interp import Interpreter
    from pybpf.runtime.helpers import default_helpers

    interp = Interpreter(helpers=default_helpers())
    user = interp.memory.map_user(b"hello\0world", "user buffer")
    text = f"""
        r1 = r10
        r1 += -16
        r2 = 16
        r3 = {user.base} ll
        call bpf_probe_read_user_str
        r6 = r0
        r1 = r10
        r1 += -32
        r2 = 11
        r3 = {user.base} ll
        call bpf_probe_read_user
        r0 = *(u8 *)(r10 - 26)
        r0 <<= 8
        r0 |= r6
        exit
    """
    result = interp.load(assemble(text)).run()
    assert result.retval & 0xFF == 6            # "hello" plus the NUL
    assert result.retval >> 8 == ord("w")        # byte 6 of the 11 copied
    kernel_addr = interp.memory.map(bytearray(b"abc\0"), __import__("pybpf.runtime.memory", fromlist=["RegionKind"]).RegionKind.MEM).base
    text2 = f"""
        r1 = r10
        r1 += -8
        r2 = 8
        r3 = {kernel_addr} ll
        call bpf_probe_read_user_str
        exit
    """
    assert interp.load(assemble(text2)).run().retval == (-14) & (2**64 - 1)  # -EFAULT
