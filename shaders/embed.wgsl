// Token embedding lookup: out[t] = row tokens[t] of the table, for the tokens whose row lies in this
// part of the table (rows row0 .. row0 + rows; a table larger than one binding is split by rows).
// kind 0: f32, 1: f16 (two per u32), 2: int8 (four per u32) with one f32 scale per row.
// Each value times `scale` (Gemma's √width; 1 otherwise). One invocation per (token, column).
// Reference: quant::dense::DenseMatrix::row_into, then model::cpu's embed.

struct Params { cols: u32, row0: u32, rows: u32, kind: u32, total: u32, scale: f32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> row_scales: array<f32>;
@group(0) @binding(3) var<storage, read> tokens: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn element(r: u32, c: u32) -> f32 {
    let i = r * p.cols + c;
    if (p.kind == 0u) { return bitcast<f32>(table[i]); }
    if (p.kind == 1u) { return unpack2x16float(table[i / 2u])[i % 2u]; }
    let byte = (table[i / 4u] >> (8u * (i % 4u))) & 0xffu;
    return f32((i32(byte) << 24u) >> 24u) * row_scales[r];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x + gid.y * nwg.x * 64u;
    if (g >= p.total) { return; }
    let t = g / p.cols;
    let c = g % p.cols;
    let token = tokens[t];
    if (token < p.row0 || token >= p.row0 + p.rows) { return; }
    out[g] = element(token - p.row0, c) * p.scale;
}
