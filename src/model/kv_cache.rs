//! The key/value cache, in f32 or f16. Each layer's KV heads are stored apart, positions
//! contiguous: the query heads of a KV head then read its keys and values as two dense blocks,
//! which the SIMD kernels take four positions (q·k) or 32 outputs (Σ p·v) at a time, where rows of
//! all heads per position made every query head stride across the whole cache.

use crate::kernels::KernelKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KvPrecision {
    /// Exact; what the HF-parity tests use.
    #[default]
    F32,
    /// Half the memory, as bitnet.cpp's default cache (its rounding moves logits by ~1e-3).
    F16,
}

#[derive(Clone, Debug)]
enum Rows {
    F32(Vec<f32>),
    F16(Vec<u16>),
}

impl Rows {
    fn len(&self) -> usize {
        match self {
            Rows::F32(v) => v.len(),
            Rows::F16(v) => v.len(),
        }
    }

    fn truncate(&mut self, n: usize) {
        match self {
            Rows::F32(v) => v.truncate(n),
            Rows::F16(v) => v.truncate(n),
        }
    }

    /// Appends `row`, growing by `grow` elements at a time but never past `cap` (the full context).
    fn push(&mut self, row: &[f32], grow: usize, cap: usize) {
        let more = |len: usize| grow.min(cap.saturating_sub(len)).max(row.len());
        match self {
            Rows::F32(v) => {
                if v.len() + row.len() > v.capacity() {
                    v.reserve_exact(more(v.len()));
                }
                v.extend_from_slice(row)
            }
            Rows::F16(v) => {
                if v.len() + row.len() > v.capacity() {
                    v.reserve_exact(more(v.len()));
                }
                v.extend(row.iter().map(|&x| half::f16::from_f32(x).to_bits()))
            }
        }
    }

    /// Values `range` as f32: borrowed, or widened into `buf` (at least `range.len()` long).
    fn as_f32<'a>(&'a self, range: std::ops::Range<usize>, buf: &'a mut [f32]) -> &'a [f32] {
        match self {
            Rows::F32(v) => &v[range],
            Rows::F16(v) => {
                use half::slice::HalfFloatSliceExt;
                let halves: &[half::f16] = bytemuck::cast_slice(&v[range]);
                let buf = &mut buf[..halves.len()];
                halves.convert_to_f32_slice(buf);
                buf
            }
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Rows::F32(v) => 4 * v.capacity(),
            Rows::F16(v) => 2 * v.capacity(),
        }
    }
}

/// Positions are added a chunk at a time, so memory follows the conversation, not the maximum; a
/// chunk never reaches past the context (a 64-token context took 256 positions' worth before).
const GROW_POSITIONS: usize = 256;

/// Positions attention takes at a time: 64 keys of a 128-wide head are 32 KB in f32, which stay in
/// the core's cache while every query head of the group reads them.
const POSITION_BLOCK: usize = 64;

#[derive(Clone, Debug)]
pub struct KvCache {
    n_kv_head: usize,
    head_dim: usize,
    max_len: usize,
    len: usize,
    /// One entry per (layer, KV head), at `layer * n_kv_head + head`.
    keys: Vec<Rows>,
    values: Vec<Rows>,
}

impl KvCache {
    pub fn new(n_layer: usize, kv_dim: usize, head_dim: usize, max_len: usize, precision: KvPrecision) -> Self {
        let rows = || match precision {
            KvPrecision::F32 => Rows::F32(Vec::new()),
            KvPrecision::F16 => Rows::F16(Vec::new()),
        };
        let n_kv_head = kv_dim / head_dim;
        KvCache {
            n_kv_head,
            head_dim,
            max_len,
            len: 0,
            keys: (0..n_layer * n_kv_head).map(|_| rows()).collect(),
            values: (0..n_layer * n_kv_head).map(|_| rows()).collect(),
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Forgets every position from `n` on (a conversation that diverges from what is cached).
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
        for r in self.keys.iter_mut().chain(self.values.iter_mut()) {
            r.truncate(self.len * self.head_dim);
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.keys.iter().chain(&self.values).map(Rows::bytes).sum()
    }

    /// Bytes a full cache of `max_len` positions takes (it grows as the context fills).
    pub fn bytes_for(n_layer: usize, kv_dim: usize, max_len: usize, precision: KvPrecision) -> u64 {
        let elt = match precision {
            KvPrecision::F32 => 4,
            KvPrecision::F16 => 2,
        };
        2 * (n_layer * kv_dim * max_len) as u64 * elt
    }

    /// Appends one position's key and value for `layer`.
    pub fn push(&mut self, layer: usize, k: &[f32], v: &[f32]) {
        let hd = self.head_dim;
        let (grow, cap) = (GROW_POSITIONS * hd, self.max_len * hd);
        for h in 0..self.n_kv_head {
            let i = layer * self.n_kv_head + h;
            self.keys[i].push(&k[h * hd..(h + 1) * hd], grow, cap);
            self.values[i].push(&v[h * hd..(h + 1) * hd], grow, cap);
        }
    }

    /// Marks `n` pushed positions as part of the cache (after every layer has pushed them).
    pub fn commit(&mut self, n: usize) {
        self.len += n;
    }

    /// Causal attention of the query heads in `q` (`m` heads of `head_dim`, all reading KV head
    /// `kv_head`) over `positions` (at least one, all pushed; a sliding window's start where the
    /// layer has one, else 0): for each, `out = Σ_j softmax(q·k_j · scale)_j · v_j`.
    /// `scratch` is reused between calls.
    ///
    /// The heads go through the cache together, a block of positions at a time, so each key and
    /// value is read from memory once for all of them instead of once per head: at long contexts
    /// the cache, not the weights, is most of what a token reads (2B4T at 1800 positions: 1.1 GB of
    /// f32 keys and values per token when every head read its own). Per head, each score and each
    /// output element is the same sequence of operations as over all positions in one go.
    pub fn attend_heads(
        &self,
        kind: KernelKind,
        layer: usize,
        q: &[f32],
        kv_head: usize,
        positions: std::ops::Range<usize>,
        scale: f32,
        scratch: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        let hd = self.head_dim;
        let m = q.len() / hd;
        let i = layer * self.n_kv_head + kv_head;
        let (keys, values) = (&self.keys[i], &self.values[i]);
        let (first, end) = (positions.start, positions.end);
        assert!(q.len() == m * hd && out.len() == q.len() && (1..=keys.len() / hd).contains(&end) && first < end);
        let n = end - first;
        let widened = if matches!(keys, Rows::F16(_)) { POSITION_BLOCK * hd } else { 0 };
        scratch.clear();
        scratch.resize(m * n + widened, 0.0);
        let (scores, buf) = scratch.split_at_mut(m * n);
        let blocks = (first..end).step_by(POSITION_BLOCK).map(|j0| j0..(j0 + POSITION_BLOCK).min(end));
        for b in blocks.clone() {
            let k = keys.as_f32(b.start * hd..b.end * hd, buf);
            for h in 0..m {
                kind.dot_rows(&q[h * hd..][..hd], k, &mut scores[h * n + b.start - first..h * n + b.end - first]);
            }
        }
        for p in scores.chunks_exact_mut(n) {
            p.iter_mut().for_each(|s| *s *= scale);
            kind.softmax(p);
        }
        out.fill(0.0);
        for b in blocks {
            let v = values.as_f32(b.start * hd..b.end * hd, buf);
            for h in 0..m {
                kind.add_weighted_rows(&scores[h * n + b.start - first..h * n + b.end - first], v, &mut out[h * hd..][..hd]);
            }
        }
    }
}
