use std::io::Read;

use anyhow::{Context, Result};
use wharf_engine::registry::RegistryOptions;
use wharf_engine::Engine;

/// Log in to a registry (credentials go to Docker's config.json)
#[derive(clap::Args)]
pub struct Args {
    /// User name
    #[arg(short = 'u', long)]
    username: String,
    /// Password (visible to other users in the process list: prefer --password-stdin)
    #[arg(short = 'p', long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// Verify the registry's TLS certificate (false: accept any, fall back to HTTP)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
    tls_verify: bool,
    /// The registry: host[:port]
    server: String,
}

pub fn exec(a: Args) -> Result<i32> {
    let password = match (a.password, a.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the password from stdin")?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => anyhow::bail!("give the password with --password-stdin or -p"),
    };
    let opts = RegistryOptions {
        tls_verify: a.tls_verify,
        quiet: true,
    };
    let registry = Engine::login(&a.server, &a.username, &password, &opts)
        .with_context(|| format!("logging in to {}", a.server))?;
    eprintln!(
        "Credentials for {registry} saved in {}",
        Engine::credentials_path().display()
    );
    println!("Login Succeeded");
    Ok(0)
}
