#!/usr/bin/env python3
"""Set a capture's clock mid-file, as an NTP step does to a running capture.

usage: set_clock.py IN.pcap OUT.pcap FRAME SECONDS

Every record from frame FRAME (1-based, file order) on gets SECONDS added to
its timestamp; the records keep their order, so a negative step makes the
file's time go back there, as tcpdump writes it when the clock is set back.
pcap (micro- or nanosecond, little-endian) only; python3 stdlib.
"""
import struct
import sys


def main():
    src, dst, frame, shift = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    b = bytearray(open(src, "rb").read())
    units = {b"\xd4\xc3\xb2\xa1": 10**6, b"\x4d\x3c\xb2\xa1": 10**9}.get(bytes(b[:4]))
    if units is None:
        sys.exit(f"{src}: not a little-endian pcap file")
    step = round(shift * units)
    at, n = 24, 0
    while at + 16 <= len(b):
        n += 1
        sec, frac, incl, _ = struct.unpack_from("<IIII", b, at)
        if n >= frame:
            t = sec * units + frac + step
            struct.pack_into("<II", b, at, t // units, t % units)
        at += 16 + incl
    open(dst, "wb").write(b)
    print(f"{dst}: {n} frames, frames {frame}..{n} moved {shift:+} s")


if __name__ == "__main__":
    main()
