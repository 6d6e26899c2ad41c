// The feed-forward gate, in place: g = act(g) · u, with act ReLU² (0), SiLU (1) or GELU in
// PyTorch's tanh form (2, Gemma's; tanh written as 1 − 2/(e^{2y} + 1), as the CPU writes it).
// Reference: model::cpu's gate.

struct Params { len: u32, act: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p.len) { return; }
    let x = g[i];
    if (p.act == 0u) {
        let r = select(0.0, x, x > 0.0);
        g[i] = r * r * u[i];
    } else if (p.act == 1u) {
        g[i] = x / (1.0 + exp(-x)) * u[i];
    } else {
        let y = 0.7978846 * (x + 0.044715 * x * x * x);
        let th = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
        g[i] = 0.5 * x * (1.0 + th) * u[i];
    }
}
