//! The GPU backend's device layer: one wgpu device, a compute pipeline per WGSL file in `shaders/`,
//! and the buffers the forward pass's operations read and write (`ops`, `layout`).
//!
//! Why wgpu: it is one API over Vulkan, Metal and D3D natively and over the browser's WebGPU on
//! wasm32, and it executes the same WGSL everywhere, so the shaders that `cargo test` runs on Mesa's
//! lavapipe (a CPU Vulkan driver) are the ones a tab runs. This layer knows nothing of models: it
//! sits beside `kernels`, under `model`, which describes the forward pass once for both backends.

mod choice;
pub mod layout;
pub mod ops;

use std::sync::{Arc, Mutex};

use thiserror::Error;

pub use choice::{DeviceChoice, choose};
pub use layout::{GpuDense, GpuDenseWriter, GpuTernary};
pub use ops::{Batch, Candidates, QTensor, Tensor, TOPK_BLOCK};

#[derive(Debug, Error, Clone, PartialEq)]
pub enum GpuError {
    /// No adapter, or none with what the forward pass needs.
    #[error("no usable GPU: {0}")]
    Unavailable(String),
    /// The adapter exists but cannot hold or run this model.
    #[error("the GPU cannot run this model: {0}")]
    Unfit(String),
    /// The device reported an error, or was lost, while running.
    #[error("the GPU failed: {0}")]
    Device(String),
}

/// The shaders, one per operation of the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    RmsNorm,
    Quantize,
    /// ternary.wgsl for one token (decode).
    Ternary,
    /// ternary.wgsl for four tokens a workgroup (prefill).
    TernaryX4,
    Rope,
    Attention,
    Gate,
    Add,
    Embed,
    Dense,
    Copy,
    TopK,
}

impl Shader {
    pub const ALL: [Shader; 12] = [
        Shader::RmsNorm,
        Shader::Quantize,
        Shader::Ternary,
        Shader::TernaryX4,
        Shader::Rope,
        Shader::Attention,
        Shader::Gate,
        Shader::Add,
        Shader::Embed,
        Shader::Dense,
        Shader::Copy,
        Shader::TopK,
    ];

    fn source(self) -> &'static str {
        match self {
            Shader::RmsNorm => include_str!("../../shaders/rms_norm.wgsl"),
            Shader::Quantize => include_str!("../../shaders/quantize.wgsl"),
            Shader::Ternary | Shader::TernaryX4 => include_str!("../../shaders/ternary.wgsl"),
            Shader::Rope => include_str!("../../shaders/rope.wgsl"),
            Shader::Attention => include_str!("../../shaders/attention.wgsl"),
            Shader::Gate => include_str!("../../shaders/gate.wgsl"),
            Shader::Add => include_str!("../../shaders/add.wgsl"),
            Shader::Embed => include_str!("../../shaders/embed.wgsl"),
            Shader::Dense => include_str!("../../shaders/dense.wgsl"),
            Shader::Copy => include_str!("../../shaders/copy.wgsl"),
            Shader::TopK => include_str!("../../shaders/topk.wgsl"),
        }
    }
}

/// `dot4(a, b)`: the dot product of two u32s read as four int8 each. WGSL's `dot4I8Packed` where the
/// implementation has the `packed_4x8_integer_dot_product` language feature, sign-extending shifts
/// otherwise (both exact).
const DOT4_PACKED: &str = "fn dot4(a: u32, b: u32) -> i32 { return dot4I8Packed(a, b); }\n";
const DOT4_PLAIN: &str = "fn dot4(a: u32, b: u32) -> i32 {
    let x = vec4<i32>(i32(a << 24u) >> 24u, i32(a << 16u) >> 24u, i32(a << 8u) >> 24u, i32(a) >> 24u);
    let y = vec4<i32>(i32(b << 24u) >> 24u, i32(b << 16u) >> 24u, i32(b << 8u) >> 24u, i32(b) >> 24u);
    return dot(x, y);
}\n";

