//! `--device auto|gpu|cpu`: where `generate`, `logits`, `perplexity` and `embed` run the forward pass.
//!
//! `auto` takes a GPU adapter when it is real hardware and the model's weights fit it; a software
//! renderer (lavapipe, SwiftShader) is slower than the CPU kernels, so `auto` passes it by and says
//! so. `gpu` insists: no usable adapter is an error. The choice is made before the model loads,
//! since it decides the LM head (the GPU reads the head as stored, exactly).

use bitnet_web::engine::Engine;
use bitnet_web::gpu::{DeviceChoice, Gpu};
use clap::ValueEnum;

use crate::files::{self, CliError};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Device {
    #[default]
    Auto,
    Gpu,
    Cpu,
}

/// The adapter to use, or why the CPU runs instead (`bitnet_web::gpu::choose`: the rule the
/// browser package follows too).
fn choose(device: Device) -> Result<Result<Gpu, String>, CliError> {
    let choice = match device {
        Device::Auto => DeviceChoice::Auto,
        Device::Gpu => DeviceChoice::Gpu,
        Device::Cpu => return Ok(Err("--device cpu".into())),
    };
    Ok(pollster::block_on(bitnet_web::gpu::choose(choice)).map_err(bitnet_web::model::ModelError::from)?)
}

/// Loads `path` for `device`. `opts` is called with whether the GPU will run, to pick the head.
/// On the GPU the weights go to the device as they are read (the process never holds them); if
/// that fails under `auto`, the model loads again for the CPU.
pub fn engine(path: &std::path::Path, device: Device, opts: impl Fn(bool) -> bitnet_web::engine::EngineOptions) -> Result<Engine, CliError> {
    let why = match choose(device)? {
        Ok(g) => {
            let adapter = g.adapter.clone();
            match files::engine_on_gpu(path, opts(true), g) {
                Ok(engine) => {
                    eprintln!("[backend: gpu, {adapter}]");
                    return Ok(engine);
                }
                Err(e) if device == Device::Auto => e.to_string(),
                Err(e) => return Err(e),
            }
        }
        Err(why) => why,
    };
    if device == Device::Auto {
        eprintln!("[backend: cpu; the GPU was not used: {why}]");
    }
    let mut engine = files::engine(path, opts(false))?;
    engine.use_cpu(Some(why));
    Ok(engine)
}
