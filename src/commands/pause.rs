use anyhow::Result;
use wharf_engine::Engine;

/// Pause all processes within one or more containers
#[derive(clap::Args)]
pub struct Args {
    /// The containers to pause (names or ids)
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    super::each(&a.containers, |c| engine.pause(c))
}
