use anyhow::Result;
use wharf_engine::Engine;

use super::{
    cp, create, exec, export, inspect, kill, logs, pause, port, prune, ps, rename, restart, rm,
    run, start, stats, stop, top, unpause, wait,
};

/// Manage containers (Docker's `container` group: the same commands as ps,
/// run, exec, logs, ...)
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand)]
enum Command {
    #[command(aliases = ["list", "ps"])]
    Ls(ps::Args),
    /// Show details of containers as a JSON array
    Inspect(inspect::Objects),
    #[command(alias = "remove")]
    Rm(rm::Args),
    Prune(prune::ContainerArgs),
    Logs(logs::Args),
    Stop(stop::Args),
    Kill(kill::Args),
    Exec(exec::Args),
    Run(run::Args),
    Port(port::Args),
    /// Create a new container without starting it (run's flags)
    Create(run::Args),
    Start(start::Args),
    Restart(restart::Args),
    Wait(wait::Args),
    Rename(rename::Args),
    Pause(pause::Args),
    Unpause(unpause::Args),
    Top(top::Args),
    Stats(stats::Args),
    Cp(cp::Args),
    Export(export::Args),
}

impl Args {
    /// Whether this is `container run` or `container exec`, whose failures
    /// before the container starts exit 125 as Docker's do.
    pub fn runs_a_process(&self) -> bool {
        matches!(
            self.command,
            Command::Run(_) | Command::Exec(_) | Command::Create(_)
        )
    }
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    match a.command {
        Command::Ls(a) => ps::exec(engine, a),
        Command::Inspect(a) => inspect::exec_kind(engine, a, Some("container")),
        Command::Rm(a) => rm::exec(engine, a),
        Command::Prune(a) => prune::container(engine, a),
        Command::Logs(a) => logs::exec(engine, a),
        Command::Stop(a) => stop::exec(engine, a),
        Command::Kill(a) => kill::exec(engine, a),
        Command::Exec(a) => exec::exec(engine, a),
        Command::Run(a) => run::exec(engine, a),
        Command::Port(a) => port::exec(engine, a),
        Command::Create(a) => create::exec(engine, a),
        Command::Start(a) => start::exec(engine, a),
        Command::Restart(a) => restart::exec(engine, a),
        Command::Wait(a) => wait::exec(engine, a),
        Command::Rename(a) => rename::exec(engine, a),
        Command::Pause(a) => pause::exec(engine, a),
        Command::Unpause(a) => unpause::exec(engine, a),
        Command::Top(a) => top::exec(engine, a),
        Command::Stats(a) => stats::exec(engine, a),
        Command::Cp(a) => cp::exec(engine, a),
        Command::Export(a) => export::exec(engine, a),
    }
}
