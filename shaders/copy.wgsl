// Copies `len` words from `src` at `src_at` to `dst` at `dst_at` (the KV cache append, the rows that
// need logits). A shader rather than a buffer copy, so that a whole forward pass stays one compute
// pass. One invocation per word.

struct Params { src_at: u32, dst_at: u32, len: u32, _pad0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p.len) { return; }
    dst[p.dst_at + i] = src[p.src_at + i];
}
