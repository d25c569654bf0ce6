use anyhow::Result;
use wharf_engine::Engine;

use super::{build, history, images, import, inspect, load, prune, pull, push, rmi, save, tag};

/// Manage images (Docker's `image` group: the same commands as images,
/// rmi, tag, pull, ...)
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand)]
enum Command {
    #[command(alias = "list")]
    Ls(images::Args),
    /// Show details of images as a JSON array
    Inspect(inspect::Objects),
    #[command(alias = "remove")]
    Rm(rmi::Args),
    Prune(prune::ImageArgs),
    Tag(tag::Args),
    Pull(pull::Args),
    Push(push::Args),
    Save(save::Args),
    Load(load::Args),
    Import(import::Args),
    Build(build::Args),
    History(history::Args),
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    match a.command {
        Command::Ls(a) => images::exec(engine, a),
        Command::Inspect(a) => inspect::exec_kind(engine, a, Some("image")),
        Command::Rm(a) => rmi::exec(engine, a),
        Command::Prune(a) => prune::image(engine, a),
        Command::Tag(a) => tag::exec(engine, a),
        Command::Pull(a) => pull::exec(engine, a),
        Command::Push(a) => push::exec(engine, a),
        Command::Save(a) => save::exec(engine, a),
        Command::Load(a) => load::exec(engine, a),
        Command::Import(a) => import::exec(engine, a),
        Command::Build(a) => build::exec(engine, a),
        Command::History(a) => history::exec(engine, a),
    }
}
