//! Runs one Linux container from an OCI runtime spec and a rootfs, with
//! Docker's defaults (namespaces, capabilities, seccomp, masked paths, cgroup
//! limits), on top of youki's `libcontainer`.
//!
//! The crate knows nothing about images: the caller hands it a rootfs (usually
//! an overlay mounted with [`mount_overlay`]) and a spec whose process
//! args/env/cwd are already set; [`apply_defaults`] fills in the rest.
//!
//! A container lives runc's way ([`create`], then [`start_created`]; [`start`]
//! does both), and is driven by [`wait`]/[`kill`]/[`delete`]/[`exec`] and the
//! rest of runc's commands, all through the state kept under a state root.
//!
//! Processes are children of the calling process (libcontainer clones the
//! init process with `CLONE_PARENT`), so [`wait`] and [`exec`] must run in the
//! process that called [`create`]/[`start`]/[`exec`].

use std::os::fd::OwnedFd;
use std::path::PathBuf;

mod caps;
mod cgroup;
mod container;
mod control;
mod exec;
mod features;
mod filter_cache;
mod layer;
mod lifecycle;
mod netns;
mod overlay;
mod program;
mod query;
mod seccomp;
mod shadow;
mod signals;
mod spec;
mod stdio;
mod terminal;
mod tree;
mod user;

pub use cgroup::{cgroup_layout, usage, Usage};
pub use container::validate_id;
pub use control::{pause, resume, update};
pub use exec::{exec, exec_defaults, exec_process, ExecOptions};
pub use features::{default_spec, features};
pub use layer::layer_from_upper;
pub use lifecycle::{
    create, create_held, delete, kill, remove_reaped, start, start_created, wait, wait_and_remove,
    wait_process, CreateOptions, Created, Entrypoint,
};
pub use overlay::{is_overlay_mounted, mount_overlay, mount_plain_overlay, unmount_overlay};
pub use program::{check_command, check_program};
pub use query::{list, pids, state, ContainerState};
pub use shadow::{adapt_runc_spec, load_bundle};
pub use signals::{parse_signal, FORWARDED_SIGNALS};
pub use spec::INIT_PATH;
pub use spec::{apply_defaults, etc_files, nofile_clamp};
pub use stdio::ProcessIo;
pub use terminal::{proxy_terminal, pump, RawMode};
pub use tree::{mount_point, private_mount_namespace, Bind, Tree};
pub use user::{resolve_user, ResolvedUser};

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while preparing or running a container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A user-supplied option is malformed.
    #[error("invalid {what} {value:?}: {hint}")]
    InvalidOption {
        what: &'static str,
        value: String,
        hint: String,
    },
    /// `--user NAME` names a user missing from the image's /etc/passwd.
    #[error("unable to find user {user:?}: no matching entry in the image's /etc/passwd ({path}); use a numeric uid or add the user to the image")]
    UnknownUser { user: String, path: PathBuf },
    /// `--user x:GROUP` names a group missing from the image's /etc/group.
    #[error("unable to find group {group:?}: no matching entry in the image's /etc/group ({path}); use a numeric gid or add the group to the image")]
    UnknownGroup { group: String, path: PathBuf },
    /// The spec lacks something the caller had to provide.
    #[error("invalid runtime spec: {0}")]
    Spec(String),
    /// A seccomp profile could not be read or converted.
    #[error("seccomp profile {source_name}: {message}")]
    Seccomp {
        source_name: String,
        message: String,
    },
    /// No container with that id under the state root.
    #[error("no such container {id:?} under {root}: it was never started or has been deleted")]
    NotFound { id: String, root: PathBuf },
    /// A container with that id already exists.
    #[error("container {id:?} already exists under {root}: delete it first or pick another id")]
    AlreadyExists { id: String, root: PathBuf },
    /// The container is not in a state that allows the operation.
    #[error("container {id:?} is {state}: {hint}")]
    WrongState {
        id: String,
        state: String,
        hint: String,
    },
    /// `wait` called from a process that is not the container's parent.
    #[error("cannot wait for container process {pid}: it is not a child of this process (wait must be called by the process that started it)")]
    NotOurChild { pid: i32 },
    /// The container's program does not exist (Docker exits 127).
    #[error("{program}: executable file not found in the container (in $PATH, or at the path given); check the image's ENTRYPOINT/CMD or the command you gave")]
    CommandNotFound { program: String },
    /// The container's program exists but cannot be executed (Docker exits 126).
    #[error("{program}: the container cannot execute it ({reason}); it must be an executable file for this host")]
    CannotExecute { program: String, reason: String },
    /// libcontainer failed.
    #[error("{action} container {id:?} failed: {message}")]
    Runtime {
        action: &'static str,
        id: String,
        message: String,
    },
    /// Mount/unmount failure (overlay rootfs).
    #[error("{action} {path}: {source}{hint}")]
    Mount {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
        hint: &'static str,
    },
    /// Plain I/O failure with the path that caused it.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(
        what: &'static str,
        value: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::InvalidOption {
            what,
            value: value.into(),
            hint: hint.into(),
        }
    }
}

