use std::time::Duration;

use anyhow::Result;
use wharf_engine::Engine;

/// Restart one or more containers: stop (their stop signal, SIGKILL after the timeout), then start detached
#[derive(clap::Args)]
pub struct Args {
    /// Seconds to wait for the stop before killing [default: the container's --stop-timeout, else 10]
    #[arg(short = 't', long = "time", alias = "timeout")]
    time: Option<u64>,
    /// The containers to restart (names or ids)
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    super::each(&a.containers, |c| {
        engine.restart(c, a.time.map(Duration::from_secs))
    })
}
