// Per-token int8 quantization before a BitLinear: s = 127 / max(|x|, 1e-5), q = round-half-even(x·s)
// clamped to [-128, 127] (NaN to 0), four values packed little-endian in each u32. Also writes the
// sum of q over each 128-column block, which the ternary kernel subtracts (codes are weight + 1).
// A row of `cols` values comes out `padded` wide (the next multiple of 128), the rest zeros, to meet
// weights whose rows were padded at load (bitnet_b1_58-3B's 8640-wide FFN: 8704); zero activations
// against zero weights add nothing. One workgroup per token.
// Reference: kernels::scalar::quantize_activations, then model::cpu's quantize (the padding).

struct Params { cols: u32, padded: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> q: array<u32>;
@group(0) @binding(3) var<storage, read_write> scales: array<f32>;
@group(0) @binding(4) var<storage, read_write> qsums: array<i32>;

var<workgroup> part: array<f32, 64>;

// NaN is found by its bits: a GPU compiler may fold `v != v` away (WGSL lets it assume no NaNs).
fn level(v: f32, s: f32) -> i32 {
    let r = clamp(round(v * s), -128.0, 127.0);
    return select(i32(r), 0, (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u);
}

// Column c of the row at `base`, quantized; 0 in the padding.
fn padded_level(base: u32, c: u32, s: f32) -> i32 {
    if (c >= p.cols) { return 0; }
    return level(x[base + c], s);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wg.x * p.cols;
    var m = 0.0;
    for (var c = lid; c < p.cols; c += 64u) {
        let a = bitcast<f32>(bitcast<u32>(x[base + c]) & 0x7fffffffu);
        if (bitcast<u32>(a) <= 0x7f800000u && a > m) { m = a; }
    }
    part[lid] = m;
    workgroupBarrier();
    for (var k = 32u; k > 0u; k >>= 1u) {
        if (lid < k && part[lid + k] > part[lid]) { part[lid] = part[lid + k]; }
        workgroupBarrier();
    }
    let s = 127.0 / max(part[0], 1e-5);
    let words = p.padded / 4u;
    for (var i = lid; i < words; i += 64u) {
        var word = 0u;
        for (var k = 0u; k < 4u; k++) {
            word |= (u32(padded_level(base, 4u * i + k, s)) & 0xffu) << (8u * k);
        }
        q[wg.x * words + i] = word;
    }
    let blocks = p.padded / 128u;
    for (var b = lid; b < blocks; b += 64u) {
        var sum = 0;
        for (var c = 0u; c < 128u; c++) { sum += padded_level(base, 128u * b + c, s); }
        qsums[wg.x * blocks + b] = sum;
    }
    if (lid == 0u) { scales[wg.x] = s; }
}
