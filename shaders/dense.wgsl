// The LM head (and any dense matrix) times activations: y[t][row0 + r] = Σ_c W[r][c] · x[t][c], for
// the rows of this part of the table (a table larger than one binding is split by rows).
// kind 0: f32, 1: f16 (two per u32), 2: int8 (four per u32) with one f32 scale per row.
// One workgroup per (row, token). Reference: kernels::dense_matvec.

struct Params { cols: u32, row0: u32, rows: u32, kind: u32, out_stride: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> row_scales: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = wg.x + wg.y * nwg.x;
    if (r >= p.rows) { return; }
    let t = wg.z;
    let xo = t * p.cols;
    var acc = 0.0;
    if (p.kind == 0u) {
        for (var c = lid; c < p.cols; c += 64u) { acc += bitcast<f32>(table[r * p.cols + c]) * x[xo + c]; }
    } else if (p.kind == 1u) {
        // cols is even: each u32 holds two columns of one row.
        for (var w = lid; w < p.cols / 2u; w += 64u) {
            let h = unpack2x16float(table[r * (p.cols / 2u) + w]);
            acc += h.x * x[xo + 2u * w] + h.y * x[xo + 2u * w + 1u];
        }
    } else {
        // cols is a multiple of 4: each u32 holds four columns of one row.
        for (var w = lid; w < p.cols / 4u; w += 64u) {
            let b = table[r * (p.cols / 4u) + w];
            let v = vec4<f32>(f32((i32(b) << 24u) >> 24u), f32((i32(b) << 16u) >> 24u),
                              f32((i32(b) << 8u) >> 24u), f32(i32(b) >> 24u));
            acc += dot(v, vec4<f32>(x[xo + 4u * w], x[xo + 4u * w + 1u], x[xo + 4u * w + 2u], x[xo + 4u * w + 3u]));
        }
        acc *= row_scales[r];
    }
    part[lid] = acc;
    workgroupBarrier();
    for (var k = 32u; k > 0u; k >>= 1u) {
        if (lid < k) { part[lid] += part[lid + k]; }
        workgroupBarrier();
    }
    if (lid == 0u) { y[t * p.out_stride + p.row0 + r] = part[0]; }
}
