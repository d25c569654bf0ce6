use anyhow::Result;
use wharf_engine::registry::RegistryOptions;
use wharf_engine::Engine;

/// Multi-platform manifest lists (OCI indexes)
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Make a manifest list LIST from local images (platforms from their configs)
    Create {
        /// The manifest list's name, [REGISTRY/]REPOSITORY[:TAG]
        list: String,
        /// Local images, one per platform
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Print a manifest or manifest list as JSON (local, else from its registry)
    Inspect {
        /// Verify the registry's TLS certificate (false: accept any, fall back to HTTP)
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
        tls_verify: bool,
        /// A local image or list, else one in its registry
        name: String,
    },
    /// Push a manifest list and every image it references
    Push {
        /// No progress bars and no output
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Verify the registry's TLS certificate (false: accept any, fall back to HTTP)
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
        tls_verify: bool,
        /// The local manifest list to push
        list: String,
        /// Push under this name instead
        destination: Option<String>,
    },
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    match a.command {
        Command::Create { list, images } => {
            let digest = engine.manifest_create(&list, &images)?;
            println!("{digest}");
        }
        Command::Inspect { tls_verify, name } => {
            let opts = RegistryOptions {
                tls_verify,
                quiet: true,
            };
            let v = engine.manifest_inspect(&name, &opts)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Command::Push {
            quiet,
            tls_verify,
            list,
            destination,
        } => {
            let opts = RegistryOptions { tls_verify, quiet };
            let digest = engine.manifest_push(&list, destination.as_deref(), &opts)?;
            if !quiet {
                println!("{digest}");
            }
        }
    }
    Ok(0)
}
