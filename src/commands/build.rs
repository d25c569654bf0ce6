use std::path::PathBuf;

use anyhow::{Context, Result};
use wharf_engine::images::BuildOptions;
use wharf_engine::Engine;

/// Build an image from a Dockerfile
#[derive(clap::Args)]
pub struct Args {
    /// Name and optionally tag the image (repeatable)
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// The Dockerfile [default: CONTEXT/Dockerfile]
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Set a build-time variable: K=V
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
    /// Target platform: wasi/wasm, wasip1/wasm, wasip2/wasm or linux/amd64
    #[arg(long)]
    platform: Option<String>,
    /// Build up to this stage (FROM ... AS NAME) and make it the image
    #[arg(long)]
    target: Option<String>,
    /// Run every step instead of reusing cached results
    #[arg(long)]
    no_cache: bool,
    /// The network of RUN steps: default (the `bridge` network), host or none
    #[arg(long, value_name = "NETWORK")]
    network: Option<String>,
    /// Print only the image id
    #[arg(short = 'q', long)]
    quiet: bool,
    /// The build context directory
    context: PathBuf,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let build_args = a
        .build_args
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => std::env::var(kv).map(|v| (kv.clone(), v)).with_context(|| {
                format!("--build-arg {kv} has no value and {kv} is not set in the environment; use --build-arg {kv}=VALUE")
            }),
        })
        .collect::<Result<Vec<_>>>()?;
    let platform = a.platform.as_deref().map(str::parse).transpose()?;
    let opts = BuildOptions {
        context: a.context,
        dockerfile: a.file,
        build_args,
        platform,
        quiet: a.quiet,
        target: a.target,
        no_cache: a.no_cache,
    };
    let mut out = std::io::stdout();
    let built = engine.build_on(&opts, &a.tags, a.network.as_deref(), &mut out)?;
    // The builder has already said "Successfully built <id>" unless quiet.
    if a.quiet {
        println!("{}", built.id);
    } else {
        for t in &built.tags {
            println!("Successfully tagged {t}");
        }
    }
    Ok(0)
}
