// BitLinear: y[t][r] = Σ_spans (Σ (code-1)·q) · scale / s[t] · extra, for every row r and token t.
// Codes are 2 bits, 16 per u32, LSB first (code = weight + 1; gpu::layout repacks every ternary
// format into this). Activations are int8, four per u32 (quantize.wgsl). The integer dot products
// are exact; `dot4` is dot4I8Packed where the adapter has it, a plain unpacking otherwise (prepended
// by gpu::Gpu). One workgroup per (row, token). Reference: kernels::scalar::dot_codes.
//
// spans == 0: one scale for the tensor (I2_S); otherwise one scale per 256 columns (TQ1_0, TQ2_0),
// `spans` per row, and the integer sum is scaled span by span as the CPU kernel does.

struct Params { rows: u32, cols: u32, spans: u32, extra: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> wscale: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<u32>;
@group(0) @binding(4) var<storage, read> s: array<f32>;
@group(0) @binding(5) var<storage, read> qsums: array<i32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

var<workgroup> ipart: array<i32, 64>;
var<workgroup> fpart: array<f32, 64>;

// Four 2-bit codes (the low byte of t) spread to one byte each.
fn spread(t: u32) -> u32 {
    return (t & 3u) | ((t << 6u) & 0x300u) | ((t << 12u) & 0x30000u) | ((t << 18u) & 0x3000000u);
}

// Σ code·q over the 16 columns of one code word; `qi` is the first of its four activation words.
fn dot_word(c: u32, qi: u32) -> i32 {
    return dot4(spread(c), q[qi]) + dot4(spread(c >> 8u), q[qi + 1u])
        + dot4(spread(c >> 16u), q[qi + 2u]) + dot4(spread(c >> 24u), q[qi + 3u]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = wg.x + wg.y * nwg.x;
    if (r >= p.rows) { return; }
    let t = wg.z;
    let words = p.cols / 16u;
    let row = r * words;
    let qrow = t * (p.cols / 4u);
    let blocks = p.cols / 128u;
    if (p.spans == 0u) {
        var acc = 0;
        for (var w = lid; w < words; w += 64u) { acc += dot_word(codes[row + w], qrow + 4u * w); }
        ipart[lid] = acc;
        workgroupBarrier();
        for (var k = 32u; k > 0u; k >>= 1u) {
            if (lid < k) { ipart[lid] += ipart[lid + k]; }
            workgroupBarrier();
        }
        if (lid == 0u) {
            var qsum = 0;
            for (var b = 0u; b < blocks; b++) { qsum += qsums[t * blocks + b]; }
            y[t * p.rows + r] = f32(ipart[0] - qsum) / s[t] * wscale[0] * p.extra;
        }
    } else {
        var acc = 0.0;
        for (var b = lid; b < p.spans; b += 64u) {
            var d = 0;
            for (var w = 16u * b; w < 16u * b + 16u; w++) { d += dot_word(codes[row + w], qrow + 4u * w); }
            d -= qsums[t * blocks + 2u * b] + qsums[t * blocks + 2u * b + 1u];
            acc += f32(d) * wscale[r * p.spans + b];
        }
        fpart[lid] = acc;
        workgroupBarrier();
        for (var k = 32u; k > 0u; k >>= 1u) {
            if (lid < k) { fpart[lid] += fpart[lid + k]; }
            workgroupBarrier();
        }
        if (lid == 0u) { y[t * p.rows + r] = fpart[0] / s[t] * p.extra; }
    }
}
