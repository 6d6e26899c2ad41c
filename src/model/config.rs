//! Hyper-parameters from GGUF metadata, per architecture.

use crate::gguf::Gguf;

use super::ModelError;
use super::evidence::{self, Activation, Decision};

/// The architectures this runtime runs (spec §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Microsoft's 2B4T (`bitnet-b1.58`, and its earlier name `bitnet-25`): ReLU², sub-norms, tied head.
    BitnetB158,
    /// 1bitLLM's community models (`bitnet`): sub-norms, SiLU unless `bitnet.hidden_activation` says
    /// otherwise, optional per-projection `.scale` tensors.
    Bitnet,
    /// Llama-architecture models with ternary weights (e.g. Falcon3 1.58-bit): no sub-norms, SiLU.
    Llama,
    /// Microsoft's BitNet-embedding-0.6B (`qwen3`, as utils/convert-bitnet-embedding-to-gguf.py writes
    /// it): Qwen3's graph with an RMSNorm before every projection (`*_norm_in`; o's and down's stand
    /// where BitNet's sub-norms do), per-head q/k norms, a head size of its own (`key_length`), SiLU,
    /// and no LM head: it embeds text, pooled as `{arch}.pooling_type` says.
    Qwen3,
    /// Microsoft's BitNet-embedding-270M (`gemma3`, from the same converter): Gemma 3's graph with the
    /// same per-projection and head norms, GELU (tanh), norms after attention and after the FFN,
    /// embeddings scaled by √width, and sliding-window attention in five layers of six.
    Gemma3,
}

/// Gemma 3's local attention: layers attend to their last `window` positions, with their own rotary
/// base, except every `every`-th layer, which attends to all of them with the file's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlidingWindow {
    pub window: usize,
    pub every: usize,
    pub theta: f32,
}

/// How an embedding model turns its last hidden states into one vector (`{arch}.pooling_type`,
/// llama.cpp's numbering: 1 mean, 2 CLS, 3 last). The vector is then L2-normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    /// The first token's.
    Cls,
    /// The last token's (BitNet-embedding's: its tokenizer appends EOS).
    Last,
}

impl Pooling {
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Last => "last",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Pairs (i, i + head_dim/2): HF `rotate_half`, ggml NEOX. The BitNet archs.
    Neox,
    /// Pairs (2i, 2i + 1): ggml NORM. GGUF llama files have q/k permuted for it.
    Interleaved,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub arch: Arch,
    /// The `general.architecture` string, which prefixes every hyper-parameter key.
    pub arch_name: String,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Each attention head's width: `n_embd / n_head`, unless `{arch}.attention.key_length` says
    /// otherwise (BitNet-embedding-0.6B: 128, not 1024 / 16).
    pub head_dim: usize,
    pub n_ctx_train: usize,
    pub rope_theta: f32,
    pub rope_style: RopeStyle,
    pub rms_eps: f32,
    pub activation: Activation,
    /// How the activation was decided, from which clues, and what disagreed (`evidence.rs`).
    pub decision: Decision,
    pub sub_norms: bool,
    /// An RMSNorm before the q, k, v, gate and up projections' inputs (BitNet-embedding).
    pub proj_norms: bool,
    /// Qwen3's RMSNorm over each head of q and k, before the rotation.
    pub qk_norm: bool,
    /// An embedding model's pooling (`None`: a language model, whose output is logits).
    pub pooling: Option<Pooling>,
    /// The attention scores' scale: `{arch}.attention.scale`, else 1/√head_dim.
    pub attn_scale: f32,
    /// The embedding rows' scale (Gemma's √width).
    pub embed_scale: Option<f32>,
    /// Norms of attention's and the FFN's outputs before the residual adds (Gemma's).
    pub post_norms: bool,
    pub sliding_window: Option<SlidingWindow>,
}

impl Config {
    pub fn from_gguf(g: &Gguf) -> Result<Config, ModelError> {
        Config::decide(g, None)
    }