/// Seccomp profile selection (`--security-opt seccomp=...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// Docker's default profile (moby `profiles/seccomp/default.json`).
    #[default]
    Default,
    /// No seccomp filter.
    Unconfined,
    /// A profile in Docker's JSON format (with `archMap`, `includes`/`excludes`).
    File(PathBuf),
}

/// Network mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Network {
    /// A new network namespace with only the loopback interface.
    #[default]
    None,
    /// Share the host's network namespace.
    Host,
    /// Join a network namespace made (and wired) beforehand, e.g. by
    /// netavark on a bridge network.
    Joined(JoinedNetwork),
}

/// A network namespace a container joins, and what its /etc/hosts and
/// /etc/resolv.conf say about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinedNetwork {
    /// The namespace file (a bind mount of the namespace).
    pub netns: PathBuf,
    /// The container's own addresses, listed in /etc/hosts with its hostname.
    pub addresses: Vec<String>,
    /// resolv.conf's nameservers; empty: the host's resolv.conf.
    pub nameservers: Vec<String>,
    /// resolv.conf's search domains.
    pub search: Vec<String>,
    /// TCP ports published on the host: (host address, host port,
    /// container port); the address is None for every address.
    pub published_tcp: Vec<(Option<std::net::Ipv4Addr>, u16, u16)>,
}

/// Docker's Linux-only options, applied by [`apply_defaults`]. What every
/// container has whatever its kind — hostname, terminal, read-only root,
/// memory/CPU/pids limits — is in the spec the caller hands over, and
/// nowhere else.
#[derive(Debug, Clone, Default)]
pub struct LinuxOptions {
    /// Capabilities to add: `NET_ADMIN`, `CAP_NET_ADMIN` or `ALL`.
    pub cap_add: Vec<String>,
    /// Capabilities to drop: `NET_RAW`, `CAP_NET_RAW` or `ALL`.
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    pub network: Network,
    /// `--tmpfs` mounts: `/run` or `/run:size=64m,mode=1777`.
    pub tmpfs: Vec<String>,
    /// `name`, `uid`, `uid:gid`, `name:group`: resolved from the rootfs's
    /// /etc/passwd and /etc/group.
    pub user: Option<String>,
    /// `--add-host NAME:IP`: more /etc/hosts lines.
    pub add_hosts: Vec<(String, String)>,
    /// `--dns`: nameservers instead of the network's or the host's.
    pub dns: Vec<String>,
    /// `--ulimit`: these replace Docker's defaults for their resources.
    pub rlimits: Vec<Rlimit>,
    /// `--privileged`: every capability, no seccomp filter, no masked or
    /// read-only /proc paths, writable /sys, the host's devices.
    pub privileged: bool,
    /// `--init`: this host file (a static init) is bind-mounted at
    /// /sbin/docker-init and runs the command as its child.
    pub init: Option<std::path::PathBuf>,
}

/// One `process.rlimits` entry: `typ` is `RLIMIT_NOFILE` and the like;
/// `u64::MAX` is no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    pub typ: String,
    pub soft: u64,
    pub hard: u64,
}

/// The container process's stdio.
///
/// Always pass pipes or files for stdout/stderr: libcontainer re-opens fds that
/// point at the host's /dev/null as the container's /dev/null *read-only*.
#[derive(Debug)]
pub struct Stdio {
    /// `None`: the container reads from /dev/null.
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// A started container.
#[derive(Debug)]
pub struct Started {
    /// Host pid of the container's init process.
    pub pid: i32,
    /// Master side of the container's pseudo terminal when the spec asked
    /// for one (`process.terminal`); stdio is then ignored.
    pub pty_master: Option<OwnedFd>,
}

/// How the container's init process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Exit status, or 128 + signal number when killed by a signal.
    pub code: i32,
    /// The kernel's OOM killer killed a process of the container's cgroup.
    pub oom_killed: bool,
}
