#!/usr/bin/python3
"""Writes a tiny randomly initialised GPT-2 in Hugging Face's layout (config.json + model.safetensors, Conv1D
weights stored [in, out]) and the logits an independent float64 NumPy forward pass gives for a fixed token
sequence (tokens.npy, expected_logits.npy). Needs only NumPy (Debian's python3-numpy).

Usage: /usr/bin/python3 make_gpt2_tiny.py   (writes into this folder)
"""
import json
import os
import struct

import numpy as np

C, H, L, V, P, INNER = 24, 3, 2, 60, 16, 96
EPS = 1e-5
rng = np.random.default_rng(20240531)
here = os.path.dirname(os.path.abspath(__file__))


def r(*shape, scale=0.2):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


w = {"wte.weight": r(V, C), "wpe.weight": r(P, C, scale=0.1)}
for l in range(L):
    p = f"h.{l}."
    w[p + "ln_1.weight"] = (1 + r(C, scale=0.1)).astype(np.float32)
    w[p + "ln_1.bias"] = r(C, scale=0.1)
    w[p + "attn.c_attn.weight"] = r(C, 3 * C)   # Conv1D: [in, out]
    w[p + "attn.c_attn.bias"] = r(3 * C, scale=0.1)
    w[p + "attn.c_proj.weight"] = r(C, C)
    w[p + "attn.c_proj.bias"] = r(C, scale=0.1)
    w[p + "ln_2.weight"] = (1 + r(C, scale=0.1)).astype(np.float32)
    w[p + "ln_2.bias"] = r(C, scale=0.1)
    w[p + "mlp.c_fc.weight"] = r(C, INNER)
    w[p + "mlp.c_fc.bias"] = r(INNER, scale=0.1)
    w[p + "mlp.c_proj.weight"] = r(INNER, C)
    w[p + "mlp.c_proj.bias"] = r(C, scale=0.1)
w["ln_f.weight"] = (1 + r(C, scale=0.1)).astype(np.float32)
w["ln_f.bias"] = r(C, scale=0.1)


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def layer_norm(x, g, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * g + b


def gelu_new(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def forward(tokens):
    f = {k: v.astype(np.float64) for k, v in w.items()}
    T, D = len(tokens), C // H
    x = f["wte.weight"][tokens] + f["wpe.weight"][np.arange(T)]
    causal = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(L):
        p = f"h.{l}."
        a = layer_norm(x, f[p + "ln_1.weight"], f[p + "ln_1.bias"])
        qkv = a @ f[p + "attn.c_attn.weight"] + f[p + "attn.c_attn.bias"]
        q, k, v = np.split(qkv, 3, axis=-1)
        q, k, v = (m.reshape(T, H, D).transpose(1, 0, 2) for m in (q, k, v))  # (H, T, D)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(D) + causal
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        y = (s @ v).transpose(1, 0, 2).reshape(T, C)
        x = x + y @ f[p + "attn.c_proj.weight"] + f[p + "attn.c_proj.bias"]
        m = layer_norm(x, f[p + "ln_2.weight"], f[p + "ln_2.bias"])
        x = x + gelu_new(m @ f[p + "mlp.c_fc.weight"] + f[p + "mlp.c_fc.bias"]) @ f[p + "mlp.c_proj.weight"] + f[p + "mlp.c_proj.bias"]
    return layer_norm(x, f["ln_f.weight"], f["ln_f.bias"]) @ f["wte.weight"].T


config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": C, "n_head": H, "n_layer": L,
          "n_positions": P, "n_ctx": P, "vocab_size": V, "layer_norm_epsilon": EPS, "n_inner": INNER,
          "activation_function": "gelu_new"}
with open(os.path.join(here, "config.json"), "w") as fh:
    json.dump(config, fh, indent=2)
    fh.write("\n")
write_safetensors(os.path.join(here, "model.safetensors"), w)
tokens = np.array([5, 17, 59, 0, 33, 33, 12, 48, 2, 21, 9, 40], dtype=np.int64)
np.save(os.path.join(here, "tokens.npy"), tokens)
np.save(os.path.join(here, "expected_logits.npy"), forward(tokens))
