// BitLinear: y[t][r] = Σ_spans (Σ (code-1)·q) · scale / s[t] · extra, for every row r and token t.
// Codes are 2 bits, 16 per u32, LSB first (code = weight + 1; gpu::layout repacks every ternary
// format into this). Activations are int8, four per u32 (quantize.wgsl). The integer dot products
// are exact; `dot4` is dot4I8Packed where the adapter has it, a plain unpacking otherwise (prepended
// by gpu::Gpu). One workgroup per row and group of TOKENS tokens. Reference: kernels::scalar::dot_codes.
//
// spans == 0: one scale for the tensor (I2_S); otherwise one scale per 256 columns (TQ1_0, TQ2_0),
// `spans` per row, and the integer sum is scaled span by span as the CPU kernel does.

struct Params { rows: u32, cols: u32, spans: u32, extra: f32, n: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> wscale: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<u32>;
@group(0) @binding(4) var<storage, read> s: array<f32>;
@group(0) @binding(5) var<storage, read> qsums: array<i32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

// Tokens per workgroup: a weight word is read once for up to TOKENS tokens, so prefill reads each
// matrix n/TOKENS times instead of n times. gpu::Gpu builds this file twice, with TOKENS 1 for
// decode and 4 for prefill: on lavapipe the four-token form decoded the embedded model at 8.0
// tok/s against 14.5 for the one-token form (its accumulator arrays stay in registers).
const TOKENS: u32 = 4u;

var<workgroup> ipart: array<array<i32, 64>, TOKENS>;
var<workgroup> fpart: array<array<f32, 64>, TOKENS>;

// Four 2-bit codes (the low byte of t) spread to one byte each.
fn spread(t: u32) -> u32 {
    return (t & 3u) | ((t << 6u) & 0x300u) | ((t << 12u) & 0x30000u) | ((t << 18u) & 0x3000000u);
}

// Σ code·q over the 16 columns of one code word (its four bytes spread); `qi` is the first of the
// token's four activation words.
fn dot_word(c: vec4<u32>, qi: u32) -> i32 {
    return dot4(c.x, q[qi]) + dot4(c.y, q[qi + 1u]) + dot4(c.z, q[qi + 2u]) + dot4(c.w, q[qi + 3u]);
}

fn spread_word(c: u32) -> vec4<u32> {
    return vec4<u32>(spread(c), spread(c >> 8u), spread(c >> 16u), spread(c >> 24u));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = wg.x + wg.y * nwg.x;
    if (r >= p.rows) { return; }
    let t0 = wg.z * TOKENS;
    let nt = min(TOKENS, p.n - t0);
    let words = p.cols / 16u;
    let row = r * words;
    let qstride = p.cols / 4u;
    let blocks = p.cols / 128u;
    if (p.spans == 0u) {
        var acc: array<i32, TOKENS>;
        for (var w = lid; w < words; w += 64u) {
            let c = spread_word(codes[row + w]);
            for (var k = 0u; k < nt; k++) { acc[k] += dot_word(c, (t0 + k) * qstride + 4u * w); }
        }
        for (var k = 0u; k < TOKENS; k++) { ipart[k][lid] = acc[k]; }
        workgroupBarrier();
        for (var h = 32u; h > 0u; h >>= 1u) {
            if (lid < h) {
                for (var k = 0u; k < TOKENS; k++) { ipart[k][lid] += ipart[k][lid + h]; }
            }
            workgroupBarrier();
        }
        if (lid < nt) {
            let t = t0 + lid;
            var qsum = 0;
            for (var b = 0u; b < blocks; b++) { qsum += qsums[t * blocks + b]; }
            y[t * p.rows + r] = f32(ipart[lid][0] - qsum) / s[t] * wscale[0] * p.extra;
        }
    } else {
        var acc: array<f32, TOKENS>;
        for (var b = lid; b < p.spans; b += 64u) {
            var d: array<i32, TOKENS>;
            for (var w = 16u * b; w < 16u * b + 16u; w++) {
                let c = spread_word(codes[row + w]);
                for (var k = 0u; k < nt; k++) { d[k] += dot_word(c, (t0 + k) * qstride + 4u * w); }
            }
            let scale = wscale[r * p.spans + b];
            for (var k = 0u; k < nt; k++) {
                let t = t0 + k;
                acc[k] += f32(d[k] - qsums[t * blocks + 2u * b] - qsums[t * blocks + 2u * b + 1u]) * scale;
            }
        }
        for (var k = 0u; k < TOKENS; k++) { fpart[k][lid] = acc[k]; }
        workgroupBarrier();
        for (var h = 32u; h > 0u; h >>= 1u) {
            if (lid < h) {
                for (var k = 0u; k < TOKENS; k++) { fpart[k][lid] += fpart[k][lid + h]; }
            }
            workgroupBarrier();
        }
        if (lid < nt) {
            let t = t0 + lid;
            y[t * p.rows + r] = fpart[lid][0] / s[t] * p.extra;
        }
    }
}
