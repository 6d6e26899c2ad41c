"""Train the model for a fixed number of steps on one CPU thread (bf16 autocast), fully seeded.

Batches are windows of ctx+1 tokens that start at a document start (so <|begin_of_text|> sits at position 0, as in
chat use); windows run on into the following documents. The schedule is linear warm-up then cosine to min_lr_frac.
"""
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from .config import MODEL, SEED, TRAIN, VOCAB_SIZE
from .model import BitNetLM


def load_split(work, split):
    d = os.path.join(work, "data")
    ids = torch.from_numpy(np.fromfile(os.path.join(d, f"{split}.bin"), dtype=np.uint16).astype(np.int64))
    starts = np.load(os.path.join(d, f"{split}_starts.npy"))
    ctx = MODEL["ctx"]
    starts = torch.from_numpy(starts[starts < len(ids) - ctx - 1])
    return ids, starts


def windows(ids, starts, pick):
    ctx = MODEL["ctx"]
    x = torch.stack([ids[s:s + ctx] for s in starts[pick].tolist()])
    y = torch.stack([ids[s + 1:s + ctx + 1] for s in starts[pick].tolist()])
    return x, y


@torch.no_grad()
def evaluate(model, ids, starts, n_batches, batch):
    """Mean loss over fixed, seeded validation windows (eval mode = the exported model's arithmetic)."""
    was = model.training
    model.eval()
    g = torch.Generator().manual_seed(SEED + 7)
    losses = []
    for _ in range(n_batches):
        x, y = windows(ids, starts, torch.randint(len(starts), (batch,), generator=g))
        losses.append(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item())
    model.train(was)
    return sum(losses) / len(losses)


def lr_at(step):
    t = TRAIN
    if step < t["warmup"]:
        return t["lr"] * (step + 1) / t["warmup"]
    frac = (step - t["warmup"]) / max(1, t["steps"] - t["warmup"])
    return t["lr"] * (t["min_lr_frac"] + (1 - t["min_lr_frac"]) * 0.5 * (1 + math.cos(math.pi * frac)))


def train(work, steps=None):
    torch.set_num_threads(TRAIN["threads"])
    torch.manual_seed(SEED)
    steps = steps or TRAIN["steps"]
    out = os.path.join(work, "run")
    os.makedirs(out, exist_ok=True)
    tr_ids, tr_starts = load_split(work, "train")
    va_ids, va_starts = load_split(work, "val")
    model = BitNetLM(VOCAB_SIZE, **MODEL)
    n_float = sum(p.numel() for p in model.parameters()) - model.ternary_params()
    print(f"model: {model.ternary_params() / 1e6:.2f}M ternary + {n_float / 1e6:.2f}M float parameters; "
          f"train {len(tr_ids)} tokens, {len(tr_starts)} documents; {steps} steps of "
          f"{TRAIN['batch']}x{MODEL['ctx']} tokens", flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    nodecay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": TRAIN["weight_decay"]},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=TRAIN["lr"], betas=(TRAIN["beta1"], TRAIN["beta2"]))
    g = torch.Generator().manual_seed(SEED)
    log, t0, tokens = [], time.time(), 0
    model.train()
    for step in range(steps):
        lr = lr_at(step) if steps == TRAIN["steps"] else TRAIN["lr"] * min(1.0, (step + 1) / 10)
        for grp in opt.param_groups:
            grp["lr"] = lr
        x, y = windows(tr_ids, tr_starts, torch.randint(len(tr_starts), (TRAIN["batch"],), generator=g))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=TRAIN["bf16"]):
            logits = model(x)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), TRAIN["grad_clip"])
        opt.step()
        tokens += x.numel()
        if (step + 1) % 25 == 0 or step == 0 or step + 1 == steps:
            el = time.time() - t0
            rec = dict(step=step + 1, tokens=tokens, sec=round(el, 1), loss=round(loss.item(), 4), lr=round(lr, 6),
                       tok_per_s=round(tokens / el))
            if (step + 1) % TRAIN["eval_every"] == 0 or step + 1 == steps:
                rec["val"] = round(evaluate(model, va_ids, va_starts, TRAIN["eval_batches"], TRAIN["batch"]), 4)
            log.append(rec)
            print(json.dumps(rec), flush=True)
    el = time.time() - t0
    final = evaluate(model, va_ids, va_starts, 4 * TRAIN["eval_batches"], TRAIN["batch"])
    summary = dict(steps=steps, tokens=tokens, seconds=round(el), tok_per_s=round(tokens / el),
                   epochs=round(tokens / len(tr_ids), 3), final_val_loss=round(final, 4),
                   final_val_ppl=round(math.exp(final), 2), val_tokens_evaluated=4 * TRAIN["eval_batches"] *
                   TRAIN["batch"] * MODEL["ctx"], ternary_params=model.ternary_params(), float_params=n_float)
    print("done:", json.dumps(summary), flush=True)
    torch.save({"cfg": model.cfg, "state": model.state_dict()}, os.path.join(out, "pretrain.pt"))
    with open(os.path.join(out, "train_log.json"), "w") as f:
        json.dump(dict(summary=summary, log=log, train=TRAIN, model=MODEL), f, indent=1)
    return summary
