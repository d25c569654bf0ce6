use anyhow::Result;
use wharf_engine::registry::RegistryOptions;
use wharf_engine::{Engine, Platform};

/// Pull an image from a registry
#[derive(clap::Args)]
pub struct Args {
    /// Platform to pull from a multi-platform image (e.g. wasi/wasm, linux/amd64)
    #[arg(long)]
    platform: Option<String>,
    /// Pull every platform of a multi-platform image, and keep the index
    #[arg(short = 'a', long)]
    all_platforms: bool,
    /// No progress bars; print only the image name
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Verify the registry's TLS certificate (false: accept any, fall back to HTTP)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
    tls_verify: bool,
    /// The image: [REGISTRY/]REPOSITORY[:TAG|@DIGEST]
    image: String,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let platform = a
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()?;
    if a.all_platforms && platform.is_some() {
        anyhow::bail!("--all-platforms and --platform cannot be combined");
    }
    let opts = RegistryOptions {
        tls_verify: a.tls_verify,
        quiet: a.quiet,
    };
    let pulled = engine.pull(&a.image, platform.as_ref(), a.all_platforms, &opts)?;
    if let Some(p) = &pulled.fallback {
        eprintln!(
            "wharf: {} has no variant for this host's platform; pulled its {p} variant",
            a.image
        );
    }
    if !a.quiet {
        println!("Digest: {}", pulled.digest);
        println!("Status: Downloaded image for {}", pulled.name);
    }
    println!("{}", pulled.name);
    Ok(0)
}
