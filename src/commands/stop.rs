use std::time::Duration;

use anyhow::Result;
use wharf_engine::Engine;

/// Stop containers: SIGTERM, then SIGKILL after the timeout
#[derive(clap::Args)]
pub struct Args {
    /// Seconds to wait before killing
    #[arg(short = 't', long = "time", alias = "timeout", default_value_t = 10)]
    time: u64,
    /// Names or ids of containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    super::each(&a.containers, |c| {
        engine.stop(c, Duration::from_secs(a.time))
    })
}