/// Head dimensions above this do not fit attention.wgsl's workgroup arrays.
pub const MAX_HEAD_DIM: usize = 256;

/// A device with every pipeline built.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// "Vulkan llvmpipe (…) (Cpu)": backend, adapter name and type.
    pub adapter: String,
    /// Whether the adapter is a software renderer (lavapipe, SwiftShader): its figures are never GPU speed.
    pub software: bool,
    /// Whether `dot4` is WGSL's `dot4I8Packed`.
    pub packed_dot: bool,
    /// The largest storage buffer binding; larger tensors are split by rows (`layout::GpuDense`).
    pub max_binding: u64,
    /// The alignment of a uniform binding's offset (each dispatch's parameters, `ops::Batch`).
    pub uniform_align: u64,
    pipelines: Vec<(Shader, wgpu::ComputePipeline)>,
    /// The first error the device reported outside an error scope, or its loss.
    failure: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    /// `open`, waiting for it (natively the adapter and device come at once).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new() -> Result<Gpu, GpuError> {
        pollster::block_on(Gpu::open(false))
    }

    /// Opens the default adapter (natively, `WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and
    /// `VK_ICD_FILENAMES` apply; in a browser, `navigator.gpu`) with its own limits, and builds every
    /// pipeline. `plain_dot` writes `dot4` out even where `dot4I8Packed` exists (tests run both).
    pub async fn open(plain_dot: bool) -> Result<Gpu, GpuError> {
        #[cfg(target_arch = "wasm32")]
        if !has_webgpu() {
            return Err(GpuError::Unavailable("this browser has no WebGPU (navigator.gpu is missing)".into()));
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() })
            .await
            .map_err(|e| {
                GpuError::Unavailable(if cfg!(target_arch = "wasm32") {
                    "the browser offers no WebGPU adapter (WebGPU is off, or blocklisted for this GPU)".into()
                } else {
                    format!("no adapter ({e})")
                })
            })?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        if limits.max_compute_workgroup_size_x < 64 || limits.max_compute_invocations_per_workgroup < 64 {
            return Err(GpuError::Unavailable(format!("{} cannot run 64-wide workgroups", info.name)));
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("bitnet-web"),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::Unavailable(format!("{}: {e}", info.name)))?;
        let failure = Arc::new(Mutex::new(None));
        let f = failure.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            f.lock().unwrap().get_or_insert_with(|| e.to_string());
        }));
        let f = failure.clone();
        device.set_device_lost_callback(move |reason, msg| {
            f.lock().unwrap().get_or_insert_with(|| format!("device lost ({reason:?}): {msg}"));
        });
        let packed_dot = !plain_dot && instance.wgsl_language_features().contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct);
        let pipelines = Shader::ALL
            .iter()
            .map(|&s| {
                let source = if matches!(s, Shader::Ternary | Shader::TernaryX4) {
                    let dot4 = if packed_dot { DOT4_PACKED } else { DOT4_PLAIN };
                    let tokens = if s == Shader::Ternary { "const TOKENS: u32 = 1u;" } else { "const TOKENS: u32 = 4u;" };
                    format!("{dot4}{}", s.source().replace("const TOKENS: u32 = 4u;", tokens))
                } else {
                    s.source().to_string()
                };
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(&format!("{s:?}")),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
                let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&format!("{s:?}")),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: Default::default(),
                    cache: None,
                });
                (s, pipeline)
            })
            .collect();
        #[cfg(target_arch = "wasm32")]
        let name = web_adapter_name().await.unwrap_or_default();
        #[cfg(not(target_arch = "wasm32"))]
        let name = info.name.clone();
        let names = format!("{name} {} {}", info.driver, info.driver_info).to_lowercase();
        let gpu = Gpu {
            adapter: format!("{:?} {} ({:?})", info.backend, name, info.device_type),
            software: info.device_type == wgpu::DeviceType::Cpu || ["swiftshader", "llvmpipe", "lavapipe"].iter().any(|n| names.contains(n)),
            packed_dot,
            max_binding: (limits.max_storage_buffer_binding_size as u64).min(limits.max_buffer_size),
            uniform_align: limits.min_uniform_buffer_offset_alignment as u64,
            device,
            queue,
            pipelines,
            failure,
        };
        gpu.check()?;
        Ok(gpu)
    }

    fn pipeline(&self, s: Shader) -> &wgpu::ComputePipeline {
        &self.pipelines.iter().find(|(k, _)| *k == s).expect("every shader has a pipeline").1
    }

    /// The first error the device reported, if any: after it nothing the device returns is trusted.
    pub fn check(&self) -> Result<(), GpuError> {
        match self.failure.lock().unwrap().clone() {
            Some(e) => Err(GpuError::Device(e)),
            None => Ok(()),
        }
    }

    /// Marks the device as failed (tests, and callers that saw it fail another way).
    pub fn fail(&self, why: &str) {
        self.failure.lock().unwrap().get_or_insert_with(|| why.to_string());
    }

    /// A storage buffer holding `bytes` (padded to 4 bytes; never empty).
    pub fn upload(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        use wgpu::util::DeviceExt;
        let mut padded;
        let contents = if bytes.is_empty() || bytes.len() % 4 != 0 {
            padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4).max(4), 0);
            &padded[..]
        } else {
            bytes
        };
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        })
    }

    /// An uninitialised (zeroed) storage buffer of `bytes` (at least 4).
    pub fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.next_multiple_of(4).max(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Copies `bytes` bytes of `buffer` back to the CPU once the work before it is done.
    pub async fn read(&self, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
        let size = bytes.next_multiple_of(4).max(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        enc.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        // Natively the callback runs inside `poll`; a browser runs it from its event loop.
        #[cfg(not(target_arch = "wasm32"))]
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Device(e.to_string()))?;
        let mapped = rx.await;
        self.check()?;
        mapped.map_err(|_| GpuError::Device("the device dropped a readback".into()))?.map_err(|e| GpuError::Device(e.to_string()))?;
        let view = slice.get_mapped_range().map_err(|e| GpuError::Device(format!("{e:?}")))?;
        let out = view[..bytes as usize].to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }

    /// `read` as f32s.
    pub async fn read_f32(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, GpuError> {
        Ok(bytemuck::pod_collect_to_vec(&self.read(buffer, 4 * len as u64).await?))
    }
}

/// The browser's own words for its adapter (`GPUAdapterInfo`: "google swiftshader", "nvidia
/// ampere"), which wgpu's web backend leaves out of its `AdapterInfo`.
#[cfg(target_arch = "wasm32")]
async fn web_adapter_name() -> Option<String> {
    use js_sys::Reflect;
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let gpu = Reflect::get(&navigator, &"gpu".into()).ok()?;
    let request: js_sys::Function = Reflect::get(&gpu, &"requestAdapter".into()).ok()?.into();
    let promise: js_sys::Promise = request.call0(&gpu).ok()?.into();
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    let info = Reflect::get(&adapter, &"info".into()).ok()?;
    let field = |k: &str| Reflect::get(&info, &k.into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    let words: Vec<String> = ["vendor", "architecture", "description"].iter().map(|k| field(k)).filter(|w| !w.is_empty()).collect();
    Some(words.join(" "))
}

/// Whether this global scope (window or worker) has `navigator.gpu`: wgpu would otherwise fail
/// with a message about backends rather than about the browser.
#[cfg(target_arch = "wasm32")]
fn has_webgpu() -> bool {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
    !navigator.is_undefined() && js_sys::Reflect::get(&navigator, &"gpu".into()).is_ok_and(|g| !g.is_undefined() && !g.is_null())
}
