// Rotary position embedding, in place, for every head of every token. The (cos, sin) pairs come
// from the CPU (model::forward computes them exactly as HF does, once per token), so only the
// rotation runs here. style 0: NEOX (pairs i, i + d/2); style 1: interleaved (pairs 2i, 2i + 1).
// One invocation per (token, head, pair). Reference: model::forward's rope.

struct Params { heads: u32, head_dim: u32, style: u32, total: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> cs: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x + gid.y * nwg.x * 64u;
    if (g >= p.total) { return; }
    let half = p.head_dim / 2u;
    let i = g % half;
    let head = (g / half) % p.heads;
    let t = g / (half * p.heads);
    let base = (t * p.heads + head) * p.head_dim;
    var ia = i;
    var ib = i + half;
    if (p.style == 1u) { ia = 2u * i; ib = 2u * i + 1u; }
    let c = cs[2u * (t * half + i)];
    let sn = cs[2u * (t * half + i) + 1u];
    let a = x[base + ia];
    let b = x[base + ib];
    x[base + ia] = a * c - b * sn;
    x[base + ib] = b * c + a * sn;
}
