use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap_complete::Shell;

/// Print a shell completion script (bash: `source <(wharf completion bash)`)
#[derive(clap::Args)]
pub struct Args {
    /// The shell: bash, zsh or fish
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    shell: String,
}

pub fn exec(a: Args) -> Result<i32> {
    let shell = match a.shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        _ => Shell::Fish,
    };
    // clap_complete's bash script lists hidden subcommands (`__monitor`):
    // complete a copy of the tree without them.
    let full = crate::cli::command::<crate::Cli>();
    // The tree comes built, with clap's own --help, --version and `help`
    // subcommand: the copy gets its own when clap_complete builds it.
    let own = |a: &&clap::Arg| !matches!(a.get_id().as_str(), "help" | "version");
    let mut cmd = clap::Command::new("wharf").args(full.get_arguments().filter(own).cloned());
    for sub in full
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        cmd = cmd.subcommand(sub.clone());
    }
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "wharf", &mut script);
    match std::io::stdout().write_all(&script) {
        // `wharf completion bash | head`: the reader had what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        r => r.map(|()| 0).context("cannot write the completion script"),
    }
}

/// `wharf __man DIR`: one page per command, `wharf.1`, `wharf-ps.1`,
/// `wharf-image-ls.1`, ...
pub fn man_pages(dir: &Path) -> Result<i32> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let mut cmd = crate::cli::command::<crate::Cli>();
    // Building names each subcommand by its path (`wharf-image-ls`).
    cmd.build();
    let mut written = 0;
    write_pages(&cmd, dir, &mut written)?;
    println!("{written} man pages in {}", dir.display());
    Ok(0)
}

/// A built command's display name is its path: `wharf-image-ls`.
fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut usize) -> Result<()> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut roff)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, roff).with_context(|| format!("cannot write {}", path.display()))?;
    *written += 1;
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
