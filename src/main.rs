//! `wharf`: run WebAssembly (WASI) and Linux containers from OCI images.
//! This binary only parses flags and prints; the work is in the crates.

mod cli;
mod commands;
mod format;
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
    /// Where images, snapshots, compiled code and containers live: this,
    /// else $WHARF_ROOT, else /var/lib/wharf for root and
    /// $XDG_DATA_HOME/wharf for others
    // $WHARF_ROOT is read in main, not through clap's `env`: clap counts an
    // argument from the environment as given, and error usage lines would
    // then show `--root <DIR>` the user never typed.
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
// Deferred: clap builds a subcommand's arguments only when it is the one
// run (or when help, completion or man pages walk the tree), which takes
// building every command's arguments off each start.
#[command(defer = true)]
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
    /// Create a new container without starting it (run's flags)
    Create(commands::run::Args),
    Start(commands::start::Args),
    Restart(commands::restart::Args),
    Wait(commands::wait::Args),
    Rename(commands::rename::Args),
    Events(commands::events::Args),
    Pause(commands::pause::Args),
    Unpause(commands::unpause::Args),
    Top(commands::top::Args),
    Stats(commands::stats::Args),
    Cp(commands::cp::Args),
    Export(commands::export::Args),
    Version(commands::version::Args),
    Completion(commands::completion::Args),
    /// Internal: write man pages (wharf.1, wharf-ps.1, ...) into a directory.
    #[command(name = "__man", hide = true)]
    Man {
        /// The directory to write them to (made if missing)
        dir: PathBuf,
    },
    History(commands::history::Args),
    Image(commands::image::Args),
    Container(commands::container::Args),
    System(commands::system::Args),
    Info(commands::info::Args),
    /// Internal: tears down spare network namespaces once idle, then exits.
    #[command(name = "__net-keeper", hide = true)]
    NetKeeper {
        /// The networks' run-time directory
        runtime_dir: PathBuf,
    },
    /// Internal: the monitor process of a detached container.
    #[command(name = "__monitor", hide = true)]
    Monitor {
        id: String,
    },
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    let root = cli
        .root
        .clone()
        .or_else(|| {
            std::env::var_os("WHARF_ROOT")
                .filter(|r| !r.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(Engine::default_root);
    // Commands that only print end quietly, as `ls | head` does, when what
    // reads their output goes away: SIGPIPE at its default kills them at the
    // next write. Only these: the others host guests, monitors, servers or
    // internal pipes, where a write to a closed pipe must be an error.
    if matches!(
        cli.command,
        Command::Ps(_)
            | Command::Logs(_)
            | Command::Inspect(_)
            | Command::Images(_)
            | Command::History(_)
            | Command::Info(_)
            | Command::Version(_)
            | Command::Port(_)
            | Command::Top(_)
            | Command::Stats(_)
            | Command::Completion(_)
    ) {
        // SAFETY: restoring a signal's default disposition, before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    // Docker's convention: a `run` that fails before its container starts exits 125.
    let runs_a_process = match &cli.command {
        Command::Run(_) | Command::Exec(_) | Command::Create(_) => true,
        Command::Container(c) => c.runs_a_process(),
        _ => false,
    };
    let error_code = if runs_a_process { 125 } else { 1 };
    // `wharf bench` uses a temporary store of its own: never open --root's.
    if let Command::Bench(a) = cli.command {
        return match commands::bench::exec(a) {
            Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
            Err(e) => {
                eprintln!("Error: {}", error_text(&e));
                ExitCode::from(1)
            }
        };
    }
    if let Command::Version(a) = cli.command {
        return finish(commands::version::exec(a), error_code);
    }
    // Registry credentials live in Docker's config.json, not in a store.
    if let Command::Login(a) = cli.command {
        return finish(commands::login::exec(a), error_code);
    }
    if let Command::Logout(a) = cli.command {
        return finish(commands::logout::exec(a), error_code);
    }
    if let Command::Completion(a) = cli.command {
        return finish(commands::completion::exec(a), error_code);
    }
    if let Command::Man { dir } = cli.command {
        return finish(commands::completion::man_pages(&dir), error_code);
    }
    // `wharf compose` opens the store itself, once the files have loaded
    // (`compose config` never needs it).
    if let Command::Compose(a) = cli.command {
        return finish(commands::compose::exec(&root, a), error_code);
    }
    // The keeper works from the run-time dir alone: its store may be gone.
    if let Command::NetKeeper { runtime_dir } = &cli.command {
        if !runtime_dir.join("attachments").is_dir() {
            // Its store's run-time state is gone (a removed test store).
            return ExitCode::SUCCESS;
        }
        let kept = wharf_net::Networks::open_runtime(runtime_dir).and_then(|n| n.keep_slots());
        return finish(kept.map(|()| 0).map_err(anyhow::Error::from), 1);
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
            Command::Manifest(a) => commands::manifest::exec(&engine, a),
            Command::Network(a) => commands::network::exec(&engine, a),
            Command::Volume(a) => commands::volume::exec(&engine, a),
            Command::Builder(a) => commands::builder::exec(&engine, a),
            Command::Port(a) => commands::port::exec(&engine, a),
            Command::Create(a) => commands::create::exec(&engine, a),
            Command::Start(a) => commands::start::exec(&engine, a),
            Command::Restart(a) => commands::restart::exec(&engine, a),
            Command::Wait(a) => commands::wait::exec(&engine, a),
            Command::Rename(a) => commands::rename::exec(&engine, a),
            Command::Events(a) => commands::events::exec(&engine, a),
            Command::Pause(a) => commands::pause::exec(&engine, a),
            Command::Unpause(a) => commands::unpause::exec(&engine, a),
            Command::Top(a) => commands::top::exec(&engine, a),
            Command::Stats(a) => commands::stats::exec(&engine, a),
            Command::Cp(a) => commands::cp::exec(&engine, a),
            Command::Export(a) => commands::export::exec(&engine, a),
            Command::Info(a) => commands::info::exec(&engine, a),
            Command::History(a) => commands::history::exec(&engine, a),
            Command::Image(a) => commands::image::exec(&engine, a),
            Command::Container(a) => commands::container::exec(&engine, a),
            Command::System(a) => commands::system::exec(&engine, a),
            Command::Bench(_)
            | Command::Compose(_)
            | Command::Version(_)
            | Command::Completion(_)
            | Command::Login(_)
            | Command::Logout(_)
            | Command::Man { .. }
            | Command::NetKeeper { .. } => {
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
            let text = error_text(&e);
            let shown: Vec<String> = text.lines().map(table::escape_controls).collect();
            eprintln!("Error: {}", shown.join("\n"));
            ExitCode::from(error_code)
        }
    }
}

/// The error and its causes, joined by ": " as anyhow's `{:#}` does, but
/// each cause only once: many errors (an io::Error's context, a library's
/// `{context}: {source}`) already print their source, which the chain then
/// yields again ("(os error 2): ... (os error 2)").
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if cause.is_empty() || text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// The exit code an engine error asks for (Docker's 126/127), if any.
fn exit_code_of(e: &anyhow::Error) -> Option<u8> {
    if let Some(wharf_compose::driver::DriverError::Engine(e)) = e.downcast_ref() {
        return e.exit_code();
    }
    e.downcast_ref::<wharf_engine::Error>()?.exit_code()
}
