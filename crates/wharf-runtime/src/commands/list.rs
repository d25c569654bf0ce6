use crate::{Cli, Failure, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// table or json.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Only ids.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(cli: &Cli, a: &Args) -> Result<i32> {
    let all = wharf_linux::list(&cli.root).map_err(super::linux_err)?;
    if a.quiet {
        for c in &all {
            println!("{}", c.id);
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&all)?),
        "table" => {
            println!(
                "{:<20} {:<8} {:<10} {:<40} CREATED",
                "ID", "PID", "STATUS", "BUNDLE"
            );
            for c in &all {
                println!(
                    "{:<20} {:<8} {:<10} {:<40} {}",
                    c.id,
                    c.pid,
                    c.status,
                    c.bundle.display(),
                    c.created
                );
            }
        }
        f => {
            return Err(Failure::from(format!(
                "invalid --format {f:?}: table or json"
            )))
        }
    }
    Ok(0)
}
