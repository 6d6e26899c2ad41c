// RMSNorm of each row: y = w · x / sqrt(mean(x²) + eps). One workgroup per row; a row is a
// token's whole hidden state, or one head of it (Qwen3's q/k norms: rows × heads rows of head_dim).
// Reference: kernels::scalar::rms_norm (which sums in f64; WGSL has no f64, so this sums in f32).

struct Params { cols: u32, eps: f32, rows: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // Workgroup-uniform, so the early return leaves every barrier below reached by all or none.
    let row = wg.x + wg.y * nwg.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var s = 0.0;
    for (var c = lid; c < p.cols; c += 64u) {
        let v = x[base + c];
        s += v * v;
    }
    part[lid] = s;
    workgroupBarrier();
    for (var k = 32u; k > 0u; k >>= 1u) {
        if (lid < k) { part[lid] += part[lid + k]; }
        workgroupBarrier();
    }
    let scale = 1.0 / sqrt(part[0] / f32(p.cols) + p.eps);
    for (var c = lid; c < p.cols; c += 64u) {
        y[base + c] = (x[base + c] * scale) * w[c];
    }
}
