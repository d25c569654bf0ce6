use anyhow::Result;
use wharf_engine::Engine;

/// Remove images
#[derive(clap::Args)]
pub struct Args {
    /// Remove even if containers use the image
    #[arg(short = 'f', long)]
    force: bool,
    /// Images: names, ids or digests
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let mut code = 0;
    for name in &a.images {
        match engine.remove_image(name, a.force) {
            Ok(removed) => {
                for r in &removed.untagged {
                    println!("Untagged: {r}");
                }
                if let Some(id) = &removed.deleted {
                    println!("Deleted: {id}");
                }
            }
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
