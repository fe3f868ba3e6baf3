#!/usr/bin/python3
"""Independent reference for the llama2.c tokenizer (tok*.bin): prints the ids that
Heed.Models.Tests/LlamaTokenizerTests.cs expects, one line per test string.

Usage: python3 encode_reference.py ../../../../shared/models/stories260K/tok512.bin
"""
import struct
import sys


def load(path):
    data = open(path, "rb").read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    at, pieces, scores = 4, [], []
    while at < len(data):
        score, n = struct.unpack_from("<fi", data, at)
        at += 8
        pieces.append(data[at:at + n])
        scores.append(score)
        at += n
    return pieces, scores


def encode(pieces, scores, text, bos=True):
    index = {}
    for i, p in enumerate(pieces):
        index.setdefault(p, i)
    out = [1] if bos else []
    raw = text.encode("utf-8")
    if raw:
        out.append(index[b" "])
    # split into code points (a lead byte and its continuation bytes, at most 4 bytes)
    chunks, cur = [], b""
    for b in raw:
        if (b & 0xC0) != 0x80 or len(cur) >= 4:
            if cur:
                chunks.append(cur)
            cur = b""
        cur += bytes([b])
    if cur:
        chunks.append(cur)
    for ch in chunks:
        if ch in index:
            out.append(index[ch])
        else:
            out.extend(index[b"<0x%02X>" % b] for b in ch)
    while True:
        best = None
        for i in range(len(out) - 1):
            j = index.get(pieces[out[i]] + pieces[out[i + 1]])
            if j is not None and scores[j] > -1e10 and (best is None or scores[j] > best[0]):
                best = (scores[j], i, j)
        if best is None:
            break
        _, i, j = best
        out[i:i + 2] = [j]
    return out


TEXTS = [
    "Once upon a time",
    "Lily's mom said, \"Let's go!\"",
    "héllo wörld",
    "日本語 🦙",
    "tab\there\nnew line",
    "",
]

if __name__ == "__main__":
    pieces, scores = load(sys.argv[1])
    for t in TEXTS:
        print(repr(t), encode(pieces, scores, t))