    /// The configuration, with the activation `chosen` by the caller where it is `Some`.
    pub fn decide(g: &Gguf, chosen: Option<Activation>) -> Result<Config, ModelError> {
        let arch_name = g.architecture().ok_or(ModelError::MissingKey("general.architecture".into()))?.to_string();
        let arch = match arch_name.as_str() {
            "bitnet-b1.58" | "bitnet-25" => Arch::BitnetB158,
            "bitnet" => Arch::Bitnet,
            "llama" => Arch::Llama,
            "qwen3" => Arch::Qwen3,
            "gemma3" => Arch::Gemma3,
            _ => return Err(ModelError::UnsupportedArch(arch_name)),
        };
        let key = |k: &str| format!("{arch_name}.{k}");
        let int = |k: &str| -> Result<usize, ModelError> {
            let v = g.get_u64(&key(k)).ok_or_else(|| ModelError::MissingKey(key(k)))?;
            usize::try_from(v).ok().filter(|&v| v > 0 && v < 1 << 31).ok_or_else(|| ModelError::BadValue {
                key: key(k),
                reason: format!("{v} is not a sensible size"),
            })
        };
        let n_embd = int("embedding_length")?;
        let n_head = int("attention.head_count")?;
        let n_head_kv = g.get_u64(&key("attention.head_count_kv")).map_or(Ok(n_head), |_| int("attention.head_count_kv"))?;
        let n_vocab = match g.get_u64(&key("vocab_size")) {
            Some(_) => int("vocab_size")?,
            None => g.tensor("token_embd.weight").map(|(_, t)| t.shape.get(1).copied().unwrap_or(0) as usize).unwrap_or(0),
        };
        let head_dim = match g.get_u64(&key("attention.key_length")) {
            Some(_) => {
                let k = int("attention.key_length")?;
                if g.get_u64(&key("attention.value_length")).is_some_and(|v| v as usize != k) {
                    return Err(ModelError::BadValue {
                        key: key("attention.value_length"),
                        reason: format!("values {} wide and keys {k} wide are not supported", g.get_u64(&key("attention.value_length")).unwrap_or(0)),
                    });
                }
                if k % 2 != 0 || k > 1024 || n_head % n_head_kv != 0 {
                    return Err(ModelError::BadValue {
                        key: key("attention.key_length"),
                        reason: format!("heads {k} wide ({n_head} of them, {n_head_kv} KV heads) are not supported"),
                    });
                }
                k
            }
            None => {
                let head_dim = if n_head > 0 && n_embd % n_head == 0 { n_embd / n_head } else { 0 };
                if head_dim == 0 || head_dim % 2 != 0 || n_head % n_head_kv != 0 {
                    return Err(ModelError::BadValue {
                        key: key("attention.head_count"),
                        reason: format!("{n_head} heads ({n_head_kv} KV heads) do not divide {n_embd} into even head sizes"),
                    });
                }
                head_dim
            }
        };
        if let Some(rot) = g.get_u64(&key("rope.dimension_count")) {
            if rot as usize != head_dim {
                return Err(ModelError::BadValue {
                    key: key("rope.dimension_count"),
                    reason: format!("partial rotary embeddings ({rot} of {head_dim} dims) are not supported"),
                });
            }
        }
        let named = match g.get_str(&key("hidden_activation")) {
            Some(name) => match Activation::parse(name) {
                Some(a) => Some(a),
                None => {
                    return Err(ModelError::BadValue {
                        key: key("hidden_activation"),
                        reason: format!("activation '{name}' is not supported (relu2 or silu)"),
                    });
                }
            },
            None => None,
        };
        let label_default = if arch == Arch::BitnetB158 { Activation::Relu2 } else { Activation::Silu };
        let decision = match arch {
            Arch::Qwen3 | Arch::Gemma3 => evidence::embedding(&arch_name, named, chosen),
            _ => evidence::decide(g, arch != Arch::Llama, label_default, &arch_name, named, chosen),
        };
        let activation = decision.activation;
        // GELU is Gemma's; nothing else here is built for it (the GPU's gate shader has ReLU² and SiLU).
        if activation == Activation::GeluTanh && arch != Arch::Gemma3 {
            return Err(ModelError::BadValue {
                key: key("hidden_activation"),
                reason: format!("activation 'gelu' is Gemma 3's; arch '{arch_name}' runs relu2 or silu"),
            });
        }
        // NaN, zero or negative values here load and then produce garbage; refuse them instead.
        let positive = |k: &str, default: f64| -> Result<f32, ModelError> {
            let v = g.get_f64(&key(k)).unwrap_or(default);
            let f = v as f32;
            if f.is_finite() && f > 0.0 {
                Ok(f)
            } else {
                Err(ModelError::BadValue { key: key(k), reason: format!("{v} must be a finite number above 0") })
            }
        };
        let rope_theta = positive("rope.freq_base", 10000.0)?;
        let rms_eps = positive("attention.layer_norm_rms_epsilon", 1e-5)?;
        if n_vocab == 0 {
            return Err(ModelError::BadValue { key: key("vocab_size"), reason: "the vocabulary is empty".into() });
        }
        let n_ctx_train = match g.get_u64(&key("context_length")) {
            None => 4096,
            Some(v) => usize::try_from(v).ok().filter(|&v| v >= 1 && v < 1 << 31).ok_or_else(|| ModelError::BadValue {
                key: key("context_length"),
                reason: format!("{v} is not a sensible context length"),
            })?,
        };
        let embedding = matches!(arch, Arch::Qwen3 | Arch::Gemma3);
        let gemma = arch == Arch::Gemma3;
        let mut decision = decision;
        let attn_scale = match g.get_f64(&key("attention.scale")) {
            Some(_) => positive("attention.scale", 1.0)?,
            None => 1.0 / (head_dim as f32).sqrt(),
        };
        // Gemma 3's window: the key llama.cpp's converter writes, which Microsoft's embedding converter
        // (16da220) does not. Then Gemma 3 270M's own (its config.json: 512), said as a warning: an
        // input longer than it is where a different window would change the vector.
        let sliding_window = match (gemma, g.get_u64(&key("attention.sliding_window"))) {
            (false, _) => None,
            (true, Some(_)) => Some(int("attention.sliding_window")?),
            (true, None) => {
                decision.conflicts.push(format!(
                    "the file does not record Gemma 3's sliding window ('{}'); 512, Gemma 3 270M's, is assumed, which only inputs longer than 512 tokens can tell",
                    key("attention.sliding_window")
                ));
                Some(512)
            }
        }
        // llama.cpp's Gemma 3: five local layers of six, the local ones at rotary base 10000.
        .map(|window| SlidingWindow { window, every: 6, theta: 10000.0 });
        let pooling = match (embedding, g.get_u64(&key("pooling_type"))) {
            (false, _) => None,
            // The family pools its last token (Microsoft's guide, §2); a file that does not say is read so.
            (true, None | Some(3)) => Some(Pooling::Last),
            (true, Some(1)) => Some(Pooling::Mean),
            (true, Some(2)) => Some(Pooling::Cls),
            (true, Some(v)) => {
                return Err(ModelError::BadValue {
                    key: key("pooling_type"),
                    reason: format!("pooling type {v} is not supported (1 mean, 2 CLS and 3 last are)"),
                });
            }
        };
        Ok(Config {
            arch,
            n_vocab,
            n_embd,
            n_layer: int("block_count")?,
            n_ff: int("feed_forward_length")?,
            n_head,
            n_head_kv,
            head_dim,
            n_ctx_train,
            rope_theta,
            rope_style: if arch == Arch::Llama { RopeStyle::Interleaved } else { RopeStyle::Neox },
            rms_eps,
            activation,
            decision,
            sub_norms: arch != Arch::Llama,
            proj_norms: embedding,
            qk_norm: embedding,
            pooling,
            attn_scale,
            embed_scale: gemma.then(|| (n_embd as f32).sqrt()),
            post_norms: gemma,
            sliding_window,
            arch_name,
        })
    }

