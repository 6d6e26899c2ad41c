// Causal attention for `n` new tokens at positions p0.., over the layer's KV cache (f32, position
// major: max_len rows of n_kv_head · head_dim), with grouped-query heads. One workgroup per (head,
// token). Positions go 64 at a time with a running maximum and sum (online softmax), so memory is
// bounded whatever the context. A local layer (Gemma 3's sliding window, `window` > 0) attends to
// its last `window` positions only. Reference: model::KvCache::attend_heads over Config::attended.

struct Params { n_head: u32, n_kv_head: u32, head_dim: u32, p0: u32, scale: f32, window: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const MAX_HEAD_DIM: u32 = 256u;
var<workgroup> qv: array<f32, 256>;
var<workgroup> pr: array<f32, 64>;
var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let head = wg.x;
    let t = wg.y;
    let hd = p.head_dim;
    let kvd = p.n_kv_head * hd;
    let kvh = head / (p.n_head / p.n_kv_head);
    let qo = (t * p.n_head + head) * hd;
    for (var d = lid; d < hd; d += 64u) { qv[d] = q[qo + d]; }
    workgroupBarrier();
    let n_pos = p.p0 + t + 1u;
    let first = select(0u, n_pos - p.window, p.window > 0u && n_pos > p.window);
    var m = -3.0e38;
    var l = 0.0;
    var acc = vec4<f32>(0.0);
    for (var j0 = first; j0 < n_pos; j0 += 64u) {
        let j = j0 + lid;
        var score = -3.0e38;
        if (j < n_pos) {
            let ko = j * kvd + kvh * hd;
            var dd = 0.0;
            for (var d = 0u; d < hd; d++) { dd += qv[d] * k[ko + d]; }
            score = dd * p.scale;
        }
        red[lid] = score;
        workgroupBarrier();
        for (var s = 32u; s > 0u; s >>= 1u) {
            if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
            workgroupBarrier();
        }
        let mn = max(m, red[0]);
        workgroupBarrier();
        var e = 0.0;
        if (j < n_pos) { e = exp(score - mn); }
        pr[lid] = e;
        red[lid] = e;
        workgroupBarrier();
        for (var s = 32u; s > 0u; s >>= 1u) {
            if (lid < s) { red[lid] += red[lid + s]; }
            workgroupBarrier();
        }
        let corr = exp(m - mn);
        l = l * corr + red[0];
        let count = min(64u, n_pos - j0);
        for (var c = 0u; c < 4u; c++) {
            let d = lid + 64u * c;
            if (d < hd) {
                var a = acc[c] * corr;
                for (var jj = 0u; jj < count; jj++) { a += pr[jj] * v[(j0 + jj) * kvd + kvh * hd + d]; }
                acc[c] = a;
            }
        }
        m = mn;
        workgroupBarrier();
    }
    for (var c = 0u; c < 4u; c++) {
        let d = lid + 64u * c;
        if (d < hd) { out[qo + d] = acc[c] / l; }
    }
}
