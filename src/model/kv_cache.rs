//! The key/value cache: one row of `kv_dim` values per position and layer, in f32 or f16.

use crate::kernels::scalar;

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
    fn truncate(&mut self, n: usize) {
        match self {
            Rows::F32(v) => v.truncate(n),
            Rows::F16(v) => v.truncate(n),
        }
    }

    fn push(&mut self, row: &[f32], grow: usize) {
        match self {
            Rows::F32(v) => {
                if v.len() + row.len() > v.capacity() {
                    v.reserve_exact(grow);
                }
                v.extend_from_slice(row)
            }
            Rows::F16(v) => {
                if v.len() + row.len() > v.capacity() {
                    v.reserve_exact(grow);
                }
                v.extend(row.iter().map(|&x| half::f16::from_f32(x).to_bits()))
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

/// Positions are added a chunk at a time, so memory follows the conversation, not the maximum.
const GROW_POSITIONS: usize = 256;

#[derive(Clone, Debug)]
pub struct KvCache {
    kv_dim: usize,
    head_dim: usize,
    max_len: usize,
    len: usize,
    keys: Vec<Rows>,
    values: Vec<Rows>,
}

impl KvCache {
    pub fn new(n_layer: usize, kv_dim: usize, head_dim: usize, max_len: usize, precision: KvPrecision) -> Self {
        let rows = || match precision {
            KvPrecision::F32 => Rows::F32(Vec::new()),
            KvPrecision::F16 => Rows::F16(Vec::new()),
        };
        KvCache {
            kv_dim,
            head_dim,
            max_len,
            len: 0,
            keys: (0..n_layer).map(|_| rows()).collect(),
            values: (0..n_layer).map(|_| rows()).collect(),
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
            r.truncate(self.len * self.kv_dim);
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.keys.iter().chain(&self.values).map(Rows::bytes).sum()
    }

    /// Appends one position's key and value for `layer`.
    pub(crate) fn push(&mut self, layer: usize, k: &[f32], v: &[f32]) {
        let grow = GROW_POSITIONS * self.kv_dim;
        self.keys[layer].push(k, grow);
        self.values[layer].push(v, grow);
    }

    /// Marks `n` pushed positions as part of the cache (after every layer has pushed them).
    pub(crate) fn commit(&mut self, n: usize) {
        self.len += n;
    }

    /// Causal attention of one query head against KV head `kv_head` over positions `0..n_pos`:
    /// `out = Σ_j softmax(q·k_j · scale)_j · v_j`. `scores` is scratch of at least `n_pos`.
    pub(crate) fn attend(
        &self,
        layer: usize,
        q: &[f32],
        kv_head: usize,
        n_pos: usize,
        scale: f32,
        scores: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        let (hd, kvd) = (self.head_dim, self.kv_dim);
        let at = |j: usize| j * kvd + kv_head * hd;
        scores.clear();
        let mut row = vec![0f32; hd];
        let widen = |bits: &[u16], out: &mut [f32]| {
            for (o, &b) in out.iter_mut().zip(bits) {
                *o = half::f16::from_bits(b).to_f32();
            }
        };
        for j in 0..n_pos {
            let s = match &self.keys[layer] {
                Rows::F32(k) => scalar::dot_f32(q, &k[at(j)..at(j) + hd]),
                Rows::F16(k) => {
                    widen(&k[at(j)..at(j) + hd], &mut row);
                    scalar::dot_f32(q, &row)
                }
            };
            scores.push(s * scale);
        }
        scalar::softmax(scores);
        out.fill(0.0);
        for (j, &p) in scores.iter().enumerate() {
            match &self.values[layer] {
                Rows::F32(v) => scalar::axpy(p, &v[at(j)..at(j) + hd], out),
                Rows::F16(v) => {
                    widen(&v[at(j)..at(j) + hd], &mut row);
                    scalar::axpy(p, &row, out);
                }
            }
        }
    }
}
