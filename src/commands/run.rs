use anyhow::Result;
use wharf_engine::{Engine, HealthFlags, LinuxFlags, NetworkFlags, RunOptions, RunResult};

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
    /// Read environment variables from a file (K=V lines)
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<std::path::PathBuf>,
    /// Linux: user to run as (name, uid, uid:gid, name:group)
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Linux: add a capability (e.g. NET_ADMIN, or ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    cap_add: Vec<String>,
    /// Linux: drop a capability (e.g. NET_RAW, or ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    cap_drop: Vec<String>,
    /// Linux: no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json
    #[arg(long = "security-opt", value_name = "OPT")]
    security_opt: Vec<String>,
    /// Linux: mount the root filesystem read-only
    #[arg(long = "read-only")]
    read_only: bool,
    /// Linux: CPU quota in CPUs (e.g. 0.5)
    #[arg(long)]
    cpus: Option<f64>,
    /// Linux: maximum number of processes (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Network: none (loopback only; the default without -p), host, bridge (the default with -p) or a network's name
    #[arg(long, value_name = "NETWORK")]
    network: Option<String>,
    /// Another name the container answers to on its network (repeatable)
    #[arg(long = "network-alias", value_name = "ALIAS")]
    network_alias: Vec<String>,
    /// A fixed IPv4 address on the network
    #[arg(long, value_name = "IP")]
    ip: Option<String>,
    /// Publish a container port on the host: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]
    #[arg(short = 'p', long = "publish", value_name = "PORTS")]
    publish: Vec<String>,
    /// A nameserver for the container's /etc/resolv.conf (repeatable)
    #[arg(long, value_name = "IP")]
    dns: Vec<String>,
    /// Another /etc/hosts line: NAME:IP (repeatable)
    #[arg(long = "add-host", value_name = "NAME:IP")]
    add_host: Vec<String>,
    /// Linux: mount a tmpfs (e.g. /run or /run:size=64m)
    #[arg(long, value_name = "PATH[:OPTS]")]
    tmpfs: Vec<String>,
    /// Linux: the container's hostname [default: the short container id]
    #[arg(long)]
    hostname: Option<String>,
    /// Set metadata on the container: KEY=VALUE (repeatable); `ps --filter label=KEY` finds it
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Restart policy, applied by the container's monitor (needs -d): no, always, unless-stopped, on-failure[:MAX-RETRIES]
    #[arg(long, value_name = "POLICY")]
    restart: Option<String>,
    /// Read labels from a file (KEY=VALUE lines; # comments)
    #[arg(long = "label-file", value_name = "FILE")]
    label_file: Vec<std::path::PathBuf>,
    /// Signal that stops the container (name or number) [default: the image's STOPSIGNAL, else SIGTERM]
    #[arg(long = "stop-signal", value_name = "SIGNAL")]
    stop_signal: Option<String>,
    /// Seconds stop waits for the container before killing it (-1: forever) [default: 10]
    #[arg(
        long = "stop-timeout",
        value_name = "SECONDS",
        allow_hyphen_values = true
    )]
    stop_timeout: Option<i64>,
    /// Write the container's id to this file (refused if it exists)
    #[arg(long, value_name = "FILE")]
    cidfile: Option<std::path::PathBuf>,
    /// Pull the image before running: always, missing (only when not in the store, for names with a registry) or never
    #[arg(long, value_name = "POLICY")]
    pull: Option<String>,
    /// Linux: a resource limit, NAME=SOFT[:HARD] (e.g. nofile=1024:2048)
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    ulimit: Vec<String>,
    /// Linux: every capability, no seccomp filter, no masked /proc paths, writable /sys, the host's devices
    #[arg(long)]
    privileged: bool,
    /// Linux: run a tiny init as PID 1 that forwards signals and reaps zombies
    #[arg(long)]
    init: bool,
    /// Mount: type=bind|volume|tmpfs,source=SRC,target=DEST[,readonly][,tmpfs-size=N][,tmpfs-mode=M]
    #[arg(long, value_name = "MOUNT")]
    mount: Vec<String>,
    /// Linux: command run in the container (via /bin/sh -c) to check its health; exit 0 is healthy
    #[arg(long = "health-cmd", value_name = "COMMAND")]
    health_cmd: Option<String>,
    /// Time between health checks (e.g. 30s, 1m30s) [default: 30s]
    #[arg(long = "health-interval", value_name = "DURATION")]
    health_interval: Option<String>,
    /// Time a health check may take before it counts as failed [default: 30s]
    #[arg(long = "health-timeout", value_name = "DURATION")]
    health_timeout: Option<String>,
    /// Consecutive failures that make the container unhealthy [default: 3]
    #[arg(long = "health-retries", value_name = "N")]
    health_retries: Option<u64>,
    /// Time after the start during which failed checks do not count [default: 0s]
    #[arg(long = "health-start-period", value_name = "DURATION")]
    health_start_period: Option<String>,
    /// Run no health check
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// Runtime: wharf, runc or crun (Linux containers); io.containerd.wasmtime.v1, io.containerd.wasmedge.v1 or io.containerd.spin.v2 (Wasm); all run on Wharf's own executors
    #[arg(long, value_name = "RUNTIME")]
    runtime: Option<String>,
    /// The image, then the command and its arguments
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "IMAGE [COMMAND] [ARG]")]
    image_and_args: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let opts = a.into_options("run")?;
    match engine.run(&opts)? {
        RunResult::Exited(code) => Ok(code),
        RunResult::Detached(id) => {
            println!("{id}");
            Ok(0)
        }
    }
}

