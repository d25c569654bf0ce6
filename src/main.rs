//! `wharf`: run WebAssembly (WASI) and Linux containers from OCI images.
//! This binary only parses flags and prints; the work is in the crates.

mod commands;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wharf_engine::Engine;

#[derive(Parser)]
#[command(
    name = "wharf",
    version,
    about = "Run WebAssembly (WASI) and Linux containers side by side from the same OCI images"
)]
struct Cli {
    /// Where images, snapshots, compiled code and containers live
    /// [default: /var/lib/wharf for root, else $XDG_DATA_HOME/wharf]
    #[arg(long, global = true, env = "WHARF_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    Build(commands::build::Args),
    Run(commands::run::Args),
    Exec(commands::exec::Args),
    Ps(commands::ps::Args),
    Logs(commands::logs::Args),
    Stop(commands::stop::Args),
    Kill(commands::kill::Args),
    Rm(commands::rm::Args),
    Inspect(commands::inspect::Args),
    Images(commands::images::Args),
    Rmi(commands::rmi::Args),
    Tag(commands::tag::Args),
    Save(commands::save::Args),
    Load(commands::load::Args),
    Import(commands::import::Args),
    Pull(commands::pull::Args),
    Push(commands::push::Args),
    Login(commands::login::Args),
    Logout(commands::logout::Args),
    Manifest(commands::manifest::Args),
    Network(commands::network::Args),
    Volume(commands::volume::Args),
    Builder(commands::builder::Args),
    Compose(commands::compose::Args),
    Port(commands::port::Args),
    Bench(commands::bench::Args),
    /// Internal: the monitor process of a detached container.
    #[command(name = "__monitor", hide = true)]
    Monitor {
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = cli.root.clone().unwrap_or_else(Engine::default_root);
    // Docker's convention: a `run` that fails before its container starts exits 125.
    let error_code = if matches!(cli.command, Command::Run(_) | Command::Exec(_)) {
        125
    } else {
        1
    };
    // `wharf bench` uses a temporary store of its own: never open --root's.
    if let Command::Bench(a) = cli.command {
        return match commands::bench::exec(a) {
            Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
            Err(e) => {
                eprintln!("Error: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    // `wharf compose` opens the store itself, once the files have loaded
    // (`compose config` never needs it).
    if let Command::Compose(a) = cli.command {
        return finish(commands::compose::exec(&root, a), error_code);
    }
    let result = Engine::open(&root)
        .map_err(anyhow::Error::from)
        .and_then(|engine| match cli.command {
            Command::Build(a) => commands::build::exec(&engine, a),
            Command::Run(a) => commands::run::exec(&engine, a),
            Command::Exec(a) => commands::exec::exec(&engine, a),
            Command::Ps(a) => commands::ps::exec(&engine, a),
            Command::Logs(a) => commands::logs::exec(&engine, a),
            Command::Stop(a) => commands::stop::exec(&engine, a),
            Command::Kill(a) => commands::kill::exec(&engine, a),
            Command::Rm(a) => commands::rm::exec(&engine, a),
            Command::Inspect(a) => commands::inspect::exec(&engine, a),
            Command::Images(a) => commands::images::exec(&engine, a),
            Command::Rmi(a) => commands::rmi::exec(&engine, a),
            Command::Tag(a) => commands::tag::exec(&engine, a),
            Command::Save(a) => commands::save::exec(&engine, a),
            Command::Load(a) => commands::load::exec(&engine, a),
            Command::Import(a) => commands::import::exec(&engine, a),
            Command::Pull(a) => commands::pull::exec(&engine, a),
            Command::Push(a) => commands::push::exec(&engine, a),
            Command::Login(a) => commands::login::exec(&engine, a),
            Command::Logout(a) => commands::logout::exec(&engine, a),
            Command::Manifest(a) => commands::manifest::exec(&engine, a),
            Command::Network(a) => commands::network::exec(&engine, a),
            Command::Volume(a) => commands::volume::exec(&engine, a),
            Command::Builder(a) => commands::builder::exec(&engine, a),
            Command::Port(a) => commands::port::exec(&engine, a),
            Command::Bench(_) | Command::Compose(_) => {
                unreachable!("handled before the store is opened")
            }
            Command::Monitor { id } => Ok(engine.monitor(&id)),
        });
    finish(result, error_code)
}

/// The process's exit: the command's code, or its error printed on stderr.
fn finish(result: anyhow::Result<i32>, error_code: u8) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let error_code = exit_code_of(&e).unwrap_or(error_code);
            // Keep the message's line breaks; escape any other control
            // character a name from an archive may carry.
            let text = format!("{e:#}");
            let shown: Vec<String> = text.lines().map(table::escape_controls).collect();
            eprintln!("Error: {}", shown.join("\n"));
            ExitCode::from(error_code)
        }
    }
}

/// The exit code an engine error asks for (Docker's 126/127), if any.
fn exit_code_of(e: &anyhow::Error) -> Option<u8> {
    if let Some(wharf_compose::driver::DriverError::Engine(e)) = e.downcast_ref() {
        return e.exit_code();
    }
    e.downcast_ref::<wharf_engine::Error>()?.exit_code()
}
