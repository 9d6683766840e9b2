# Sum every byte of the input memory (r1 = data, r2 = length), 16 passes (byte loads).
mov %r0, 0
mov %r6, 16
pass:
mov %r3, %r1
mov %r4, %r2
loop:
ldxb %r5, [%r3+0]
add %r0, %r5
add %r3, 1
sub %r4, 1
jne %r4, 0, loop
sub %r6, 1
jne %r6, 0, pass
exit
