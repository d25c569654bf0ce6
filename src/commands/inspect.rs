use anyhow::{bail, Result};
use serde_json::Value;
use wharf_engine::Engine;

/// Show details of containers or images as a JSON array
#[derive(clap::Args)]
pub struct Args {
    /// Only look for this type: container or image
    #[arg(long = "type")]
    kind: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let mut out: Vec<Value> = Vec::new();
    let mut code = 0;
    for name in &a.names {
        let found = match a.kind.as_deref() {
            Some("container") => engine
                .container(name)
                .map(|c| engine.inspect_container(&c))
                .map_err(anyhow::Error::from),
            Some("image") => engine.inspect_image(name).map_err(anyhow::Error::from),
            None => match engine.container(name) {
                Ok(c) => Ok(engine.inspect_container(&c)),
                Err(_) => engine
                    .inspect_image(name)
                    .map_err(|_| anyhow::anyhow!("no such container or image: {name}")),
            },
            Some(other) => bail!("unknown --type {other}: use container or image"),
        };
        match found {
            Ok(v) => out.push(v),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(code)
}
