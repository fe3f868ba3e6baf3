#!/usr/bin/python3
"""Independent reference for llama2.c's sampler (xorshift64*, multinomial, top-p) in float32 via numpy.
Prints the token sequences Heed.Models.Tests/SamplerTests.cs expects."""
import numpy as np

MASK = (1 << 64) - 1


class Rng:
    def __init__(self, seed):
        self.state = seed

    def u32(self):
        s = self.state
        s ^= s >> 12
        s ^= (s << 25) & MASK
        s ^= s >> 27
        self.state = s
        return ((s * 0x2545F4914F6CDD1D) & MASK) >> 32

    def f32(self):
        return np.float32(self.u32() >> 8) / np.float32(16777216.0)


def softmax(x):
    x = x - x.max()
    e = np.exp(x).astype(np.float32)
    return (e / e.sum(dtype=np.float32)).astype(np.float32)


def sample(logits, temperature, topp, rng):
    p = softmax((logits / np.float32(temperature)).astype(np.float32))
    coin = rng.f32()
    if topp <= 0 or topp >= 1:
        cdf = np.float32(0)
        for i, v in enumerate(p):
            cdf = np.float32(cdf + v)
            if coin < cdf:
                return i
        return len(p) - 1
    cutoff = np.float32((1 - np.float32(topp)) / (len(p) - 1))
    cand = sorted([i for i in range(len(p)) if p[i] >= cutoff], key=lambda i: (-p[i], i))
    cum, last = np.float32(0), len(cand) - 1
    for r, i in enumerate(cand):
        cum = np.float32(cum + p[i])
        if cum > topp:
            last = r
            break
    r2 = np.float32(coin * cum)
    cdf = np.float32(0)
    for r in range(last + 1):
        cdf = np.float32(cdf + p[cand[r]])
        if r2 < cdf:
            return cand[r]
    return cand[last]


LOGITS = np.array([1.0, 2.5, 0.3, 2.4, -1.0, 0.0, 1.7, 2.0], dtype=np.float32)

if __name__ == "__main__":
    rng = Rng(42)
    print("rng(42) u32:", [rng.u32() for _ in range(4)])
    for temperature, topp in [(1.0, 0.0), (0.8, 0.9), (1.5, 0.5)]:
        rng = Rng(1234)
        print(temperature, topp, [sample(LOGITS, np.float32(temperature), topp, rng) for _ in range(16)])
