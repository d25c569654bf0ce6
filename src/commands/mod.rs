//! One file per `wharf` command: each parses its flags, calls the engine and
//! prints, returning the process exit code.

pub mod bench;
pub mod build;
pub mod builder;
pub mod completion;
pub mod compose;
pub mod container;
pub mod cp;
pub mod create;
pub mod events;
pub mod exec;
pub mod export;
pub mod history;
pub mod image;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod login;
pub mod logout;
pub mod logs;
pub mod manifest;
pub mod network;
pub mod pause;
pub mod port;
pub mod prune;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod start;
pub mod stats;
pub mod stop;
pub mod system;
pub mod tag;
pub mod top;
pub mod unpause;
pub mod version;
pub mod volume;
pub mod wait;

/// Applies `f` to each named container, printing the name on success and the
/// error otherwise, like Docker; non-zero when any failed.
fn each(names: &[String], f: impl Fn(&str) -> wharf_engine::Result<()>) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in names {
        match f(name) {
            Ok(()) => println!("{}", crate::table::escape_controls(name)),
            Err(e) => {
                eprintln!("Error: {}", crate::table::escape_controls(&e.to_string()));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// The first word after `run`'s or `exec`'s flags names the image or the
/// container; one starting with `-` is a flag Wharf does not know, which
/// must be said as such (not as a bad image or container name).
fn refuse_unknown_flag(first: Option<&String>, command: &str) -> anyhow::Result<()> {
    match first {
        Some(word) if word.starts_with('-') => anyhow::bail!(
            "unknown flag: {word}\nSee 'wharf {command} --help' for the flags it takes; Wharf does not have this one"
        ),
        _ => Ok(()),
    }
}
