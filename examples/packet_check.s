; An XDP program that reads byte 13 of the packet after proving 14 bytes are there.
r0 = *(u32 *)(r1 + 0)
r2 = *(u32 *)(r1 + 4)
r1 = r0
r1 += 14
if r1 > r2 goto +1
r0 = *(u8 *)(r0 + 13)
r0 = 2
exit
