//! The command line as clap builds it, with Wharf's adjustments: `--root`
//! hidden on the commands that use no store, and clap's "a similar
//! subcommand exists" tips kept only when they are likely what was meant.

use std::collections::HashMap;

use clap::builder::{Resettable, StyledStr};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

/// Commands that never open the store at `--root`.
const NO_STORE: &[&str] = &["version", "completion", "bench", "login", "logout", "__man"];

/// The command tree as parsed: `Command` is `defer`red, so clap builds a
/// subcommand's arguments only for the one being run. Building all ~60
/// commands' arguments on every start cost 0.8 ms of CPU and 170 page
/// faults, a sixth of a Wasm container's start.
fn parse_tree<P: CommandFactory>() -> clap::Command {
    // A subcommand's own hidden --root keeps the global one (which clap
    // copies into every subcommand) out of its help and usage.
    P::command().mut_subcommands(|s| {
        if NO_STORE.contains(&s.get_name()) {
            s.arg(
                clap::Arg::new("root")
                    .long("root")
                    .value_name("DIR")
                    .value_parser(clap::value_parser!(std::path::PathBuf))
                    .help("Not used: this command opens no store")
                    .hide(true),
            )
        } else {
            s
        }
    })
}

/// The whole command tree, every subcommand built: what help, completion
/// and man pages show.
pub fn command<P: CommandFactory>() -> clap::Command {
    let mut cmd = parse_tree::<P>();
    // A deferred subcommand's own description (its Args' doc comment) is
    // applied after its variant's (`create`'s "run's flags"); the variant's
    // must win, as it does without deferral.
    let variant_docs: HashMap<String, (StyledStr, Option<StyledStr>)> = cmd
        .get_subcommands()
        .filter_map(|s| {
            let about = s.get_about()?.clone();
            Some((
                s.get_name().to_string(),
                (about, s.get_long_about().cloned()),
            ))
        })
        .collect();
    cmd.build();
    cmd.mut_subcommands(|s| match variant_docs.get(s.get_name()).cloned() {
        Some((about, Some(long))) => s.about(about).long_about(long),
        Some((about, None)) => s.about(about).long_about(Resettable::Reset),
        None => s,
    })
}

/// `P::parse()`, over [`parse_tree`], with sane tips. Help and errors are
/// rendered from the whole tree ([`command`]), since the deferred one has
/// no descriptions for the subcommands it did not build.
pub fn parse<P: Parser>() -> P {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut cmd = parse_tree::<P>();
    let parsed = cmd
        .try_get_matches_from_mut(&args)
        .and_then(|m| P::from_arg_matches(&m));
    match parsed {
        Ok(p) => return p,
        Err(e) if e.kind() == ErrorKind::DisplayVersion => e.exit(),
        Err(_) => {}
    }
    let mut full = command::<P>();
    let parsed = full
        .try_get_matches_from_mut(&args)
        .and_then(|m| P::from_arg_matches(&m));
    match parsed {
        Ok(p) => p,
        Err(e) => sane_tips(e.format(&mut full), &full).exit(),
    }
}

/// clap suggests any command within a Jaro distance: `top` gets `stop`,
/// `pause` gets `push`, which are different commands, not typos. Keep a
/// suggestion only when the word starts it (`insp`) or is one edit from it
/// with the same first letter and at least four letters (`imagse`, `biuld`).
fn sane_tips(e: clap::Error, cmd: &clap::Command) -> clap::Error {
    if e.kind() != ErrorKind::InvalidSubcommand {
        return e;
    }
    let Some(ContextValue::String(typed)) = e.get(ContextKind::InvalidSubcommand) else {
        return e;
    };
    let typed = typed.clone();
    let mut out = clap::Error::new(e.kind()).with_cmd(cmd);
    for (kind, value) in e.context() {
        let value = match (kind, value) {
            (ContextKind::SuggestedSubcommand, ContextValue::Strings(all)) => {
                let kept: Vec<String> = all
                    .iter()
                    .filter(|c| likely_meant(&typed, c))
                    .cloned()
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                ContextValue::Strings(kept)
            }
            (ContextKind::SuggestedSubcommand, ContextValue::String(one)) => {
                if !likely_meant(&typed, one) {
                    continue;
                }
                value.clone()
            }
            // An empty list would still print the blank line before tips.
            (ContextKind::Suggested, ContextValue::StyledStrs(tips)) if tips.is_empty() => continue,
            _ => value.clone(),
        };
        out.insert(kind, value);
    }
    out
}

fn likely_meant(typed: &str, command: &str) -> bool {
    if typed.len() >= 2 && command.starts_with(typed) {
        return true;
    }
    typed.chars().count() >= 4
        && typed.chars().next() == command.chars().next()
        && strsim::osa_distance(typed, command) == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tips_only_for_likely_typos() {
        assert!(!likely_meant("top", "stop"));
        assert!(!likely_meant("pause", "push"));
        assert!(!likely_meant("stats", "start"));
        assert!(likely_meant("imagse", "images"));
        assert!(likely_meant("biuld", "build"));
        assert!(likely_meant("insp", "inspect"));
    }

    /// Every argument says what it is for in --help.
    #[test]
    fn every_argument_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let builtin = matches!(a.get_id().as_str(), "help" | "version");
                if !builtin && !a.is_hide_set() && a.get_help().is_none() {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            for s in cmd.get_subcommands() {
                if s.get_name() != "help" && !s.is_hide_set() {
                    walk(s, &format!("{path} {}", s.get_name()), missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&command::<crate::Cli>(), "wharf", &mut missing);
        assert!(
            missing.is_empty(),
            "arguments without a description: {missing:#?}"
        );
    }
}
