#!/usr/bin/env python3
"""Make one symbol-version requirement of an ELF64 shared library optional (VER_FLG_WEAK).

TorchSharp 0.107's libLibTorchSharp.so was linked against GCC 13's libstdc++ and so requires the version
GLIBCXX_3.4.32, which older libstdc++ builds (Debian 12 ships GCC 12's) lack. The only symbol it binds to that
version is std::ios_base_library_init, a marker GCC 13's <iostream> references without ever calling it. A weak
requirement lets the dynamic loader accept the library when the version is missing.

The file is rewritten through a temporary file and a rename, so a hard link into the NuGet cache is broken rather
than written through: run it on the copy in a build output, never on the package cache.

usage: weaken-glibcxx.py LIBRARY [VERSION]      (VERSION defaults to GLIBCXX_3.4.32)
"""
import os
import struct
import sys
import tempfile

SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


def weaken(data: bytearray, version: bytes) -> str:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a little-endian ELF64 file")
    (section_offset,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, section_offset + i * entry_size) for i in range(count)]
    for _name, kind, _flags, _addr, offset, _size, link, info, _align, _entsize in headers:
        if kind != SHT_GNU_VERNEED:
            continue
        strings = headers[link][4]  # sh_offset of the linked string table
        need = offset
        for _ in range(info):  # sh_info: the number of Verneed entries
            _vn_version, aux_count, _file, aux, next_need = struct.unpack_from("<HHIII", data, need)
            entry = need + aux
            for _ in range(aux_count):
                _hash, flags, _other, name, next_aux = struct.unpack_from("<IHHII", data, entry)
                end = data.index(b"\0", strings + name)
                if bytes(data[strings + name:end]) == version:
                    if flags & VER_FLG_WEAK:
                        return "already weak"
                    struct.pack_into("<H", data, entry + 4, flags | VER_FLG_WEAK)
                    return "weakened"
                entry += next_aux
            need += next_need
    return "not required"


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    path = sys.argv[1]
    version = (sys.argv[2] if len(sys.argv) == 3 else "GLIBCXX_3.4.32").encode()
    with open(path, "rb") as f:
        data = bytearray(f.read())
    try:
        outcome = weaken(data, version)
    except (ValueError, struct.error, IndexError) as error:
        print(f"weaken-glibcxx: {path}: {error}", file=sys.stderr)
        return 1
    if outcome == "weakened":
        folder = os.path.dirname(os.path.abspath(path))
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".weaken-")
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.chmod(temporary, os.stat(path).st_mode & 0o7777)
        os.replace(temporary, path)
    print(f"weaken-glibcxx: {path}: {version.decode()} {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
