use anyhow::Result;
use wharf_engine::Engine;

/// Send a signal to containers (default SIGKILL)
#[derive(clap::Args)]
pub struct Args {
    /// Signal name or number
    #[arg(short = 's', long, default_value = "KILL")]
    signal: String,
    /// Names or ids of containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    super::each(&a.containers, |c| engine.kill(c, &a.signal))
}
