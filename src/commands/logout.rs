use anyhow::Result;
use wharf_engine::Engine;

/// Log out from a registry (removes its credentials from Docker's config.json)
#[derive(clap::Args)]
pub struct Args {
    /// The registry: host[:port]
    server: String,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    if engine.logout(&a.server)? {
        println!("Removing login credentials for {}", a.server);
    } else {
        println!("Not logged in to {}", a.server);
    }
    Ok(0)
}
