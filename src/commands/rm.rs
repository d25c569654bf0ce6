use anyhow::Result;
use wharf_engine::Engine;

/// Remove containers
#[derive(clap::Args)]
pub struct Args {
    /// Kill a running container before removing it
    #[arg(short = 'f', long)]
    force: bool,
    /// Names or ids of containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    super::each(&a.containers, |c| engine.remove(c, a.force))
}
