use anyhow::Result;
use wharf_engine::{Engine, ExecOptions};

/// Run a command in a running Linux container
#[derive(clap::Args)]
pub struct Args {
    /// Keep stdin open
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a terminal
    #[arg(short = 't', long)]
    tty: bool,
    /// Set an environment variable (K=V), or copy K from the host (K)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// User to run as: name, uid, uid:gid or name:group
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// The container, then the command and its arguments
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "CONTAINER COMMAND [ARG]")]
    container_and_command: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    super::refuse_unknown_flag(a.container_and_command.first(), "exec")?;
    let mut words = a.container_and_command.into_iter();
    let opts = ExecOptions {
        container: words.next().unwrap_or_default(),
        args: words.collect(),
        interactive: a.interactive,
        tty: a.tty,
        env: a.env,
        user: a.user,
        workdir: a.workdir,
    };
    Ok(engine.exec(&opts)?)
}
