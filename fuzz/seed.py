#!/usr/bin/env python3
"""Seed the fuzz corpora (fuzz/corpus/TARGET/) from fixtures/.

Cuts the fixture captures down to their first frames with editcap (tshark's
tools), so that seeds stay a few KB: the fuzzer mutates small inputs faster
and the corpora are never committed (.gitignore). Run from anywhere:
`python3 fuzz/seed.py`; fuzz/run.sh runs it when a corpus is missing.
"""
import glob
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "fixtures")
OUT = os.path.join(ROOT, "fuzz", "corpus")
# Same table as fuzz_targets/frame.rs: a seed's first byte is the index.
LINK_TYPES = [0, 1, 6, 9, 10, 12, 14, 50, 101, 104, 105, 108, 109, 113, 117, 127, 228, 229, 276, 147]


def captures():
    files = glob.glob(f"{FIX}/corpus/*") + glob.glob(f"{FIX}/lab/*/*.pcap*") + glob.glob(f"{FIX}/f5/*.pcap")
    return sorted(f for f in files if not f.endswith((".md", ".tsv")) and os.path.isfile(f))


def cut(src, dst, fmt, frames):
    """The first `frames` frames of src, written as fmt (pcap or pcapng)."""
    r = subprocess.run(["editcap", "-F", fmt, "-r", src, dst, f"1-{frames}"],
                       capture_output=True)
    return r.returncode == 0 and os.path.exists(dst) and os.path.getsize(dst) > 0


def pcap_records(path):
    """(link type, frame bytes) of each record of a little-endian pcap."""
    data = open(path, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return
    link = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
    at = 24
    while at + 16 <= len(data):
        incl = struct.unpack(e + "I", data[at + 8:at + 12])[0]
        yield link, data[at + 16:at + 16 + incl]
        at += 16 + incl


def write(target, name, data):
    os.makedirs(f"{OUT}/{target}", exist_ok=True)
    with open(f"{OUT}/{target}/{name}", "wb") as f:
        f.write(data)


def main():
    if not shutil.which("editcap"):
        sys.exit("seed.py needs editcap (apt-get install tshark)")
    tmp = tempfile.mkdtemp()
    frames_seen = 0
    for src in captures():
        base = os.path.basename(src).replace(".", "_")
        small_pcap = f"{tmp}/{base}.pcap"
        small_ng = f"{tmp}/{base}.pcapng"
        if cut(src, small_pcap, "pcap", 24):
            write("pcap", base, open(small_pcap, "rb").read()[:16384])
            write("diff_halves", base, open(small_pcap, "rb").read()[:8192])
            for i, (link, frame) in enumerate(pcap_records(small_pcap)):
                if link in LINK_TYPES and i % 3 == 0:
                    write("frame", f"{base}_{i}", bytes([LINK_TYPES.index(link)]) + frame)
                    frames_seen += 1
        if cut(src, small_ng, "pcapng", 24):
            write("pcapng", base, open(small_ng, "rb").read()[:16384])
        if src.endswith(".pcapng"):
            write("pcapng", base + "_orig", open(src, "rb").read()[:16384])
    # F5: the bytes after the IP datagram of each Ethernet/IPv4 frame, the
    # first frame whole (capture information), and RST payload texts.
    for src in glob.glob(f"{FIX}/f5/*.pcap") + [f"{FIX}/corpus/f5adc_hackazon2.pcap"]:
        base = os.path.basename(src).replace(".", "_")
        small = f"{tmp}/{base}_f5.pcap"
        if not cut(src, small, "pcap", 200):
            continue
        for i, (link, frame) in enumerate(pcap_records(small)):
            if i == 0:
                write("f5", f"{base}_fileinfo", frame)
            if link != 1 or len(frame) < 34 or frame[12:14] != b"\x08\x00":
                continue
            total = struct.unpack(">H", frame[16:18])[0]
            trailer = frame[14 + total:]
            if len(trailer) >= 8:
                write("f5", f"{base}_{i}", trailer)
    for i, text in enumerate([b"BIG-IP: [0x2664c65:2574] No flow found for ACK",
                              b"BIG-IP: [0x11c5672:3045] {peer} TCP RST from remote system\0\0",
                              b"Connection reset by policy\r\n", b"\x01\x02\xff\xfe"]):
        write("f5", f"rst_{i}", text)
    # diff: two halves of one lab pair, a 4-byte length before the client.
    for d in sorted(glob.glob(f"{FIX}/lab/*/")):
        sides = []
        for side in ("client", "lb"):
            src = (glob.glob(f"{d}{side}.pcap*") or [None])[0]
            small = f"{tmp}/{os.path.basename(d[:-1])}_{side}.pcap"
            if src and cut(src, small, "pcap", 30):
                sides.append(open(small, "rb").read())
        if len(sides) == 2:
            write("diff", os.path.basename(d[:-1]), struct.pack("<I", len(sides[0])) + sides[0] + sides[1])
    # Same file twice, and one capture against a cut of itself.
    for name in os.listdir(f"{OUT}/diff_halves"):
        data = open(f"{OUT}/diff_halves/{name}", "rb").read()
        write("diff", f"{name}_twice", struct.pack("<I", len(data)) + data + data)
    shutil.rmtree(f"{OUT}/diff_halves")
    shutil.rmtree(tmp)
    for t in sorted(os.listdir(OUT)):
        n = len(os.listdir(f"{OUT}/{t}"))
        size = sum(os.path.getsize(f"{OUT}/{t}/{f}") for f in os.listdir(f"{OUT}/{t}"))
        print(f"{t}: {n} seeds, {size // 1024} KiB")


if __name__ == "__main__":
    main()
