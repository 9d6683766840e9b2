# Bubble-sort the u32 array in memory in place (loads, stores, data-dependent branches).
mov %r6, %r2
rsh %r6, 2
outer:
jle %r6, 1, done
mov %r7, 1
mov %r3, %r1
inner:
jge %r7, %r6, endpass
ldxw %r4, [%r3+0]
ldxw %r5, [%r3+4]
jle %r4, %r5, noswap
stxw [%r3+0], %r5
stxw [%r3+4], %r4
noswap:
add %r3, 4
add %r7, 1
ja inner
endpass:
sub %r6, 1
ja outer
done:
ldxw %r0, [%r1+0]
exit
