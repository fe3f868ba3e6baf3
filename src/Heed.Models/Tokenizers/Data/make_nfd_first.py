#!/usr/bin/env python3
"""Writes nfd-first.txt: for every code point whose canonical decomposition (NFD) starts with another code point,
that first code point, as runs "FIRST LAST TARGET" (hex) of consecutive code points with the same target.

WordPiece (BERT) preprocessing as llama.cpp does it maps each code point to the first code point of its NFD, which
strips the accents of precomposed letters (e.g. U+00FC -> u). .NET cannot decompose under invariant globalization,
so the mapping ships as data. Hangul syllables are left out: their decomposition is algorithmic (WordPieceTokenizer
computes the leading jamo). Run with Debian's python3: python3 make_nfd_first.py > nfd-first.txt
"""
import sys
import unicodedata

runs = []
for cpt in range(0x110000):
    if 0xD800 <= cpt <= 0xDFFF or 0xAC00 <= cpt <= 0xD7A3:
        continue
    first = ord(unicodedata.normalize("NFD", chr(cpt))[0])
    if first == cpt:
        continue
    if runs and runs[-1][1] == cpt - 1 and runs[-1][2] == first:
        runs[-1][1] = cpt
    else:
        runs.append([cpt, cpt, first])

out = sys.stdout
out.write(f"# NFD first code point, Unicode {unicodedata.unidata_version}; made by make_nfd_first.py\n")
for first, last, target in runs:
    out.write(f"{first:X} {last:X} {target:X}\n")
