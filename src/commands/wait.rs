use anyhow::Result;
use wharf_engine::Engine;

/// Block until one or more containers stop, then print their exit codes
#[derive(clap::Args)]
pub struct Args {
    /// The containers to wait for (names or ids)
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let mut code = 0;
    for c in &a.containers {
        match engine.wait(c) {
            Ok(exit) => println!("{exit}"),
            Err(e) => {
                eprintln!("Error: {}", crate::table::escape_controls(&e.to_string()));
                code = 1;
            }
        }
    }
    Ok(code)
}