impl Args {
    /// The engine's options for these flags (`command`: run or create, for
    /// the error naming a flag Wharf lacks).
    pub fn into_options(self, command: &str) -> Result<RunOptions> {
        let a = self;
        super::refuse_unknown_flag(a.image_and_args.first(), command)?;
        let mut env = Vec::new();
        for file in &a.env_file {
            env.extend(wharf_engine::spec::read_env_file(file)?);
        }
        env.extend(a.env);
        let mut labels = Vec::new();
        for file in &a.label_file {
            // The same KEY=VALUE line format as --env-file, as in Docker.
            labels.extend(wharf_engine::spec::read_env_file(file)?);
        }
        labels.extend(a.labels);
        let mut words = a.image_and_args.into_iter();
        let opts = RunOptions {
            image: words.next().unwrap_or_default(),
            args: words.collect(),
            name: a.name,
            rm: a.rm,
            detach: a.detach,
            interactive: a.interactive,
            tty: a.tty,
            env,
            volumes: a.volumes,
            workdir: a.workdir,
            entrypoint: a.entrypoint,
            memory: a.memory,
            platform: a.platform,
            network: NetworkFlags {
                network: a.network,
                aliases: a.network_alias,
                ip: a.ip,
                publish: a.publish,
                dns: a.dns,
                add_hosts: a.add_host,
            },
            linux: LinuxFlags {
                cap_add: a.cap_add,
                cap_drop: a.cap_drop,
                security_opt: a.security_opt,
                read_only: a.read_only,
                cpus: a.cpus,
                pids_limit: a.pids_limit,
                tmpfs: a.tmpfs,
                user: a.user,
                hostname: a.hostname,
                ulimits: a.ulimit,
                privileged: a.privileged,
                init: a.init,
            },
            labels,
            restart: a.restart,
            stop_signal: a.stop_signal,
            stop_timeout: a.stop_timeout,
            cidfile: a.cidfile,
            pull: a.pull,
            mounts: a.mount,
            health: HealthFlags {
                cmd: a.health_cmd,
                interval: a.health_interval,
                timeout: a.health_timeout,
                retries: a.health_retries,
                start_period: a.health_start_period,
                none: a.no_healthcheck,
            },
            runtime: a.runtime,
        };
        Ok(opts)
    }
}
