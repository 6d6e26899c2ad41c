//! The native command-line face of bitnet-web: check our reading of a GGUF from the outside.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::fs::File;
    use std::io::{BufWriter, Read, Write};
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    use bitnet_web::gguf::{Event, Gguf, GgufError, GgufStream, Limits, inspect};
    use bitnet_web::quant::{self, DecodeOptions, I2sLayout};
    use clap::{Parser, Subcommand, ValueEnum};

    #[derive(Parser)]
    #[command(name = "bitnet-web", version, about = "BitNet b1.58 GGUF tools")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Clone, Copy, ValueEnum)]
    enum Layout {
        #[value(name = "128")]
        B128,
        #[value(name = "64")]
        B64,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Print the metadata and the tensor table (name, type, shape, offset, bytes).
        Inspect {
            file: PathBuf,
            /// Machine-readable output.
            #[arg(long)]
            json: bool,
        },
        /// Write one tensor decoded to little-endian f32.
        Dump {
            file: PathBuf,
            tensor: String,
            out: PathBuf,
            /// I2_S block layout: 128 (x86, the official file) or 64 (ARM builds since 2025-11).
            #[arg(long, value_enum, default_value = "128")]
            i2s_layout: Layout,
        },
    }

    #[derive(Debug, thiserror::Error)]
    enum CliError {
        #[error("{0}: {1}")]
        Io(PathBuf, std::io::Error),
        #[error(transparent)]
        Gguf(#[from] GgufError),
        #[error(transparent)]
        Quant(#[from] quant::QuantError),
        #[error("no tensor named '{0}' (run `bitnet-web inspect FILE` to list them)")]
        NoTensor(String),
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        let result = match cli.command {
            Command::Inspect { file, json } => inspect_file(&file, json),
            Command::Dump { file, tensor, out, i2s_layout } => {
                let layout = match i2s_layout {
                    Layout::B128 => I2sLayout::Block128,
                    Layout::B64 => I2sLayout::Block64,
                };
                dump(&file, &tensor, &out, layout)
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    /// Streams `path` through the reader in 1 MiB chunks until `done` says to stop.
    fn stream_file(
        path: &Path,
        mut on: impl FnMut(Event<'_>) -> Result<(), CliError>,
        done: impl Fn(&GgufStream) -> bool,
    ) -> Result<GgufStream, CliError> {
        let io = |e| CliError::Io(path.to_owned(), e);
        let mut f = File::open(path).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let mut stream = GgufStream::new(Limits::default(), Some(len));
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 || done(&stream) {
                return Ok(stream);
            }
            stream.feed(&buf[..n], &mut on)?;
        }
    }

    fn header_of(path: &Path) -> Result<Gguf, CliError> {
        let stream = stream_file(path, |_| Ok(()), |s| s.header().is_some())?;
        match stream.header() {
            Some(g) => Ok(g.clone()),
            None => Err(stream.finish().expect_err("no header means truncated").into()),
        }
    }

    fn inspect_file(path: &Path, json: bool) -> Result<(), CliError> {
        let g = header_of(path)?;
        if json {
            println!("{}", serde_json::to_string_pretty(&inspect::to_json(&g)).expect("json"));
        } else {
            print!("{}", inspect::to_text(&g));
        }
        Ok(())
    }

    fn dump(path: &Path, name: &str, out: &Path, layout: I2sLayout) -> Result<(), CliError> {
        let g = header_of(path)?;
        let (want, info) = g.tensor(name).ok_or_else(|| CliError::NoTensor(name.into()))?;
        let mut bytes = Vec::with_capacity(info.n_bytes as usize);
        let stream = stream_file(
            path,
            |ev| {
                if let Event::TensorData { index, bytes: b, .. } = ev {
                    if index == want {
                        bytes.extend_from_slice(b);
                    }
                }
                Ok(())
            },
            |_| false,
        )?;
        stream.finish()?;
        let values = quant::decode(info.ty, &bytes, info.n_elements, DecodeOptions { i2s_layout: layout })?;
        let io = |e| CliError::Io(out.to_owned(), e);
        let mut w = BufWriter::new(File::create(out).map_err(io)?);
        for v in values {
            w.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        w.flush().map_err(io)?;
        eprintln!("wrote {} f32 values of {} ({} {:?}) to {}", info.n_elements, name, info.ty, info.shape, out.display());
        Ok(())
    }
}