    /// The context an engine holds when asked for `requested` tokens (0: the model's training
    /// context, at most 4096).
    pub fn context_length(&self, requested: usize) -> usize {
        match requested {
            0 => self.n_ctx_train.min(4096),
            n => n,
        }
    }

    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// The positions that the token at `pos` attends to in layer `l`: all before it and itself, or
    /// the window's last ones in a local layer.
    pub fn attended(&self, l: usize, pos: usize) -> std::ops::Range<usize> {
        attended_within(self.window_of(l), pos)
    }

    /// Layer `l`'s window, if it is a local (sliding-window) layer.
    pub fn window_of(&self, l: usize) -> Option<usize> {
        match self.sliding_window {
            Some(w) if (l + 1) % w.every != 0 => Some(w.window),
            _ => None,
        }
    }

    /// Layer `l`'s rotary base.
    pub fn rope_theta_of(&self, l: usize) -> f32 {
        match self.sliding_window {
            Some(w) if (l + 1) % w.every != 0 => w.theta,
            _ => self.rope_theta,
        }
    }

    /// The width of the queries and of attention's output (`n_embd`, unless the heads have a
    /// width of their own).
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }
}

/// The positions the token at `pos` attends to: all before it and itself, or the last `window`.
pub fn attended_within(window: Option<usize>, pos: usize) -> std::ops::Range<usize> {
    window.map_or(0, |w| (pos + 1).saturating_sub(w))..pos + 1
}
