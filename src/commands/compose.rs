use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;
use serde_json::json;
use wharf_compose::driver::{Compose, DownOptions, LogOptions, UpOptions};
use wharf_compose::{LoadOptions, Project};
use wharf_engine::{Engine, ExecOptions};

use crate::table;

/// Run multi-container projects from Compose files (Wasm and Linux services side by side)
#[derive(clap::Args)]
pub struct Args {
    /// Compose file (repeatable; later files override earlier ones)
    /// [default: compose.yaml or docker-compose.yml here or in a parent, plus its override file]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Project name [default: COMPOSE_PROJECT_NAME, the file's `name:`, or the directory's name]
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    project_name: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create and start the project's containers, in dependency order
    ///
    /// Builds images that are missing (or all with --build), pulls missing
    /// ones that name a registry, makes the networks and volumes, then
    /// starts each service once its depends_on conditions hold. A container
    /// that runs with the file's configuration is left running; others are
    /// recreated. Without -d, follows the logs until Ctrl-C, which stops
    /// the containers.
    Up {
        /// Detached: return once everything is started
        #[arg(short = 'd', long)]
        detach: bool,
        /// Build images before starting, even those that exist
        #[arg(long)]
        build: bool,
        /// Only these services (and those they depend on)
        services: Vec<String>,
    },
    /// Stop and remove the project's containers and networks
    Down {
        /// Also remove the named volumes the file declares (not external
        /// ones) and the services' anonymous volumes
        #[arg(short = 'v', long)]
        volumes: bool,
        /// Also remove containers of services no longer in the file
        #[arg(long)]
        remove_orphans: bool,
    },
    /// List the project's containers
    Ps {
        /// Also stopped containers
        #[arg(short = 'a', long)]
        all: bool,
        /// Only print container ids
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Output format: table or json (one object per line)
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Show the services' logs, each line prefixed with its container
    Logs {
        /// Follow the logs until the containers end
        #[arg(short = 'f', long)]
        follow: bool,
        /// Show timestamps
        #[arg(short = 't', long)]
        timestamps: bool,
        /// Print lines without the `service-1  | ` prefix
        #[arg(long)]
        no_log_prefix: bool,
        /// Only these services
        services: Vec<String>,
    },
    /// Run a command in a service's running container (Linux containers)
    Exec {
        /// No terminal (the default when stdin is not a terminal)
        #[arg(short = 'T', long = "no-tty")]
        no_tty: bool,
        /// Set an environment variable (K=V)
        #[arg(short = 'e', long = "env", value_name = "K=V")]
        env: Vec<String>,
        /// User to run as: name, uid, uid:gid or name:group
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Working directory inside the container
        #[arg(short = 'w', long)]
        workdir: Option<String>,
        /// The service, then the command and its arguments
        #[arg(required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "SERVICE COMMAND [ARG]")]
        service_and_command: Vec<String>,
    },
    /// Build the images of services with a build section
    Build {
        /// Only these services
        services: Vec<String>,
    },
    /// Pull the images of services that have no build section
    Pull {
        /// Only these services
        services: Vec<String>,
    },
    /// Print the resolved project (interpolated, merged, normalised)
    Config {
        /// Print only the service names
        #[arg(long)]
        services: bool,
        /// Only check the files; print nothing
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Stop the services' containers (dependents first)
    Stop {
        /// Only these services [default: all]
        services: Vec<String>,
    },
    /// Start the services' containers again
    ///
    /// A running container is left as it is. Wharf cannot start an exited
    /// container a second time, so an exited one is recreated from the
    /// file (same name, volumes and networks; its writable layer and logs
    /// start afresh).
    Start {
        /// Only these services [default: all]
        services: Vec<String>,
    },
    /// Stop, then start the services' containers (exited ones are recreated, see start)
    Restart {
        /// Only these services [default: all]
        services: Vec<String>,
    },
}

pub fn exec(root: &Path, a: Args) -> Result<i32> {
    let mut options = LoadOptions::from_process()?;
    options.files = a.files;
    options.project_name = a.project_name;
    let project = wharf_compose::load(&options)?;
    for w in &project.warnings {
        eprintln!("warning: {}", table::escape_controls(&w.to_string()));
    }
    for n in &project.notes {
        eprintln!("note: {}", table::escape_controls(&n.to_string()));
    }
    if let Command::Config { services, quiet } = &a.command {
        return Ok(config(&project, *services, *quiet));
    }
    let engine = Engine::open(root)?;
    let compose = Compose::new(&engine, &project);
    match a.command {
        Command::Up {
            detach,
            build,
            services,
        } => Ok(compose.up(&UpOptions {
            services,
            detach,
            build,
        })?),
        Command::Down {
            volumes,
            remove_orphans,
        } => {
            compose.down(&DownOptions {
                volumes,
                remove_orphans,
            })?;
            Ok(0)
        }
        Command::Ps { all, quiet, format } => ps(&compose, all, quiet, &format),
        Command::Logs {
            follow,
            timestamps,
            no_log_prefix,
            services,
        } => {
            let opts = LogOptions {
                follow,
                timestamps,
                prefix: !no_log_prefix,
            };
            compose.logs(&services, &opts, &Mutex::new(std::io::stdout()))?;
            Ok(0)
        }
        Command::Exec {
            no_tty,
            env,
            user,
            workdir,
            service_and_command,
        } => {
            super::refuse_unknown_flag(service_and_command.first(), "compose exec")?;
            let mut words = service_and_command.into_iter();
            let service = words.next().unwrap_or_default();
            let opts = ExecOptions {
                container: String::new(),
                args: words.collect(),
                interactive: true,
                tty: !no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
                env,
                user,
                workdir,
            };
            Ok(compose.exec(&service, opts)?)
        }
        Command::Build { services } => {
            compose.build(&services, &mut std::io::stdout())?;
            Ok(0)
        }
        Command::Pull { services } => {
            compose.pull(&services)?;
            Ok(0)
        }
        Command::Stop { services } => {
            compose.stop(&services)?;
            Ok(0)
        }
        Command::Start { services } => {
            compose.start(&services)?;
            Ok(0)
        }
        Command::Restart { services } => {
            compose.restart(&services)?;
            Ok(0)
        }
        Command::Config { .. } => unreachable!("answered before the store is opened"),
    }
}

fn config(project: &Project, services: bool, quiet: bool) -> i32 {
    if quiet {
        return 0;
    }
    if services {
        for name in project.start_order() {
            println!("{name}");
        }
    } else {
        print!("{}", project.to_config_yaml());
    }
    0
}

fn ps(compose: &Compose, all: bool, quiet: bool, format: &str) -> Result<i32> {
    let rows = compose.ps(all)?;
    if quiet {
        for r in &rows {
            println!("{}", &r.container.id[..12]);
        }
        return Ok(0);
    }
    match format {
        "json" => {
            for r in &rows {
                let c = &r.container;
                let v = json!({
                    "ID": &c.id[..12], "Name": c.name, "Image": c.image, "Service": r.service,
                    "Project": compose.project().name, "Command": c.command,
                    "CreatedAt": c.created, "Status": c.status, "State": c.state,
                    "Kind": c.kind, "Ports": c.ports,
                });
                println!("{v}");
            }
        }
        "table" => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let c = &r.container;
                    vec![
                        c.name.clone(),
                        c.image.clone(),
                        r.service.clone(),
                        c.status.clone(),
                        c.ports.clone(),
                    ]
                })
                .collect();
            table::print(&["NAME", "IMAGE", "SERVICE", "STATUS", "PORTS"], &cells);
        }
        other => anyhow::bail!("unknown --format {other}: use table or json"),
    }
    Ok(0)
}
