use anyhow::Result;
use wharf_engine::registry::RegistryOptions;
use wharf_engine::Engine;

/// Push an image (or a manifest list) to a registry
#[derive(clap::Args)]
pub struct Args {
    /// No progress bars and no output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Verify the registry's TLS certificate (false: accept any, fall back to HTTP)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
    tls_verify: bool,
    /// The local image: REGISTRY/REPOSITORY[:TAG]
    image: String,
    /// Push under this name instead
    destination: Option<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let opts = RegistryOptions {
        tls_verify: a.tls_verify,
        quiet: a.quiet,
    };
    let digest = engine.push(&a.image, a.destination.as_deref(), &opts)?;
    if !a.quiet {
        let dest = a.destination.as_deref().unwrap_or(&a.image);
        println!("{dest}: digest: {digest}");
    }
    Ok(0)
}
