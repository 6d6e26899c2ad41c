"""Export the trained checkpoint to GGUF, laid out like Microsoft's official ggml-model-i2_s.gguf (spec §3.1):

- bitnet-tiny-chat.i2_s.gguf: arch "bitnet-b1.58", F16 token_embd (tied head), F32 norms, ternary projections as
  I2_S (type 36, 128/32 layout, MSB-first, one f32 scale per tensor = the absmean scale: W = (code - 1) * scale).
- bitnet-tiny-chat.tq2_0.gguf: arch "bitnet" with bitnet.hidden_activation = "relu2", projections as TQ2_0
  (gguf.quants), for upstream-llama.cpp peers such as wllama.
"""
import json
import os

import numpy as np
import torch

import gguf
from gguf import GGMLQuantizationType as QT

from .config import BOS, EOS, EOT, MODEL_NAME, SPECIALS
from .model import BitNetLM, ternarize

I2_S = 36          # microsoft/BitNet fork's type id; gguf-py has no constant for it
FTYPE_I2_S = 40    # LLAMA_FTYPE_MOSTLY_I2_S in the fork

# An HF-style Jinja template rendering the 2B4T chat format (spec §5.5, format 1).
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}"
    "{{ message['role'] | capitalize + ': ' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}")

PROJ = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down"}
NORMS = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
         "self_attn.attn_sub_norm": "attn_sub_norm", "mlp.ffn_sub_norm": "ffn_sub_norm"}


def i2s_encode(t, scale, block=128):
    """Spec §2.9 variant A: t is the ternary tensor (-1/0/+1) flattened row-major over the whole tensor.
    Byte p of each block holds elements p, g+p, 2g+p, 3g+p (g = block/4), MSB first, code = t + 1;
    then one f32 scale and 28 zero bytes. Returns ne/4 + 32 bytes."""
    t = np.asarray(t).reshape(-1)
    assert t.size % block == 0
    codes = (t + 1).astype(np.uint8).reshape(-1, 4, block // 4)
    packed = (codes[:, 0] << 6) | (codes[:, 1] << 4) | (codes[:, 2] << 2) | codes[:, 3]
    return packed.reshape(-1).tobytes() + np.float32(scale).tobytes() + bytes(28)


def load_checkpoint(work):
    ck = torch.load(os.path.join(work, "run", "model.pt"), map_location="cpu")
    model = BitNetLM(**ck["cfg"])
    model.load_state_dict(ck["state"])
    model.eval()
    return model


def tokenizer_vocab(work):
    with open(os.path.join(work, "data", "tokenizer.json")) as f:
        tj = json.load(f)
    vocab = tj["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    assert [vocab[t] for t in tokens] == list(range(len(tokens)))
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    special = {t["content"]: t["id"] for t in tj["added_tokens"]}
    assert set(special) == set(SPECIALS)
    return tokens, merges, special


def tensors(model):
    """(gguf name, kind, payload) in the official file's name-sorted order. kind: f16, f32 or ternary."""
    sd = {k: v.detach().float() for k, v in model.state_dict().items()}
    out = {"token_embd.weight": ("f16", sd["embed_tokens.weight"].numpy().astype(np.float16)),
           "output_norm.weight": ("f32", sd["norm.weight"].numpy())}
    for i in range(model.cfg["layers"]):
        for hf, gg in NORMS.items():
            out[f"blk.{i}.{gg}.weight"] = ("f32", sd[f"layers.{i}.{hf}.weight"].numpy())
        for hf, gg in PROJ.items():
            t, m = ternarize(sd[f"layers.{i}.{hf}.weight"])
            out[f"blk.{i}.{gg}.weight"] = ("ternary", (t.numpy().astype(np.int8), np.float32(m.item())))
    return [(k, *out[k]) for k in sorted(out)]


def write_gguf(model, work, path, variant):
    cfg = model.cfg
    tokens, merges, special = tokenizer_vocab(work)
    assert len(tokens) == cfg["vocab"]
    arch = "bitnet-b1.58" if variant == "i2_s" else "bitnet"
    w = gguf.GGUFWriter(path, arch)
    w.add_name(MODEL_NAME)
    w.add_vocab_size(cfg["vocab"])
    w.add_context_length(cfg["ctx"])
    w.add_embedding_length(cfg["d"])
    w.add_block_count(cfg["layers"])
    w.add_feed_forward_length(cfg["ff"])
    w.add_rope_dimension_count(cfg["d"] // cfg["n_head"])
    w.add_head_count(cfg["n_head"])
    w.add_head_count_kv(cfg["n_kv_head"])
    w.add_add_bos_token(True)
    w.add_layer_norm_rms_eps(cfg["eps"])
    w.add_rope_freq_base(cfg["rope_theta"])
    if variant == "i2_s":
        w.add_file_type(FTYPE_I2_S)
    else:
        w.add_file_type(gguf.LlamaFileType.MOSTLY_TQ2_0)
        w.add_string(f"{arch}.hidden_activation", "relu2")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_scores([-1000.0 if t in special else 0.0 for t in tokens])
    w.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    w.add_token_merges(merges)
    w.add_bos_token_id(special[BOS])
    w.add_eos_token_id(special[EOS])
    w.add_pad_token_id(special[EOS])
    w.add_eot_token_id(special[EOT])
    w.add_chat_template(CHAT_TEMPLATE)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for name, kind, payload in tensors(model):
        if kind in ("f16", "f32"):
            w.add_tensor(name, payload)
        elif variant == "i2_s":
            t, m = payload
            w.add_tensor(name, np.frombuffer(i2s_encode(t, m), dtype=np.int8), raw_shape=list(t.shape),
                         raw_dtype=I2_S)
        else:
            t, m = payload
            w.add_tensor(name, gguf.quants.quantize(t.astype(np.float32) * m, QT.TQ2_0), raw_dtype=QT.TQ2_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"export: wrote {path} ({os.path.getsize(path)} bytes)", flush=True)


def export_all(work, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model = load_checkpoint(work)
    paths = {}
    for variant in ("i2_s", "tq2_0"):
        paths[variant] = os.path.join(out_dir, f"{MODEL_NAME}.{variant}.gguf")
        write_gguf(model, work, paths[variant], variant)
    from .verify import verify
    report = verify(model, work, paths)
    with open(os.path.join(work, "run", "verify.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report
