//! Fuzzes the streaming model loader: any bytes, fed in chunks chosen by the input, must give a
//! model or a typed error under a 64 MiB memory limit, never a panic or an abort. A tiny model that
//! loads also runs one forward step on one token, through the engine (tokenizer, chat format).
#![no_main]

use bitnet_web::engine::{self, Engine, EngineOptions, GenerateParams, Prompt};
use bitnet_web::model::{LoadOptions, ModelLoader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&step, bytes)) = input.split_first() else { return };
    // 1 byte to about 64 KB: single bytes cross every field boundary of the header, large chunks
    // keep a real model (hundreds of KB) fast.
    let step = 1 + (step as usize).pow(2);
    let load = LoadOptions { memory_limit: Some(64 << 20), ..LoadOptions::default() };
    let opts = EngineOptions { load, max_context: 4, ..EngineOptions::default() };
    let mut loader = ModelLoader::new(load, Some(bytes.len() as u64));
    let mut checked = false;
    for chunk in bytes.chunks(step) {
        if loader.feed(chunk).is_err() {
            return;
        }
        // What the browser does as soon as the header is in.
        if !checked {
            if let (Some(g), Some(c)) = (loader.header(), loader.config()) {
                checked = true;
                if engine::check_header(g, c, &opts).is_err() {
                    return;
                }
            }
        }
    }
    let Ok((model, gguf)) = loader.finish() else { return };
    if model.memory_bytes() > 4 << 20 {
        return;
    }
    let Ok(mut engine) = Engine::new(model, &gguf, opts) else { return };
    let params = GenerateParams { max_tokens: 1, ignore_eos: true, ..GenerateParams::default() };
    if let Ok(mut g) = engine.begin(&Prompt::Text("a".into()), params) {
        let _ = engine.step(&mut g);
    }
});
