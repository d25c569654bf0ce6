use anyhow::{bail, Result};
use serde_json::Value;
use wharf_engine::Engine;

/// Show details of containers or images as a JSON array
#[derive(clap::Args)]
pub struct Args {
    /// Only look for this type: container or image
    #[arg(long = "type")]
    kind: Option<String>,
    #[command(flatten)]
    objects: Objects,
}

/// What to inspect and how to print it (`image inspect` and `container
/// inspect` take these, with the type fixed).
#[derive(clap::Args)]
pub struct Objects {
    /// Print each object through a Go template instead of the JSON array
    /// ('{{.State.Status}}', '{{json .Config.Labels}}'), or `json` for one
    /// line of JSON each
    #[arg(short = 'f', long, value_name = "FORMAT")]
    format: Option<String>,
    /// Names or ids of containers or images
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    exec_kind(engine, a.objects, a.kind.as_deref())
}

/// `inspect` of containers and images (`kind` None), or only one type.
pub fn exec_kind(engine: &Engine, a: Objects, kind: Option<&str>) -> Result<i32> {
    // Parsed first: a bad template is an error before anything prints.
    let template = match a.format.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(crate::format::compile(
            &text.replace("\\t", "\t").replace("\\n", "\n"),
        )?),
    };
    let json_lines = a.format.as_deref().map(str::trim) == Some("json");
    let mut out: Vec<Value> = Vec::new();
    let mut code = 0;
    for name in &a.names {
        let found = match kind {
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
    if json_lines {
        out.iter().for_each(|v| println!("{v}"));
    } else if let Some(template) = &template {
        for v in &out {
            println!("{}", crate::format::render_value(template, v)?);
        }
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(code)
}
