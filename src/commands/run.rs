use anyhow::Result;
use wharf_engine::{Engine, RunOptions, RunResult};

/// Run a command in a new container
#[derive(clap::Args)]
pub struct Args {
    /// Remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Run in the background and print the container id
    #[arg(short = 'd', long)]
    detach: bool,
    /// Keep stdin open and pass it to the container
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a terminal (Wasm guests write to this terminal directly)
    #[arg(short = 't', long)]
    tty: bool,
    /// Name the container
    #[arg(long)]
    name: Option<String>,
    /// Set an environment variable (K=V), or copy K from the host (K)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Grant a host directory: HOST:CONTAINER[:ro]
    #[arg(short = 'v', long = "volume", value_name = "HOST:CONTAINER[:ro]")]
    volumes: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// Override the image's ENTRYPOINT
    #[arg(long)]
    entrypoint: Option<String>,
    /// Memory limit (e.g. 64m, 1g); for Wasm, the guest's linear memory
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Platform to pick from a multi-platform image (e.g. wasi/wasm, linux/amd64)
    #[arg(long)]
    platform: Option<String>,
    /// The image, then the command and its arguments
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "IMAGE [COMMAND] [ARG]")]
    image_and_args: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let mut words = a.image_and_args.into_iter();
    let opts = RunOptions {
        image: words.next().unwrap_or_default(),
        args: words.collect(),
        name: a.name,
        rm: a.rm,
        detach: a.detach,
        interactive: a.interactive,
        tty: a.tty,
        env: a.env,
        volumes: a.volumes,
        workdir: a.workdir,
        entrypoint: a.entrypoint,
        memory: a.memory,
        platform: a.platform,
    };
    match engine.run(&opts)? {
        RunResult::Exited(code) => Ok(code),
        RunResult::Detached(id) => {
            println!("{id}");
            Ok(0)
        }
    }
}
