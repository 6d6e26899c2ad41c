"""Stage 2: a short, fixed-step fine-tune of the pre-trained checkpoint on chat data only.

The pre-training mix (one pass over less than half the corpus) teaches the format, greetings and story shapes,
but not definitions of everyday words: the WordNet part is 17k words wide. This stage repeats the first-sense
definitions of the few hundred everyday words in chatgen.COMMON many times, with replayed general definitions,
stories and small talk so that nothing else is forgotten. Input run/pretrain.pt, output run/model.pt.
"""
import collections
import json
import math
import os
import random
import re
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import chatgen, sources
from .config import FINETUNE, SEED, SYSTEM_PROMPTS, TRAIN
from .corpus import render_chat
from .model import BitNetLM
from .trainer import evaluate, load_split, windows


def focus_documents(work):
    rnd = random.Random(SEED + 2)
    wn = sources.wordnet(work)
    austen = sources.austen(work)
    freq = collections.Counter(w for p in austen for w in re.findall(r"[a-z]+", p.lower()))
    common = [r for r in wn if r[1] in chatgen.COMMON]
    convs = []
    for _ in range(FINETUNE["repeats"]):
        for r in common:
            convs.append(chatgen.definition_doc(rnd, r))
    convs += chatgen.definition_docs(rnd, wn, FINETUNE["general_definitions"], freq)
    convs += chatgen.story_docs(rnd, FINETUNE["stories"])
    convs += chatgen.smalltalk_docs(rnd, FINETUNE["smalltalk"])
    rnd.shuffle(convs)
    return [render_chat(c, rnd.choice(SYSTEM_PROMPTS) if rnd.random() < 0.2 else None) for c in convs]


def encode(work, docs):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(work, "data", "tokenizer.json"))
    segs = [s for d in docs for s in d]
    it = iter(tok.encode_batch(segs, add_special_tokens=False))
    arrs = [np.concatenate([np.asarray(next(it).ids, dtype=np.int64) for _ in d]) for d in docs]
    lens = np.array([len(a) for a in arrs])
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    ids = torch.from_numpy(np.concatenate(arrs))
    return ids, torch.from_numpy(starts[starts < len(ids) - 257])


def finetune(work):
    torch.set_num_threads(TRAIN["threads"])
    torch.manual_seed(SEED + 3)
    run = os.path.join(work, "run")
    t0 = time.time()
    ids, starts = encode(work, focus_documents(work))
    print(f"finetune: {len(starts)} documents, {len(ids)} tokens (built in {time.time() - t0:.0f}s)", flush=True)
    ck = torch.load(os.path.join(run, "pretrain.pt"), map_location="cpu")
    model = BitNetLM(**ck["cfg"])
    model.load_state_dict(ck["state"])
    va_ids, va_starts = load_split(work, "val")
    decay = [p for p in model.parameters() if p.dim() == 2]
    nodecay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": TRAIN["weight_decay"]},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=FINETUNE["lr"], betas=(TRAIN["beta1"], TRAIN["beta2"]))
    g = torch.Generator().manual_seed(SEED + 4)
    steps, warm, log, tokens, t0 = FINETUNE["steps"], FINETUNE["warmup"], [], 0, time.time()
    model.train()
    for step in range(steps):
        frac = max(0, step - warm) / max(1, steps - warm)
        lr = FINETUNE["lr"] * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for grp in opt.param_groups:
            grp["lr"] = lr
        x, y = windows(ids, starts, torch.randint(len(starts), (TRAIN["batch"],), generator=g))
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), TRAIN["grad_clip"])
        opt.step()
        tokens += x.numel()
        if (step + 1) % 20 == 0 or step + 1 == steps:
            rec = dict(step=step + 1, tokens=tokens, sec=round(time.time() - t0, 1), loss=round(loss.item(), 4),
                       lr=round(lr, 6))
            log.append(rec)
            print(json.dumps(rec), flush=True)
    el = time.time() - t0
    val = evaluate(model, va_ids, va_starts, 4 * TRAIN["eval_batches"], TRAIN["batch"])
    summary = dict(steps=steps, tokens=tokens, seconds=round(el), focus_tokens=len(ids), val_loss_after=round(val, 4))
    print("finetune done:", json.dumps(summary), flush=True)
    torch.save({"cfg": model.cfg, "state": model.state_dict()}, os.path.join(run, "model.pt"))
    with open(os.path.join(run, "finetune_log.json"), "w") as f:
        json.dump(dict(summary=summary, log=log, finetune=FINETUNE), f, indent=1)
    return summary
