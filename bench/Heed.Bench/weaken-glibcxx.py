#!/usr/bin/env python3
"""Marks one symbol-version requirement of an ELF64 shared library as weak (VER_FLG_WEAK), in place.

TorchSharp-cpu's libLibTorchSharp.so asks for GLIBCXX_3.4.32 (GCC 13) only for the marker symbol
std::ios_base_library_init, which nothing calls; with the requirement weak, an older libstdc++ loads it.
Run on the copy in the build output, never on the NuGet cache. Usage: weaken-glibcxx.py LIB [VERSION]
"""
import struct
import sys

path = sys.argv[1]
wanted = (sys.argv[2] if len(sys.argv) > 2 else "GLIBCXX_3.4.32").encode()
data = bytearray(open(path, "rb").read())
assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "expected a little-endian ELF64 file"
shoff, = struct.unpack_from("<Q", data, 0x28)
shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
changed = 0
for _, kind, _, _, offset, _, link, _, _, _ in sections:
    if kind != 0x6FFFFFFE:  # SHT_GNU_verneed
        continue
    strings = sections[link][4]
    need = offset
    while True:
        _, count, _, aux, following = struct.unpack_from("<HHIII", data, need)
        entry = need + aux
        for _ in range(count):
            _, flags, _, name, step = struct.unpack_from("<IHHII", data, entry)
            end = data.index(b"\0", strings + name)
            if data[strings + name:end] == wanted and not flags & 2:
                struct.pack_into("<H", data, entry + 4, flags | 2)  # VER_FLG_WEAK
                changed += 1
            entry += step
        if following == 0:
            break
        need += following
if changed:
    open(path, "wb").write(data)
print(f"{path}: {wanted.decode()} {'marked weak' if changed else 'already weak or absent'}")
