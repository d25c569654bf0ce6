//! The engine: containers (ids, names, state, logs, monitor, lifecycle) and
//! the image operations that need more than the content store (build, load
//! and save prepare rootfs trees and compiled code). It reaches the kinds of
//! container through one seam, [`executor::Executor`]: the executor is
//! chosen once per container, at create, and nothing else asks its kind.

mod build_run;
mod container;
mod copy;
pub mod events;
mod exec;
pub mod executor;
mod flags;
mod fsutil;
pub mod health;
pub mod images;
mod import;
mod init;
pub mod lifecycle;
mod logs;
mod monitor;
mod networks;
mod pause;
mod prepare;
mod process;
pub mod registry;
pub mod restart;
pub mod run;
mod signals;
pub mod spec;
mod start;
pub mod system;
mod top;
mod volumes;

use std::path::{Path, PathBuf};

pub use container::{Container, Status};
pub use events::{Event, EventFilter};
pub use exec::ExecOptions;
pub use executor::LinuxFlags;
pub use health::HealthFlags;
pub use images::ImageFilter;
pub use import::{ImportOptions, Imported};
pub use lifecycle::{ContainerFilter, ContainerSummary};
pub use logs::{parse_log_time, LogOptions};
pub use networks::{NetworkFlags, NetworkMode};
pub use run::{RunOptions, RunResult};
pub use top::{StatsRow, StatsSampler, Top};
pub use volumes::{PrunedVolumes, Volume};
pub use wharf_image::{Platform, Reference, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] wharf_image::Error),
    #[error(transparent)]
    Snapshot(#[from] wharf_snapshot::Error),
    #[error(transparent)]
    Wasm(#[from] wharf_wasm::Error),
    #[error(transparent)]
    Build(#[from] wharf_build::Error),
    #[error(transparent)]
    Linux(#[from] wharf_linux::Error),
    #[error(transparent)]
    Net(#[from] wharf_net::Error),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// Docker's exit code for a container command that could not run: 127
    /// when it does not exist, 126 when it cannot be executed; None for
    /// other errors (125 for `run`/`exec`, 1 elsewhere).
    pub fn exit_code(&self) -> Option<u8> {
        match self {
            Error::Linux(wharf_linux::Error::CommandNotFound { .. }) => Some(127),
            Error::Linux(wharf_linux::Error::CannotExecute { .. }) => Some(126),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One Wharf root: the image store, snapshots, code cache and containers.
pub struct Engine {
    root: PathBuf,
    store: Store,
    snapshots: wharf_snapshot::Snapshots,
    containers: container::Containers,
    /// Opened on first use: see [`Engine::networks`].
    networks: std::sync::OnceLock<wharf_net::Networks>,
}

impl Engine {
    /// `$WHARF_ROOT` semantics: see [`wharf_image::default_root`].
    pub fn default_root() -> PathBuf {
        wharf_image::default_root()
    }

    pub fn open(root: &Path) -> Result<Engine> {
        let store = Store::open(root)?;
        Ok(Engine {
            root: root.to_path_buf(),
            snapshots: wharf_snapshot::Snapshots::new(root.join("snapshots")),
            containers: container::Containers::new(root.join("containers")),
            networks: std::sync::OnceLock::new(),
            store,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the store at `root` keeps runtime state that must not outlive
    /// a boot (Linux containers' libcontainer state, shadow bundles, compiled
    /// seccomp filters): on a tmpfs outside the store when one is usable,
    /// else `<root>/run`. Tools that make a private store remove it with the store.
    pub fn runtime_dir(root: &Path) -> PathBuf {
        executor::runtime_state_dir(root)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn wasm_cache_dir(&self) -> PathBuf {
        self.root.join("cache").join("wasm")
    }

    pub(crate) fn wasm_runtime(&self) -> Result<wharf_wasm::Runtime> {
        Ok(wharf_wasm::Runtime::new(self.wasm_cache_dir())?)
    }
}
