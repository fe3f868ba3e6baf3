#!/usr/bin/python3
"""Writes the golden .npy files that tests/Heed.Core.Tests/IO/NpyTests.cs reads.

Run with Debian's NumPy (apt-get install -y python3-numpy) from any directory:
    /usr/bin/python3 tests/TestData/npy/make_npy.py
The files are small and committed, so the tests do not need Python. The values here are spelled out again in
NpyTests.cs; change both together.
"""

import os

import numpy as np
import numpy.lib.format as npformat

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, array):
    np.save(os.path.join(HERE, name), array, allow_pickle=False)


def save_version(name, array, version):
    with open(os.path.join(HERE, name), "wb") as f:
        npformat.write_array(f, array, version=version, allow_pickle=False)


# Little-endian arrays: Heed must read them and write byte-identical files.
save("f4_2x3.npy", (np.arange(6, dtype="<f4").reshape(2, 3) * 0.5 - 1))
save("f2_4.npy", np.array([1.0, -2.0, 65504.0, 0.000000059604645], dtype="<f2"))
save("f8_specials.npy", np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300], dtype="<f8"))
save("b1_2x2.npy", np.array([[True, False], [False, True]]))
save("i8_3.npy", np.array([-(2**63), -1, 2**63 - 1], dtype="<i8"))
save("f4_scalar.npy", np.array(3.5, dtype="<f4"))
save("f4_0x3.npy", np.zeros((0, 3), dtype="<f4"))
save("f4_2x3x4x1.npy", np.arange(24, dtype="<f4").reshape(2, 3, 4, 1))
# Headers where NumPy's spare room for the first axis, or its padding rule, decides the preamble length:
# rank 15 needs 192 bytes only because of the spare room; the empty rank-12 header already ends on a 64-byte
# boundary, and NumPy then pads a further 64.
save("f4_rank15.npy", np.full((1,) * 15, 7.0, dtype="<f4"))
save("f4_exact_pad.npy", np.zeros((0, 1, 1, 1, 1, 1, 1, 1, 1, 100, 1000, 1000), dtype="<f4"))

# Big-endian: Heed must byte-swap.
save("f8_be_3.npy", np.array([1.5, -2.25, 1e300], dtype=">f8"))
save("f4_be_2.npy", np.array([0.1, -3.0], dtype=">f4"))

# Later header versions.
save_version("f4_v2.npy", np.array([1.0, 2.0, 3.0], dtype="<f4"), (2, 0))
save_version("f4_v3.npy", np.array([4.0, 5.0], dtype="<f4"), (3, 0))

# Inputs Heed must refuse.
save("f8_fortran_2x3.npy", np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)))
save("i4_3.npy", np.array([1, 2, 3], dtype="<i4"))
save("c8_2.npy", np.array([1 + 2j, 3 - 4j], dtype="<c8"))
save("structured_2.npy", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i8")]))
