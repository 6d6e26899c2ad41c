"""Independent check of the exported files: parse the GGUF bytes ourselves (gguf-py cannot read I2_S), decode
every tensor, run a numpy forward pass of the BitNet b1.58 graph (spec §4) from the file alone, and compare its
logits to the PyTorch eval-mode model. The TQ2_0 file is read with gguf-py's reader and dequantizer.
"""
import struct

import numpy as np
import torch

import gguf

GGUF_TYPES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_gguf(path):
    """Minimal GGUF v3 reader: returns (metadata dict, {name: (type id, ne list, raw bytes)})."""
    buf = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = buf[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(GGUF_TYPES[t])

    assert buf[:4] == b"GGUF" and struct.unpack_from("<I", buf, 4)[0] == 3
    pos = 8
    n_t, n_kv = take("Q"), take("Q")
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("I"))
    infos = []
    for _ in range(n_t):
        name = string()
        nd = take("I")
        ne = [take("Q") for _ in range(nd)]
        infos.append((name, ne, take("I"), take("Q")))
    align = meta.get("general.alignment", 32)
    base = (pos + align - 1) // align * align
    sizes = {0: lambda n: 4 * n, 1: lambda n: 2 * n, 36: lambda n: n // 4 + 32,
             35: lambda n: n // 256 * 66}
    tensors = {}
    for name, ne, t, off in infos:
        n = int(np.prod(ne))
        tensors[name] = (t, ne, buf[base + off:base + off + sizes[t](n)])
    return meta, tensors


def i2s_decode(raw, n, block=128):
    g = block // 4
    codes = np.frombuffer(raw[:n // 4], dtype=np.uint8).reshape(-1, g)
    vals = np.stack([(codes >> s) & 3 for s in (6, 4, 2, 0)], axis=1)      # [blocks, group, pos]
    scale = np.frombuffer(raw[n // 4:n // 4 + 4], dtype="<f4")[0]
    return vals.reshape(-1).astype(np.int8) - 1, scale


def decode_i2s_file(path):
    meta, raw = read_gguf(path)
    W = {}
    for name, (t, ne, b) in raw.items():
        shape = list(reversed(ne))
        if t == 0:
            W[name] = np.frombuffer(b, dtype="<f4").reshape(shape)
        elif t == 1:
            W[name] = np.frombuffer(b, dtype="<f2").reshape(shape).astype(np.float32)
        elif t == 36:
            tern, scale = i2s_decode(b, int(np.prod(ne)))
            W[name] = (tern.reshape(shape), np.float32(scale))
        else:
            raise ValueError(f"{name}: unexpected type {t}")
    return meta, W


def decode_tq2_file(path):
    r = gguf.GGUFReader(path)
    W = {}
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape)]
        if t.tensor_type == gguf.GGMLQuantizationType.TQ2_0:
            W[t.name] = gguf.quants.dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
        else:
            W[t.name] = np.array(t.data, dtype=np.float32).reshape(shape)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    return arch, W


def np_forward(W, hp, ids):
    """The 2B4T graph in numpy f32 from decoded GGUF tensors. A ternary weight is (t, scale) for I2_S (integer dot,
    then /s*scale, as bitnet.cpp) or a float matrix (TQ2_0 dequantized, per-token int8 activations)."""
    d, nh, nkv, ff, L = hp["d"], hp["nh"], hp["nkv"], hp["ff"], hp["L"]
    hd, eps, n = d // nh, np.float32(hp["eps"]), len(ids)

    def rms(x, w):
        return (x / np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True) + eps)).astype(np.float32) * w

    def bitlinear(x, wt):
        s = (np.float32(127.0) / np.maximum(np.abs(x).max(-1, keepdims=True), np.float32(1e-5))).astype(np.float32)
        q = np.clip(np.round(x * s), -128, 127)
        if isinstance(wt, tuple):
            t, scale = wt
            dot = (q.astype(np.int64) @ t.astype(np.int64).T).astype(np.float32)
            return dot / s * scale
        return (q / s) @ wt.T

    emb = W["token_embd.weight"]
    x = emb[ids].astype(np.float32)
    inv = 1.0 / (hp["theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    ang = np.outer(np.arange(n), inv)
    ang = np.concatenate([ang, ang], -1)
    cos, sin = np.cos(ang).astype(np.float32)[:, None], np.sin(ang).astype(np.float32)[:, None]
    rot = lambda v: np.concatenate([-v[..., hd // 2:], v[..., :hd // 2]], -1)
    mask = np.triu(np.full((n, n), -np.inf, dtype=np.float32), 1)
    for i in range(L):
        b = lambda k: W[f"blk.{i}.{k}.weight"]
        h = rms(x, b("attn_norm"))
        q = bitlinear(h, b("attn_q")).reshape(n, nh, hd)
        k = bitlinear(h, b("attn_k")).reshape(n, nkv, hd)
        v = bitlinear(h, b("attn_v")).reshape(n, nkv, hd)
        q = q * cos + rot(q) * sin
        k = k * cos + rot(k) * sin
        k, v = np.repeat(k, nh // nkv, axis=1), np.repeat(v, nh // nkv, axis=1)
        att = np.einsum("qhd,khd->hqk", q, k) / np.float32(np.sqrt(hd)) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", att, v).reshape(n, nh * hd)
        x = x + bitlinear(rms(o, b("attn_sub_norm")), b("attn_output"))
        h = rms(x, b("ffn_norm"))
        a = np.maximum(bitlinear(h, b("ffn_gate")), 0) ** 2 * bitlinear(h, b("ffn_up"))
        x = x + bitlinear(rms(a, b("ffn_sub_norm")), b("ffn_down"))
    return rms(x, W["output_norm.weight"]) @ emb.T


def compare(ref, got):
    return dict(max_abs_diff=float(np.abs(ref - got).max()),
                max_rel_diff=float((np.abs(ref - got) / (np.abs(ref).max(-1, keepdims=True))).max()),
                argmax_agreement=float((ref.argmax(-1) == got.argmax(-1)).mean()),
                logit_range=[float(ref.min()), float(ref.max())])


def verify(model, work, paths, seqs=None):
    from tokenizers import Tokenizer
    import os
    tok = Tokenizer.from_file(os.path.join(work, "data", "tokenizer.json"))
    if seqs is None:
        seqs = ["<|begin_of_text|>User: What is a cat?<|eot_id|>Assistant: A cat is a small animal.<|eot_id|>",
                "<|begin_of_text|>It is a truth universally acknowledged, that a single man in possession of a good "
                "fortune, must be in want of a wife."]
    meta, W = decode_i2s_file(paths["i2_s"])
    a = "bitnet-b1.58."
    hp = dict(d=meta[a + "embedding_length"], nh=meta[a + "attention.head_count"],
              nkv=meta[a + "attention.head_count_kv"], ff=meta[a + "feed_forward_length"], L=meta[a + "block_count"],
              eps=meta[a + "attention.layer_norm_rms_epsilon"], theta=meta[a + "rope.freq_base"])
    sd = model.state_dict()
    emb_ok = bool(np.array_equal(W["token_embd.weight"], sd["embed_tokens.weight"].half().float().numpy()))
    arch2, W2 = decode_tq2_file(paths["tq2_0"])
    tq_err = 0.0
    for name, wt in W.items():
        if isinstance(wt, tuple):
            tq_err = max(tq_err, float(np.abs(W2[name] - wt[0] * wt[1]).max() / wt[1]))
    report = dict(arch=meta["general.architecture"], tq2_arch=arch2, kv_count=len(meta),
                  token_embd_matches_f16=emb_ok, tq2_max_weight_err_rel_scale=tq_err, sequences=[])
    for text in seqs:
        ids = tok.encode(text, add_special_tokens=False).ids
        with torch.no_grad():
            ref = model(torch.tensor([ids]))[0].numpy()
        r = dict(n_tokens=len(ids), i2_s=compare(ref, np_forward(W, hp, np.array(ids))),
                 tq2_0=compare(ref, np_forward(W2, hp, np.array(ids))))
        report["sequences"].append(r)
        print(f"verify: {len(ids)} tokens: I2_S numpy-vs-torch max|diff| {r['i2_s']['max_abs_diff']:.2e} "
              f"(rel {r['i2_s']['max_rel_diff']:.1e}), argmax {100 * r['i2_s']['argmax_agreement']:.1f}%; "
              f"TQ2_0 max|diff| {r['tq2_0']['max_abs_diff']:.2e}, argmax {100 * r['tq2_0']['argmax_agreement']:.1f}%",
              flush=True)
    assert emb_ok and report["sequences"][0]["i2_s"]["argmax_agreement"] > 0.9
    return report
