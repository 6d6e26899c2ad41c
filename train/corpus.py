"""Build the training corpus and the tokenizer, and encode everything to token ids.

Outputs in WORK/data: tokenizer.json, train.bin / val.bin (uint16 ids), train_starts.npy / val_starts.npy
(document start offsets: every document begins with <|begin_of_text|>), stats.json, samples.txt.
"""
import collections
import json
import re
import os
import random
import time

import numpy as np

from . import chatgen, sources
from .config import BOS, DATA, EOS, EOT, LLAMA3_REGEX, SEED, SPECIALS, SYSTEM_PROMPTS, VOCAB_SIZE


def make_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(texts):
    from tokenizers import pre_tokenizers, trainers
    tok = make_tokenizer()
    tr = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIALS, min_frequency=2, show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, tr)
    return tok


def render_chat(turns, system=None):
    """A conversation as (text, is_prompt) segments in the exact 2B4T format. The reply is its own segment so that
    it is tokenized as the runtime sees it: the prompt ends with "Assistant: " (a lone space token)."""
    segs = []
    head = BOS + (f"System: {system}{EOT}" if system else "")
    for role, text in turns:
        if role == "user":
            segs.append(head + f"User: {text}{EOT}Assistant: ")
            head = ""
        else:
            segs.append(text)
            segs.append(EOT)
    return segs


def prose_docs(paras, limit_chars, chunk):
    docs, cur, total = [], [], 0
    for p in paras:
        if total >= limit_chars:
            break
        cur.append(p)
        total += len(p)
        if sum(len(x) for x in cur) >= chunk:
            docs.append([BOS + "\n\n".join(cur) + EOS])
            cur = []
    if cur:
        docs.append([BOS + "\n\n".join(cur) + EOS])
    return docs


def build_documents(work):
    rnd = random.Random(SEED)
    t0 = time.time()
    wn = sources.wordnet(work)
    austen, kjv, shakespeare = sources.austen(work), sources.kjv(work), sources.shakespeare(work)
    freq = collections.Counter(w for p in austen for w in re.findall(r"[a-z]+", p.lower()))
    defs = chatgen.definition_docs(rnd, wn, DATA["definitions"], freq)
    stories = chatgen.story_docs(rnd, DATA["stories"])
    talk = chatgen.smalltalk_docs(rnd, DATA["smalltalk"])
    mixed = chatgen.mixed_docs(rnd, defs[:5000], stories[:3000], talk[:3000], DATA["smalltalk"] // 3)
    chats = {"definitions": defs, "stories": stories, "smalltalk": talk, "multi_turn": mixed}
    docs = {}
    for name, convs in chats.items():
        docs[name] = [render_chat(c, rnd.choice(SYSTEM_PROMPTS) if rnd.random() < 0.2 else None) for c in convs]
    docs["austen"] = prose_docs(austen, DATA["austen_chars"], DATA["prose_chunk_chars"])
    docs["kjv"] = prose_docs(kjv, DATA["kjv_chars"], DATA["prose_chunk_chars"])
    docs["shakespeare"] = prose_docs(shakespeare, DATA["shakespeare_chars"], DATA["prose_chunk_chars"])
    print(f"corpus: built documents in {time.time() - t0:.1f}s: "
          + ", ".join(f"{k} {len(v)}" for k, v in docs.items()), flush=True)
    return docs


def prepare(work):
    out = os.path.join(work, "data")
    os.makedirs(out, exist_ok=True)
    docs = build_documents(work)
    t0 = time.time()
    # the tokenizer learns from the text without the special tokens
    plain = []
    for name in sorted(docs):
        for d in docs[name]:
            s = "".join(d)
            for sp in SPECIALS:
                s = s.replace(sp, "\n")
            plain.append(s)
    tok = train_tokenizer(plain)
    tok.save(os.path.join(out, "tokenizer.json"))
    print(f"tokenizer: vocab {tok.get_vocab_size()} in {time.time() - t0:.1f}s", flush=True)
    assert [tok.token_to_id(s) for s in SPECIALS] == [0, 1, 2]

    # encode every segment separately, then split documents into train/val (seeded, per source)
    t0 = time.time()
    rnd = random.Random(SEED + 1)
    splits = {"train": [], "val": []}
    stats = {}
    for name in sorted(docs):
        segs = [s for d in docs[name] for s in d]
        enc = tok.encode_batch(segs, add_special_tokens=False)
        it = iter(enc)
        ids = [np.concatenate([np.asarray(next(it).ids, dtype=np.uint16) for _ in d]) for d in docs[name]]
        order = list(range(len(ids)))
        rnd.shuffle(order)
        n_val = max(1, int(len(ids) * DATA["val_frac"]))
        for k, i in enumerate(order):
            splits["val" if k < n_val else "train"].append(ids[i])
        stats[name] = dict(documents=len(ids), tokens=int(sum(len(x) for x in ids)),
                           chars=int(sum(len("".join(d)) for d in docs[name])))
    for split, arrs in splits.items():
        rnd.shuffle(arrs)
        lens = np.array([len(a) for a in arrs])
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        np.concatenate(arrs).tofile(os.path.join(out, f"{split}.bin"))
        np.save(os.path.join(out, f"{split}_starts.npy"), starts)
        stats[f"{split}_tokens"] = int(lens.sum())
    print(f"corpus: encoded in {time.time() - t0:.1f}s: train {stats['train_tokens']} tokens, "
          f"val {stats['val_tokens']} tokens", flush=True)
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    with open(os.path.join(out, "samples.txt"), "w") as f:
        for name in sorted(docs):
            for d in docs[name][:3]:
                f.write(f"--- {name}\n{''.join(d)[:1200]}\n")
    return stats
