//! Which model a file holds, decided from every clue its header gives, not from its arch label alone.
//!
//! Why: the label does not say. Microsoft's converter (utils/convert-hf-to-gguf-bitnet.py, microsoft/BitNet
//! at 16da220) registers 1bitLLM's `BitnetForCausalLM` and 2B4T's `BitNetForCausalLM` under one arch,
//! `bitnet-b1.58`, and writes no key that names the activation; llama.cpp's `convert_hf_to_gguf.py` does the
//! same under `bitnet`. Trusting the label ran 1bitLLM models with ReLU² (logits off by 11-29 % on three such
//! models) and llama.cpp's 2B4T files with SiLU. The vocabulary does tell them apart: 1bitLLM's models carry
//! LLaMA-2's SentencePiece vocabulary (`tokenizer.ggml.model = "llama"`) and 2B4T carries Llama 3's byte-level
//! BPE (`"gpt2"`); both converters copy it from the checkpoint as it is. tests/fixtures/converters holds one
//! file of each kind, written by those converters, with HF's logits.
//!
//! The rule, first match wins:
//! 1. the caller's choice (`LoadOptions::activation`, `--activation`, the page's `activation`);
//! 2. a `{arch}.hidden_activation` key (our writer, and any converter that names it);
//! 3. arch `llama` (Falcon3, Falcon-E, Llama3-8B-1.58): SiLU, no sub-norms;
//! 4. arch `bitnet-b1.58`, `bitnet-25` or `bitnet`: a SentencePiece vocabulary is a 1bitLLM model (SiLU), a
//!    byte-level BPE one is 2B4T (ReLU²);
//! 5. otherwise the label's own default (ReLU² for `bitnet-b1.58`/`bitnet-25`, SiLU for `bitnet`), said to
//!    rest on the label alone.
//!
//! Where a later clue disagrees with the one that decided (a key or the caller against the vocabulary), the
//! decision says so in `conflicts`: the CLI prints it and the page gets it as a warning.

use crate::gguf::Gguf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `relu(gate)² · up`
    Relu2,
    /// `silu(gate) · up`
    Silu,
    /// `gelu_tanh(gate) · up` (Gemma's `gelu_pytorch_tanh`)
    GeluTanh,
}

impl Activation {
    /// From a `hidden_activation` value, a CLI flag or the page's option.
    pub fn parse(name: &str) -> Option<Activation> {
        match name {
            "relu2" | "relu_squared" => Some(Activation::Relu2),
            "silu" | "swiglu" => Some(Activation::Silu),
            "gelu" | "gelu_pytorch_tanh" | "geglu" => Some(Activation::GeluTanh),
            _ => None,
        }
    }

    /// The name `parse` reads, and the CLI and the page show.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu2 => "relu2",
            Activation::Silu => "silu",
            Activation::GeluTanh => "gelu",
        }
    }
}

/// The activation a file's model uses, why, and what disagreed.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub activation: Activation,
    /// The family the clues point to, in words ("Microsoft's BitNet b1.58 2B4T", "1bitLLM (…)").
    pub family: &'static str,
    /// Why, in one sentence a person can check against the file.
    pub reason: String,
    /// Clues that point elsewhere; empty when all agree.
    pub conflicts: Vec<String>,
}

/// What the vocabulary says, where it says anything.
fn vocabulary_family(g: &Gguf) -> Option<(Activation, &'static str, &'static str)> {
    match g.get_str("tokenizer.ggml.model")? {
        "llama" => Some((Activation::Silu, "1bitLLM (bitnet_b1_58-large/-3B)", "a SentencePiece vocabulary")),
        "gpt2" => Some((Activation::Relu2, "Microsoft's BitNet b1.58 2B4T", "a byte-level BPE vocabulary")),
        _ => None,
    }
}

