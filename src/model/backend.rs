//! The seam between the forward pass and the hardware: the operations of one BitNet layer, which
//! the CPU (`cpu.rs`: wasm SIMD kernels, threads) and the GPU (`gpu.rs`: wgpu, `shaders/`) each
//! implement over their own activations. `forward.rs` is written once against this trait, so the
//! model is described in one place for both.

use super::{Activation, ModelError, RopeStyle};

/// A norm's weights within a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    Attn,
    /// After attention, before the output projection (BitNet b1.58 has it; the `bitnet` and `llama` archs do not).
    AttnSub,
    Ffn,
    /// After the gate, before the down projection (likewise).
    FfnSub,
    /// Before one projection's input only (BitNet-embedding's `*_norm_in`, for q, k, v, gate and up;
    /// o's and down's are `AttnSub` and `FfnSub`).
    In(Proj),
    /// Over each head of the queries, and of the keys (Qwen3's q/k norms): weights one head wide.
    QHead,
    KHead,
    /// Of attention's output and of the FFN's, before each residual add (Gemma's).
    PostAttn,
    PostFfn,
}

/// A ternary projection within a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proj {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

pub trait Backend {
    /// Activations: one row of f32 per token.
    type Act;
    /// Activations quantized to int8, one scale per row.
    type Quant;

    /// The embedding rows of `tokens`, times the arch's scale (Gemma's √width).
    fn embed(&mut self, tokens: &[u32]) -> Self::Act;
    /// Whether layer `l` has `norm` (the sub-norms are optional).
    fn has_norm(&self, l: usize, norm: Norm) -> bool;
    /// RMSNorm with layer `l`'s `norm` weights, over each piece of a row as wide as they are (the
    /// whole row, or each head for `QHead` and `KHead`).
    fn rms_norm(&mut self, x: &Self::Act, l: usize, norm: Norm) -> Self::Act;
    /// Per-token int8 quantization, the input of every BitLinear.
    fn quantize(&mut self, x: &Self::Act) -> Self::Quant;
    /// BitLinear: layer `l`'s projections of the same input (q, k, v; gate, up), in one pass.
    fn bit_linears<const M: usize>(&mut self, l: usize, projs: [Proj; M], x: &Self::Quant) -> [Self::Act; M];
    /// Rotates every head of every row in place; `angles[t]` are row t's (cos, sin) per pair.
    fn rope(&mut self, x: &mut Self::Act, angles: &[Vec<(f32, f32)>], style: RopeStyle);
    /// Appends the rows' keys and values to layer `l`'s cache, at positions `p0..`.
    fn store_kv(&mut self, l: usize, k: &Self::Act, v: &Self::Act, p0: usize);
    /// Attention of each row over layer `l`'s cache: row t over the slots `spans[t]` (its own
    /// sequence's positions up to its own, or the layer's window of them).
    fn attention(&mut self, l: usize, q: &Self::Act, spans: &[std::ops::Range<usize>]) -> Self::Act;
    /// `g = act(g) · u`.
    fn gate(&mut self, g: &mut Self::Act, u: &Self::Act, act: Activation);
    /// `x += y` (the residual connections).
    fn add(&mut self, x: &mut Self::Act, y: &Self::Act);
    /// An error if the hidden state after layer `l` is no longer finite (where checking is cheap).
    fn check_finite(&mut self, x: &Self::Act, l: usize) -> Result<(), ModelError>;
    /// Marks `n` stored positions as part of the cache.
    fn commit(&mut self, n: usize);
    /// The output norm of rows `rows` of `x` (an embedding model's last hidden states).
    fn hidden(&mut self, x: &Self::Act, rows: &[usize]) -> Self::Act;
    /// The LM head's logits for rows `rows` of `x`: the output norm, then the head, `n_vocab` each.
    /// (The GPU's stay on the device until its caller reads them.)
    fn logits(&mut self, x: &Self::Act, rows: &[usize]) -> Self::Act;
}
