"""BitNet b1.58 decoder, exactly the 2B4T graph (spec §4), at small scale.

- BitLinear: per-tensor absmean ternary weights (t in {-1,0,1}, scale m = mean|W|, W_eff = t*m) and per-token
  absmax int8 activations (s = 127/max(|x|, 1e-5), q = clamp(round_half_even(x*s), -128, 127)), both with a
  straight-through estimator while training; no bias.
- In eval mode BitLinear computes what the runtime computes: y = (T . q) / s * m with an exact integer dot.
- RMSNorm (eps 1e-5), attn_sub_norm before o_proj, ffn_sub_norm before down_proj, relu(gate)^2 * up,
  NEOX (rotate_half) RoPE, GQA, tied embedding / LM head.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def ternarize(w):
    """The export's and the model's one definition: returns (t, m) with W_eff = t * m."""
    m = w.abs().mean().clamp(min=1e-5)
    return (w / m).round().clamp(-1, 1), m


def act_scale(x):
    return 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)


class BitLinear(nn.Linear):
    # When set to a list, eval-mode forwards append the pre-rounding int8 activations' min distance to a .5 boundary.
    margins = None
    flip_below = 0.0

    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out, bias=False)

    def forward(self, x):
        w = self.weight
        if self.training:
            t, m = ternarize(w)
            wq = w + (t * m - w).detach()
            s = act_scale(x)
            xq = x + ((x * s).round().clamp(-128, 127) / s - x).detach()
            return F.linear(xq, wq)
        t, m = ternarize(w.float())
        x = x.float()
        s = act_scale(x)
        xs = x * s
        q = xs.round()
        dist = (xs - xs.floor() - 0.5).abs()
        if BitLinear.margins is not None:
            BitLinear.margins.append((float(dist.min()), int((dist < 1e-4).sum()), xs.numel()))
        if BitLinear.flip_below:
            # sensitivity probe: round the other way wherever x*s is within flip_below of a .5 boundary
            q = torch.where(dist < BitLinear.flip_below, torch.where(q > xs, q - 1, q + 1), q)
        q = q.clamp(-128, 127)
        return F.linear(q, t) / s * m


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        x = x.float()
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_cache(n, hd, theta):
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2).float() / hd))
    f = torch.outer(torch.arange(n).float(), inv)
    emb = torch.cat([f, f], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class Attention(nn.Module):
    def __init__(self, d, nh, nkv, eps):
        super().__init__()
        self.nh, self.nkv, self.hd = nh, nkv, d // nh
        self.q_proj = BitLinear(d, nh * self.hd)
        self.k_proj = BitLinear(d, nkv * self.hd)
        self.v_proj = BitLinear(d, nkv * self.hd)
        self.o_proj = BitLinear(nh * self.hd, d)
        self.attn_sub_norm = RMSNorm(nh * self.hd, eps)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)        # query head h uses KV head h // rep
        v = v.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).reshape(B, T, -1)
        return self.o_proj(self.attn_sub_norm(y))


class MLP(nn.Module):
    def __init__(self, d, ff, eps):
        super().__init__()
        self.gate_proj = BitLinear(d, ff)
        self.up_proj = BitLinear(d, ff)
        self.down_proj = BitLinear(ff, d)
        self.ffn_sub_norm = RMSNorm(ff, eps)

    def forward(self, x):
        return self.down_proj(self.ffn_sub_norm(F.relu(self.gate_proj(x)).square() * self.up_proj(x)))


class Block(nn.Module):
    def __init__(self, d, nh, nkv, ff, eps):
        super().__init__()
        self.input_layernorm = RMSNorm(d, eps)
        self.self_attn = Attention(d, nh, nkv, eps)
        self.post_attention_layernorm = RMSNorm(d, eps)
        self.mlp = MLP(d, ff, eps)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class BitNetLM(nn.Module):
    def __init__(self, vocab, d, layers, n_head, n_kv_head, ff, ctx, rope_theta, eps):
        super().__init__()
        self.cfg = dict(vocab=vocab, d=d, layers=layers, n_head=n_head, n_kv_head=n_kv_head, ff=ff, ctx=ctx,
                        rope_theta=rope_theta, eps=eps)
        self.embed_tokens = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList([Block(d, n_head, n_kv_head, ff, eps) for _ in range(layers)])
        self.norm = RMSNorm(d, eps)
        cos, sin = rope_cache(ctx, d // n_head, rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx):
        T = idx.shape[1]
        # eval mode uses the F16-rounded embedding, exactly what the GGUF stores
        emb = self.embed_tokens.weight if self.training else self.embed_tokens.weight.half().float()
        x = emb[idx]
        cos, sin = self.cos[:T], self.sin[:T]
        for blk in self.layers:
            x = blk(x, cos, sin)
        x = self.norm(x)
        return F.linear(x, emb)

    def ternary_params(self):
        return sum(p.numel() for n, p in self.named_parameters() if p.dim() == 2 and "embed" not in n)


@torch.no_grad()
def generate(model, ids, max_new, temperature=0.7, top_k=40, top_p=0.9, stop=(), generator=None):
    """Sample a continuation (eval mode, full recompute per token: the model is tiny)."""
    out = list(ids)
    for _ in range(max_new):
        ctx = torch.tensor([out[-model.cfg["ctx"]:]])
        logits = model(ctx)[0, -1].float() / temperature
        if top_k:
            v, _ = torch.topk(logits, top_k)
            logits[logits < v[-1]] = -float("inf")
        probs = F.softmax(logits, -1)
        if top_p < 1.0:
            sp, si = probs.sort(descending=True)
            cut = sp.cumsum(0) - sp > top_p
            sp[cut] = 0
            probs = torch.zeros_like(probs).scatter(0, si, sp)
        nxt = int(torch.multinomial(probs / probs.sum(), 1, generator=generator))
        out.append(nxt)
        if nxt in stop:
            break
    return out[len(ids):]
