//! The one rule for whether a GPU runs the forward pass, for the CLI's `--device` and the
//! package's `device` option alike.
//!
//! `Auto` takes an adapter only when it is real hardware: a software renderer decodes far slower
//! than the CPU kernels (bench/RESULTS.md: lavapipe ran the 2B4T shape at 0.22 tok/s on 2 cores,
//! SwiftShader the embedded model at 1.06 tok/s in Chromium), so `Auto` passes it by and says why. `Gpu`
//! insists: any adapter, a software one included, and none is an error.

use super::{Gpu, GpuError};

/// How the caller asked for a GPU (a caller that asked for the CPU does not ask here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Gpu,
}

/// The API the adapter comes from, in messages.
const API: &str = if cfg!(target_arch = "wasm32") { "WebGPU" } else { "GPU" };

/// The GPU to run on (`Ok(Ok)`), or why the CPU runs instead (`Ok(Err)`); `Err` when a GPU was
/// insisted on and none can be opened.
pub async fn choose(choice: DeviceChoice) -> Result<Result<Gpu, String>, GpuError> {
    match choice {
        DeviceChoice::Gpu => Gpu::open(false).await.map(Ok),
        DeviceChoice::Auto => Ok(match Gpu::open(false).await {
            Ok(g) if g.software => Err(format!("the only {API} adapter is a software renderer ({}), slower than the CPU", g.adapter)),
            Ok(g) => Ok(g),
            Err(e) => Err(e.to_string()),
        }),
    }
}
