# sum the bytes of the input memory: r1 = data, r2 = length
    r0 = 0
loop:
    if r2 == 0 goto done
    r3 = *(u8 *)(r1 + 0)
    r0 += r3
    r1 += 1
    r2 += -1
    goto loop
done:
    exit
