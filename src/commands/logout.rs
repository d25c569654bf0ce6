use anyhow::Result;
use wharf_engine::Engine;

/// Log out from a registry (removes its credentials from Docker's config.json)
#[derive(clap::Args)]
pub struct Args {
    /// The registry: host[:port]
    server: String,
}

pub fn exec(a: Args) -> Result<i32> {
    if Engine::logout(&a.server)? {
        println!("Removing login credentials for {}", a.server);
    } else {
        println!("Not logged in to {}", a.server);
    }
    Ok(0)
}
