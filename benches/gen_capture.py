#!/usr/bin/env python3
"""Build a large classic pcap for `benches/analyze.sh` by replicating corpus captures.

usage: gen_capture.py OUT FRAMES SOURCE.pcap[.gz]...

Each copy of a source gets its TCP ports shifted by the copy number (both
ends alike, so every connection stays one connection, and each copy is a
new one) and its timestamps moved after the previous copy, so the output is
in time order. Sources must be classic pcap with Ethernet link type; frames
are kept byte for byte otherwise.
"""
import gzip
import struct
import sys


def frames(path):
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        end, nano = "<", False
    elif magic == b"\x4d\x3c\xb2\xa1":
        end, nano = "<", True
    elif magic == b"\xa1\xb2\xc3\xd4":
        end, nano = ">", False
    elif magic == b"\xa1\xb2\x3c\x4d":
        end, nano = ">", True
    else:
        raise SystemExit(f"{path}: not a classic pcap")
    link = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    if link != 1:
        raise SystemExit(f"{path}: link type {link}, want Ethernet (1)")
    out = []
    at = 24
    while at + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(end + "IIII", data[at:at + 16])
        body = data[at + 16:at + 16 + incl]
        if len(body) < incl:
            break
        usec = frac // 1000 if nano else frac
        out.append((sec * 1_000_000 + usec, orig, body, tcp_ports_offset(body)))
        at += 16 + incl
    return out


def tcp_ports_offset(b):
    """Offset of the TCP source port in an Ethernet frame, or None."""
    at, etype = 14, struct.unpack("!H", b[12:14])[0] if len(b) >= 14 else 0
    while etype in (0x8100, 0x88A8) and len(b) >= at + 4:
        etype = struct.unpack("!H", b[at + 2:at + 4])[0]
        at += 4
    if etype == 0x0800 and len(b) >= at + 20:
        ihl = (b[at] & 0x0F) * 4
        frag = struct.unpack("!H", b[at + 6:at + 8])[0] & 0x1FFF
        if b[at + 9] == 6 and frag == 0 and len(b) >= at + ihl + 4:
            return at + ihl
    elif etype == 0x86DD and len(b) >= at + 44 and b[at + 6] == 6:
        return at + 40
    return None


def main():
    out_path, want = sys.argv[1], int(sys.argv[2])
    sources = [frames(p) for p in sys.argv[3:]]
    spans = [(s[-1][0] - s[0][0]) + 1_000_000 for s in sources]
    total = 0
    t0 = 1_750_000_000 * 1_000_000
    clock = 0
    with open(out_path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        copy = 0
        while total < want:
            for src, span in zip(sources, spans):
                base = src[0][0]
                chunk = bytearray()
                shift = copy
                for ts, orig, body, ports in src:
                    if ports is not None:
                        body = bytearray(body)
                        sp, dp = struct.unpack_from("!HH", body, ports)
                        struct.pack_into("!HH", body, ports, (sp + shift) & 0xFFFF, (dp + shift) & 0xFFFF)
                    t = t0 + clock + (ts - base)
                    chunk += struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(body), orig)
                    chunk += body
                    total += 1
                    if total >= want:
                        break
                f.write(chunk)
                clock += span
                if total >= want:
                    break
            copy += 1
    print(f"{out_path}: {total} frames, {copy} copies of {len(sources)} captures")


if __name__ == "__main__":
    main()
