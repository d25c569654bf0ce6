//! The engine: containers (ids, names, state, logs, monitor, lifecycle) and
//! the image operations that need more than the content store (build, load
//! and save prepare rootfs trees and compiled code). It is the only crate that
//! knows both kinds of container: whether a container runs under the `wasm`
//! or the `linux` executor is decided in [`kind`], and nowhere else.

mod build_run;
mod container;
mod exec;
mod fsutil;
pub mod images;
pub mod kind;
pub mod lifecycle;
pub mod linux_exec;
mod logs;
mod monitor;
mod prepare;
mod process;
pub mod registry;
pub mod run;
mod signals;
pub mod spec;
mod tty;
pub mod wasm_exec;

use std::path::{Path, PathBuf};

pub use container::{Container, Status};
pub use exec::ExecOptions;
pub use kind::Kind;
pub use linux_exec::LinuxFlags;
pub use run::{RunOptions, RunResult};
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
    #[error("no such container: {0}")]
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
}

impl Engine {
    /// `$WHARF_ROOT` semantics: `/var/lib/wharf` for root, else
    /// `$XDG_DATA_HOME/wharf` (default `~/.local/share/wharf`).
    pub fn default_root() -> PathBuf {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return PathBuf::from("/var/lib/wharf");
        }
        if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(d).join("wharf");
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
        PathBuf::from(home).join(".local/share/wharf")
    }

    pub fn open(root: &Path) -> Result<Engine> {
        let store = Store::open(root)?;
        Ok(Engine {
            root: root.to_path_buf(),
            snapshots: wharf_snapshot::Snapshots::new(root.join("snapshots")),
            containers: container::Containers::new(root.join("containers")),
            store,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
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
