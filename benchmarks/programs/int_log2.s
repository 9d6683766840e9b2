# Sum of floor(log2(x)) over the u64 array in memory, by shifting (tight inner loop).
mov %r0, 0
mov %r3, %r1
mov %r4, %r2
rsh %r4, 3
elem:
ldxdw %r5, [%r3+0]
mov %r6, 0
shift:
rsh %r5, 1
jeq %r5, 0, donebits
add %r6, 1
ja shift
donebits:
add %r0, %r6
add %r3, 8
sub %r4, 1
jne %r4, 0, elem
exit
