use anyhow::Result;
use wharf_engine::Engine;

/// Start one or more created or stopped containers
#[derive(clap::Args)]
pub struct Args {
    /// Attach: print the container's output and exit with its exit code
    #[arg(short = 'a', long)]
    attach: bool,
    /// Attach the container's stdin
    #[arg(short = 'i', long)]
    interactive: bool,
    /// The containers to start (names or ids)
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    if a.attach || a.interactive {
        // Docker's rule: one container when attaching.
        let [container] = a.containers.as_slice() else {
            anyhow::bail!("you cannot start and attach multiple containers at once; start them detached (without -a/-i)");
        };
        // As with `run`, 125 says the engine failed, not the container.
        return match engine.start_attached(container, a.interactive) {
            Ok(code) => Ok(code),
            Err(e) => {
                eprintln!("Error: {}", crate::table::escape_controls(&e.to_string()));
                Ok(125)
            }
        };
    }
    super::each(&a.containers, |c| engine.start(c))
}
