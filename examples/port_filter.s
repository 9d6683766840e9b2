# Classify a packet held in memory (r1 = data, r2 = length), kernel/LLVM syntax.
# Returns 1 for IPv4/TCP to port 80 or 443, 2 for other TCP, 0 for anything else.
    r0 = 0
    if r2 < 34 goto out              # Ethernet (14) + minimal IPv4 header (20)
    r3 = *(u16 *)(r1 + 12)           # EtherType, network byte order
    r3 = be16 r3
    if r3 != 0x800 goto out
    r3 = *(u8 *)(r1 + 23)            # IPv4 protocol
    if r3 != 6 goto out
    r4 = *(u8 *)(r1 + 14)            # version and IHL
    r4 &= 15
    r4 <<= 2                         # IPv4 header length in bytes
    r5 = r4
    r5 += 18                         # ... + Ethernet + TCP ports
    if r5 > r2 goto out
    r5 = r1
    r5 += r4
    r3 = *(u16 *)(r5 + 16)           # TCP destination port
    r3 = be16 r3
    r0 = 2
    if r3 == 80 goto web
    if r3 == 443 goto web
    goto out
web:
    r0 = 1
out:
    exit
