// RMSNorm of each row: y = w · x / sqrt(mean(x²) + eps). One workgroup per row.
// Reference: kernels::scalar::rms_norm (which sums in f64; WGSL has no f64, so this sums in f32).

struct Params { cols: u32, eps: f32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wg.x * p.cols;
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
