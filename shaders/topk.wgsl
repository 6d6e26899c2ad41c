// The best logits, so that a decode step reads back candidates instead of the whole vocabulary:
// each workgroup takes a block of 2048 logits and writes its K largest (value, index) pairs, in
// descending order (the CPU merges the blocks' lists). A NaN or an infinity counts in `bad` and
// is never a candidate: the engine refuses such logits. Reference: a sort on the CPU (tests/suite/gpu.rs).

struct Params { n: u32, k: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> best: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> bad: array<atomic<u32>>;

const BLOCK: u32 = 2048u;
const NONE: f32 = -3.0e38;
var<workgroup> vals: array<f32, 2048>;
var<workgroup> rv: array<f32, 256>;
var<workgroup> ri: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wg.x * BLOCK;
    for (var i = lid; i < BLOCK; i += 256u) {
        var v = NONE;
        if (base + i < p.n) {
            v = logits[base + i];
            // Non-finite by its bits (a GPU compiler may assume no NaNs in float comparisons).
            if ((bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u) {
                atomicAdd(&bad[0], 1u);
                v = NONE;
            }
        }
        vals[i] = v;
    }
    workgroupBarrier();
    for (var j = 0u; j < p.k; j++) {
        // The largest value in the block (the lowest index on ties), by a tree of 256.
        var bv = NONE;
        var bi = 0xffffffffu;
        for (var i = lid; i < BLOCK; i += 256u) {
            if (vals[i] > bv) { bv = vals[i]; bi = i; }
        }
        rv[lid] = bv;
        ri[lid] = bi;
        workgroupBarrier();
        for (var h = 128u; h > 0u; h >>= 1u) {
            if (lid < h) {
                let ov = rv[lid + h];
                let oi = ri[lid + h];
                if (ov > rv[lid] || (ov == rv[lid] && oi < ri[lid])) { rv[lid] = ov; ri[lid] = oi; }
            }
            workgroupBarrier();
        }
        let wi = ri[0];
        let wv = rv[0];
        if (lid == 0u) {
            if (wi != 0xffffffffu && wv > NONE) {
                best[wg.x * p.k + j] = vec2<u32>(bitcast<u32>(wv), base + wi);
                vals[wi] = NONE;
            } else {
                best[wg.x * p.k + j] = vec2<u32>(bitcast<u32>(NONE), 0xffffffffu);
            }
        }
        workgroupBarrier();
    }
}
