//! Next-token sampling: logit bias and penalties, then greedy or temperature with top-k, top-p and
//! min-p. A seeded generator makes every run reproducible.
//!
//! The penalties follow their sources: `repetition_penalty` is llama.cpp's (recent tokens, prompt
//! included), `frequency_penalty` and `presence_penalty` are OpenAI's (subtracted per occurrence and
//! once per token, counted over the tokens generated so far).

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplerParams {
    /// 0 means greedy (always the most likely token).
    pub temperature: f32,
    /// Keep only the k most likely tokens (0: off).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1: off).
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one (0: off).
    pub min_p: f32,
    /// Divide positive logits (multiply negative ones) of recently seen tokens by this (1: off).
    pub repetition_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Subtracted from a token's logit once for each time it was generated (OpenAI; 0: off).
    pub frequency_penalty: f32,
    /// Subtracted from a token's logit once it was generated at all (OpenAI; 0: off).
    pub presence_penalty: f32,
    /// Added to the logits of these tokens before anything else (OpenAI's `logit_bias`; -100 bans).
    pub logit_bias: Vec<(u32, f32)>,
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temperature: 0.7,
            top_k: 40,
            top_p: 0.9,
            min_p: 0.05,
            repetition_penalty: 1.1,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            logit_bias: Vec::new(),
            seed: 0x5EED,
        }
    }
}

impl SamplerParams {
    pub fn greedy() -> Self {
        SamplerParams { temperature: 0.0, repetition_penalty: 1.0, ..Self::default() }
    }
}

/// SplitMix64: small, fast, and the same sequence on every platform.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[derive(Clone, Debug)]
pub struct Sampler {
    params: SamplerParams,
    rng: Rng,
    recent: VecDeque<u32>,
    /// How often each token was generated (for the frequency and presence penalties).
    generated: HashMap<u32, u32>,
}

impl Sampler {
    pub fn new(params: SamplerParams) -> Self {
        Sampler { rng: Rng(params.seed), params, recent: VecDeque::new(), generated: HashMap::new() }
    }

    pub fn params(&self) -> &SamplerParams {
        &self.params
    }

    /// Records a token the penalty should see (prompt tokens too).
    pub fn observe(&mut self, token: u32) {
        if self.params.repeat_last_n == 0 {
            return;
        }
        if self.recent.len() == self.params.repeat_last_n {
            self.recent.pop_front();
        }
        self.recent.push_back(token);
    }

    /// How many of the largest logits decide the next token, or `None` when any logit may: a logit
    /// bias, or a penalty that raises (a repetition penalty below 1, a negative frequency or presence
    /// penalty), can lift any token, and with `top_k` off every token can be drawn. The penalties
    /// here only lower logits, so the decisive ones are among the largest `n` before them as long as
    /// `n - need` of those are not lowered (`lowered`).
    pub fn decisive(&self) -> Option<usize> {
        let p = &self.params;
        if !p.logit_bias.is_empty() || p.repetition_penalty < 1.0 || p.frequency_penalty < 0.0 || p.presence_penalty < 0.0 {
            return None;
        }
        if p.temperature <= 0.0 {
            return Some(1);
        }
        (p.top_k > 0).then_some(p.top_k)
    }

    /// The tokens whose logits `adjust` lowers.
    pub fn lowered(&self) -> HashSet<u32> {
        let p = &self.params;
        let mut out = HashSet::new();
        if p.repetition_penalty != 1.0 {
            out.extend(self.recent.iter().copied());
        }
        if p.frequency_penalty != 0.0 || p.presence_penalty != 0.0 {
            out.extend(self.generated.keys().copied());
        }
        out
    }

    /// Applies the logit bias and the penalties to `logits` in place.
    pub fn adjust(&self, logits: &mut [f32]) {
        let p = &self.params;
        for &(t, bias) in &p.logit_bias {
            if let Some(l) = logits.get_mut(t as usize) {
                *l += bias;
            }
        }
        if p.frequency_penalty != 0.0 || p.presence_penalty != 0.0 {
            for (&t, &n) in &self.generated {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l -= n as f32 * p.frequency_penalty + p.presence_penalty;
                }
            }
        }
        if p.repetition_penalty != 1.0 {
            let mut seen: Vec<u32> = self.recent.iter().copied().collect();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l > 0.0 { *l / p.repetition_penalty } else { *l * p.repetition_penalty };
                }
            }
        }
    }

    /// Picks the next token from `logits` (modified in place by `adjust`) and observes it.
    pub fn sample(&mut self, logits: &mut [f32]) -> u32 {
        self.adjust(logits);
        let p = &self.params;
        let token = if p.temperature <= 0.0 { argmax(logits) } else { self.sample_distribution(logits) };
        self.observe(token);
        *self.generated.entry(token).or_insert(0) += 1;
        token
    }

    fn sample_distribution(&mut self, logits: &[f32]) -> u32 {
        let p = &self.params;
        let mut cand: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, l)).collect();
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.top_k > 0 && p.top_k < cand.len() {
            cand.select_nth_unstable_by(p.top_k - 1, by_logit);
            cand.truncate(p.top_k);
        }
        cand.sort_unstable_by(by_logit);
        // Softmax at the temperature.
        let max = cand[0].1;
        let mut sum = 0f32;
        for c in cand.iter_mut() {
            c.1 = ((c.1 - max) / p.temperature).exp();
            sum += c.1;
        }
        for c in cand.iter_mut() {
            c.1 /= sum;
        }
        if p.min_p > 0.0 {
            let floor = cand[0].1 * p.min_p;
            let keep = cand.iter().take_while(|c| c.1 >= floor).count().max(1);
            cand.truncate(keep);
        }
        if p.top_p < 1.0 {
            let mut acc = 0f32;
            let keep = cand
                .iter()
                .position(|c| {
                    acc += c.1;
                    acc >= p.top_p
                })
                .map_or(cand.len(), |i| i + 1);
            cand.truncate(keep);
        }
        let total: f32 = cand.iter().map(|c| c.1).sum();
        let mut r = self.rng.next_f32() * total;
        for &(id, prob) in &cand {
            if r < prob {
                return id;
            }
            r -= prob;
        }
        cand.last().expect("at least one candidate").0
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}
