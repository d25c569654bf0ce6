use anyhow::Result;
use wharf_engine::Engine;

/// Display the running processes of a container (ps options after its name; default -ef)
#[derive(clap::Args)]
pub struct Args {
    /// The running container (name or id)
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Options for ps, e.g. -o pid,user,args
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PS OPTIONS"
    )]
    ps_args: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let top = engine.top(&a.container, &a.ps_args)?;
    if let Some(note) = &top.note {
        eprintln!("wharf: {note}");
    }
    let titles: Vec<&str> = top.titles.iter().map(String::as_str).collect();
    crate::table::print(&titles, &top.rows);
    Ok(0)
}
