#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under fuzz/corpus/<target>/ (make fuzz runs it).

gguf_stream and loader: the committed GGUF fixtures and small real models, each behind one byte that
picks the chunk size. tokenizer: a few vocabulary shapes in its input scheme (fuzz_targets/
tokenizer.rs). template: the committed chat templates with a conversation in its input scheme
(fuzz_targets/template.rs).
"""
import glob
import os
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


for path in glob.glob(os.path.join(root, "tests/fixtures/gguf/*.gguf")):
    write("gguf_stream", os.path.basename(path), b"\x07" + read(path))
    write("loader", os.path.basename(path), b"\x07" + read(path))
models = glob.glob(os.path.join(root, "tests/fixtures/reference/*.gguf"))
models += glob.glob(os.path.join(root, "www/models/bitnet-tiny-chat.tq2_0.gguf"))
for path in models:
    if os.path.getsize(path) <= 5 << 20:
        # 1 + 200^2: chunks of 40 KB, and one of 1 byte for the header's field boundaries.
        write("loader", os.path.basename(path), bytes([200]) + read(path))
write("loader", "bytewise-" + os.path.basename(models[0]), b"\x00" + read(models[0])[:4096])


def string(s):
    b = s.encode()[:15]
    return bytes([len(b)]) + b


def vocab(flags, tokens, merges, keys, ids, bools, pre, text):
    out = bytes([flags, len(tokens)]) + b"".join(string(t) for t in tokens)
    out += bytes([len(merges)]) + b"".join(bytes([a, b, 0]) for a, b in merges)
    out += bytes([0, 0])  # no raw merges, no type changes
    out += bytes([keys]) + bytes(ids) + bytes([bools, pre]) + text.encode()
    return out


text = "Hello world! <|eot_id|> It's 2024: naïve café, 日本語 🙂\n\tdone.\x01 user <s> text\x01"
# Byte-level with the alphabet, Llama-3 pre-tokenizer, specials as control tokens.
write("tokenizer", "gpt2", vocab(2, ["<|eot_id|>", "<s>", "Hello", "Ġworld"], [(72, 101), (108, 108)], 0x04 | 0x08, [0, 0, 0, 0], 0, 0, text))
write("tokenizer", "gpt2-default", vocab(2, ["ab", "Ġ"], [(65, 66), (32, 33)], 0x04 | 0x08 | 0x30, [1, 3, 0, 0], 0x3f, 3, text))
# SentencePiece with byte pieces and scores.
write("tokenizer", "spm", vocab(3, ["<unk>", "<s>", "</s>", "\u2581", "\u2581H", "el", "lo"], [(3, 4), (5, 6)], 0x03, [3, 5, 0, 1], 0x15, 0, text))
write("tokenizer", "spm-noalpha", vocab(1, ["<unk>", "a", "b", "\u2581"], [(1, 2)], 0x02, [0, 0, 0, 1], 0, 0, text))

conversation = b"\0\x00You are helpful.\0\x01Hello!\0\x02Hi, how can I help?\0\x01Say <|eot_id|> twice.  "
for path in glob.glob(os.path.join(root, "tests/fixtures/templates/*.jinja")):
    src = read(path)
    write("template", os.path.basename(path), b"\x01" + src + conversation)
    write("template", "nogen-" + os.path.basename(path), b"\x02" + src + b"\0\x01x")
write("template", "loop", b"\x01{% for m in messages %}{{ m.role }}: {{ m.content | trim }}\n{% endfor %}" + conversation)
write("template", "big", b"\x01{{ 'x' * 100000000 }}")
print("seeds written under", corpus, file=sys.stderr)
