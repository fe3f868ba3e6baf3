#!/usr/bin/env python3
"""Writes nfd-stripped.txt: for every code point whose canonical decomposition (NFD) differs from itself, the NFD with
its non-spacing marks (category Mn) removed, as lines "CODEPOINT [TARGET ...]" (hex).

Hugging Face's BertTokenizer strips accents by normalizing to NFD and dropping every Mn code point. .NET cannot
decompose under invariant globalization, so the composed result ships as data; WordPieceTokenizer drops standalone
Mn code points itself and decomposes Hangul syllables by the Unicode algorithm (they are left out here).
Run with Debian's python3: python3 make_nfd_stripped.py > nfd-stripped.txt
"""
import sys
import unicodedata

out = sys.stdout
out.write(f"# NFD without Mn, Unicode {unicodedata.unidata_version}; made by make_nfd_stripped.py\n")
for cpt in range(0x110000):
    if 0xD800 <= cpt <= 0xDFFF or 0xAC00 <= cpt <= 0xD7A3:
        continue
    nfd = unicodedata.normalize("NFD", chr(cpt))
    if nfd == chr(cpt):
        continue
    kept = [f"{ord(c):X}" for c in nfd if unicodedata.category(c) != "Mn"]
    out.write(" ".join([f"{cpt:X}"] + kept) + "\n")
