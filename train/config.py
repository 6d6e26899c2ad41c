"""The one place that fixes every choice of the embedded model's recipe.

Changing anything here changes the committed model; `make model` reproduces it only with these values.
"""

SEED = 1234

# Tokenizer: byte-level BPE with the Llama-3 pre-tokenizer (what the runtime and HF use for 2B4T).
VOCAB_SIZE = 4096
BOS, EOS, EOT = "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"
SPECIALS = [BOS, EOS, EOT]
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Model: BitNet b1.58 (2B4T layout) at small scale. d and ff are multiples of 256 (TQ2_0) and 128 (I2_S).
MODEL = dict(d=256, layers=8, n_head=4, n_kv_head=2, ff=768, ctx=256, rope_theta=10000.0, eps=1e-5)

# Training: a fixed number of steps (not a time budget), one CPU thread, f32 (this CPU has no native bf16:
# bf16 matmuls were 7x slower than f32 here).
TRAIN = dict(steps=1200, batch=8, lr=2.5e-3, min_lr_frac=0.1, warmup=100, weight_decay=0.05, beta1=0.9,
             beta2=0.95, grad_clip=1.0, eval_every=100, eval_batches=4, threads=1, bf16=False)

# Stage 2 (train/finetune.py): a short fixed-step fine-tune on chat data, repeating everyday-word definitions.
FINETUNE = dict(steps=180, lr=1e-3, warmup=20, repeats=12, general_definitions=2500, stories=2000, smalltalk=1500)

# Corpus mix (number of documents or characters taken from each source; all deterministic).
DATA = dict(
    austen_chars=4_100_000,       # all six novels
    kjv_chars=700_000,            # the first books of the KJV, verse per line
    shakespeare_chars=700_000,    # a fixed selection of plays (modern-spelling Gutenberg texts)
    prose_chunk_chars=900,        # prose documents are paragraphs packed up to this length
    definitions=60_000,           # WordNet chat Q&A documents (frequent words repeated)
    stories=14_000,               # template-built short stories in chat format
    smalltalk=9_000,              # greetings and small talk in chat format
    val_frac=0.02,
)

SYSTEM_PROMPTS = [
    "You are a helpful assistant.",
    "You are a friendly assistant.",
    "You are a helpful AI assistant.",
    "You are a kind and helpful assistant. Answer briefly.",
]

MODEL_NAME = "bitnet-tiny-chat"
