# A loop calling a bpf-to-bpf function 20000 times (call/exit overhead, stack frames).
mov %r6, 0
mov %r7, 20000
loop:
mov %r1, %r7
call local square_mod
add %r6, %r0
sub %r7, 1
jne %r7, 0, loop
mov %r0, %r6
exit
square_mod:
mov %r0, %r1
mul %r0, %r1
mod %r0, 1000003
stxdw [%r10-8], %r0
ldxdw %r0, [%r10-8]
exit