/// Decides; `key` is the `{arch}.hidden_activation` value already parsed, `chosen` the caller's choice.
///
/// `bitnet_label` is whether the arch is one of the two BitNet labels (else Llama's graph), and
/// `label_default` what that label alone implies.
pub fn decide(
    g: &Gguf,
    bitnet_label: bool,
    label_default: Activation,
    arch_name: &str,
    key: Option<Activation>,
    chosen: Option<Activation>,
) -> Decision {
    let vocab = if bitnet_label { vocabulary_family(g) } else { None };
    let mut conflicts = Vec::new();
    let mut disagree = |what: &str, act: Activation| {
        if let Some((v, fam, clue)) = vocab {
            if v != act {
                conflicts.push(format!(
                    "{what} says {}, but {clue} under '{arch_name}' is {fam}'s, which uses {}",
                    act.name(),
                    v.name()
                ));
            }
        }
    };
    // The family where the vocabulary agrees with the activation that was named.
    let family_of = |act: Activation, fallback: &'static str| match vocab {
        Some((v, fam, _)) if v == act => fam,
        _ => fallback,
    };
    if let Some(act) = chosen {
        disagree("the caller's choice", act);
        if let Some(k) = key.filter(|&k| k != act) {
            conflicts.push(format!("the file's '{arch_name}.hidden_activation' says {}", k.name()));
        }
        return Decision {
            activation: act,
            family: family_of(act, "a BitNet model, as the caller says"),
            reason: format!("{} was chosen by the caller", act.name()),
            conflicts,
        };
    }
    if let Some(act) = key {
        disagree(&format!("'{arch_name}.hidden_activation'"), act);
        return Decision {
            activation: act,
            family: family_of(act, "a BitNet model, as its metadata says"),
            reason: format!("the key '{arch_name}.hidden_activation' names {}", act.name()),
            conflicts,
        };
    }
    if !bitnet_label {
        return Decision {
            activation: Activation::Silu,
            family: "a ternary Llama (Falcon3, Falcon-E, Llama3-8B-1.58)",
            reason: format!("arch '{arch_name}' is Llama's graph: SiLU, no sub-norms"),
            conflicts,
        };
    }
    if let Some((act, family, clue)) = vocab {
        return Decision {
            activation: act,
            family,
            reason: format!(
                "the converters in use write '{arch_name}' for 1bitLLM models and 2B4T alike, and {clue} is {family}'s, so {}",
                act.name()
            ),
            conflicts,
        };
    }
    let (act, family) = match label_default {
        Activation::Relu2 => (Activation::Relu2, "Microsoft's BitNet b1.58 2B4T"),
        other => (other, "1bitLLM (bitnet_b1_58-large/-3B)"),
    };
    Decision {
        activation: act,
        family,
        reason: format!("only the label '{arch_name}' says so: the file has no vocabulary to confirm it"),
        conflicts,
    }
}

/// BitNet-embedding's graphs: Qwen3's FFN is SiLU-gated, Gemma 3's GELU-gated (tanh form); a key or the
/// caller may still name another.
pub fn embedding(arch_name: &str, key: Option<Activation>, chosen: Option<Activation>) -> Decision {
    let (family, graph) = match arch_name {
        "gemma3" => ("Microsoft's BitNet-embedding (Gemma 3 backbone)", Activation::GeluTanh),
        _ => ("Microsoft's BitNet-embedding (Qwen3 backbone)", Activation::Silu),
    };
    let (activation, reason) = match (chosen, key) {
        (Some(a), _) => (a, format!("{} was chosen by the caller", a.name())),
        (None, Some(a)) => (a, format!("the key '{arch_name}.hidden_activation' names {}", a.name())),
        (None, None) => (graph, format!("arch '{arch_name}' is a graph whose FFN is {}-gated", graph.name())),
    };
    let conflicts = match activation == graph {
        true => Vec::new(),
        false => vec![format!("arch '{arch_name}' uses {}, not {}", graph.name(), activation.name())],
    };
    Decision { activation, family, reason, conflicts }
}
