//! `image prune`, `container prune` and `system prune`: Docker's messages,
//! and its confirmation (asked on a terminal; -f needed otherwise).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use wharf_engine::system::{PruneFilter, Pruned};
use wharf_engine::Engine;

use crate::table;

/// Remove images no container uses: those without a name, or all with -a
#[derive(clap::Args)]
pub struct ImageArgs {
    /// Only those matching: until=TIME (made before: RFC 3339, Unix
    /// seconds or a duration before now, 24h), label=KEY[=VALUE],
    /// label!=KEY[=VALUE]; repeatable, all must match
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Remove every image no container uses, not only unnamed (dangling) ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal)
    #[arg(short = 'f', long)]
    force: bool,
}

/// Remove all stopped containers (created or exited)
#[derive(clap::Args)]
pub struct ContainerArgs {
    /// Only those matching: until=TIME (made before: RFC 3339, Unix
    /// seconds or a duration before now, 24h), label=KEY[=VALUE],
    /// label!=KEY[=VALUE]; repeatable, all must match
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Do not ask for confirmation (needed when stdin is not a terminal)
    #[arg(short = 'f', long)]
    force: bool,
}

/// Remove stopped containers, unused networks, dangling images (and with
/// the flags, all unused images and unused volumes)
#[derive(clap::Args)]
pub struct SystemArgs {
    /// Remove every image no container uses, not only unnamed (dangling) ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Remove volumes no container uses too
    #[arg(long)]
    volumes: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal)
    #[arg(short = 'f', long)]
    force: bool,
}

pub fn image(engine: &Engine, a: ImageArgs) -> Result<i32> {
    let filters = parse_filters(&a.filters)?;
    let what = if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    if !confirm(
        a.force,
        &format!("WARNING! This will remove {what}."),
        "image prune",
    )? {
        return Ok(0);
    }
    let pruned = engine.image_prune(a.all, &filters)?;
    print_images(&pruned);
    println!(
        "Total reclaimed space: {}",
        table::human_size(pruned.reclaimed)
    );
    Ok(0)
}

pub fn container(engine: &Engine, a: ContainerArgs) -> Result<i32> {
    let filters = parse_filters(&a.filters)?;
    if !confirm(
        a.force,
        "WARNING! This will remove all stopped containers.",
        "container prune",
    )? {
        return Ok(0);
    }
    let pruned = engine.container_prune(&filters)?;
    print_containers(&pruned);
    println!(
        "Total reclaimed space: {}",
        table::human_size(pruned.reclaimed)
    );
    Ok(0)
}

pub fn system(engine: &Engine, a: SystemArgs) -> Result<i32> {
    let mut warning = String::from(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container",
    );
    if a.volumes {
        warning.push_str("\n  - all volumes not used by at least one container");
    }
    warning.push_str(if a.all {
        "\n  - all images without at least one container associated to them"
    } else {
        "\n  - all dangling images"
    });
    // Docker's list ends with a blank line before the question.
    warning.push('\n');
    if !confirm(a.force, &warning, "system prune")? {
        return Ok(0);
    }
    // Containers first: the images and volumes they held become unused.
    let containers = engine.container_prune(&[])?;
    print_containers(&containers);
    let networks = engine.network_prune()?;
    if !networks.is_empty() {
        println!("Deleted Networks:");
        networks
            .iter()
            .for_each(|n| println!("{}", table::escape_controls(n)));
        println!();
    }
    let mut reclaimed = containers.reclaimed;
    if a.volumes {
        let volumes = engine.volume_prune()?;
        if !volumes.removed.is_empty() {
            println!("Deleted Volumes:");
            volumes.removed.iter().for_each(|v| println!("{v}"));
            println!();
        }
        reclaimed += volumes.reclaimed;
    }
    let images = engine.image_prune(a.all, &[])?;
    print_images(&images);
    reclaimed += images.reclaimed;
    println!("Total reclaimed space: {}", table::human_size(reclaimed));
    Ok(0)
}

/// Parsed before anything is asked or removed.
fn parse_filters(filters: &[String]) -> Result<Vec<PruneFilter>> {
    Ok(filters
        .iter()
        .map(|f| f.parse())
        .collect::<wharf_engine::Result<Vec<PruneFilter>>>()?)
}

fn print_containers(pruned: &Pruned) {
    if !pruned.deleted.is_empty() {
        println!("Deleted Containers:");
        pruned.deleted.iter().for_each(|id| println!("{id}"));
        println!();
    }
}

fn print_images(pruned: &Pruned) {
    if pruned.deleted.is_empty() {
        return;
    }
    println!("Deleted Images:");
    for name in &pruned.untagged {
        println!("untagged: {}", table::escape_controls(name));
    }
    for id in &pruned.deleted {
        println!("deleted: {id}");
    }
    println!();
}

/// Docker's question before a prune. Asked only on a terminal: a script
/// (stdin not a terminal) must say -f, rather than have a prune read its
/// input or go ahead unasked.
pub(super) fn confirm(force: bool, warning: &str, command: &str) -> Result<bool> {
    if force {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "wharf {command} asks for confirmation, but stdin is not a terminal: add -f (--force) to remove without asking"
        );
    }
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}
