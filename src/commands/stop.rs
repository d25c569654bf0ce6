use std::time::Duration;

use anyhow::Result;
use wharf_engine::Engine;

/// Stop containers: their stop signal (default SIGTERM), then SIGKILL after the timeout
#[derive(clap::Args)]
pub struct Args {
    /// Seconds to wait before killing [default: the container's --stop-timeout, else 10]
    #[arg(short = 't', long = "time", alias = "timeout")]
    time: Option<u64>,
    /// Names or ids of containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    super::each(&a.containers, |c| {
        engine.stop(c, a.time.map(Duration::from_secs))
    })
}
