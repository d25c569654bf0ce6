//! What Wharf remembers at run time, under the runtime dir (a tmpfs such as
//! /run, so it goes away with the namespaces and firewall rules at reboot):
//!
//! ```text
//! <runtime>/lock                  flock'ed around every change
//! <runtime>/attachments/<id>.json one container's addresses, ports, netns
//! <runtime>/netns/<id>            the container's network namespace
//! <runtime>/netavark/             netavark --config: aardvark-dns's files
//! <runtime>/keeper.lock           held by the pool's keeper (pool.rs)
//! ```
//!
//! The attachment records are the IP allocation table: an address is taken
//! while some record holds it. A record is written before netavark is run,
//! so a crash at any point leaves enough for `detach` to undo.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::ports::PortMapping;

/// What `attach` set up for one container; also its record on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    pub container_id: String,
    pub container_name: String,
    /// The network namespace file the container must join.
    pub netns: PathBuf,
    /// One per network, in the order asked (eth0, eth1, ...).
    pub interfaces: Vec<Interface>,
    /// For the container's /etc/resolv.conf: aardvark-dns on the gateway of
    /// each DNS-enabled network. Empty: use the host's resolvers.
    pub nameservers: Vec<Ipv4Addr>,
    /// For resolv.conf's `search` line (aardvark's `dns.podman`).
    pub search_domains: Vec<String>,
    /// The published ports, host ports picked where 0 was asked.
    pub ports: Vec<PortMapping>,
    /// The id netavark and aardvark-dns know the namespace by, when it is
    /// not `container_id`: a namespace taken from the pool keeps the id it
    /// was set up with (see `pool.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netavark_id: Option<String>,
    /// Whether the namespace may be kept for another container once this
    /// one is gone (the container could not change it).
    #[serde(default)]
    pub poolable: bool,
    /// A spare namespace (a pool slot) since this Unix time; None for a
    /// container's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooled_since: Option<u64>,
    /// A slot's network definitions, for its teardown without the store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<crate::network::Network>,
}

impl Attached {
    /// The id netavark set this namespace up with.
    pub fn netavark_id(&self) -> &str {
        self.netavark_id.as_deref().unwrap_or(&self.container_id)
    }

    /// Whether this is a spare namespace rather than a container's.
    pub fn is_slot(&self) -> bool {
        self.pooled_since.is_some()
    }
}

/// The container's interface on one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub network: String,
    /// The name inside the container: eth0, eth1, ...
    pub name: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    /// Chosen by netavark; empty until its setup has returned.
    pub mac: String,
    pub aliases: Vec<String>,
}

/// The runtime dir's layout and the records in it.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeDir {
    root: PathBuf,
}

/// Held while the allocation table may change; released on drop.
pub(crate) struct Lock {
    _file: Flock<File>,
}

impl RuntimeDir {
    pub(crate) fn open(root: &Path) -> Result<RuntimeDir> {
        let dir = RuntimeDir {
            root: root.to_path_buf(),
        };
        for sub in [
            dir.attachments_dir(),
            dir.netns_dir(),
            dir.netavark_config_dir(),
        ] {
            fs::create_dir_all(&sub).context(|| format!("creating {}", sub.display()))?;
        }
        Ok(dir)
    }

    /// Takes the lock, waiting for other Wharf processes to finish their
    /// change (a netavark run takes well under a second).
    pub(crate) fn lock(&self) -> Result<Lock> {
        let path = self.root.join("lock");
        let file = Flock::lock(open_lock_file(&path)?, FlockArg::LockExclusive)
            .map_err(|(_, errno)| Error::io(format!("locking {}", path.display()), errno.into()))?;
        Ok(Lock { _file: file })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn netns_dir(&self) -> PathBuf {
        self.root.join("netns")
    }

    pub(crate) fn netns_path(&self, container_id: &str) -> PathBuf {
        self.netns_dir().join(container_id)
    }

    /// Held by the pool's keeper process while it lives.
    pub(crate) fn keeper_lock_path(&self) -> PathBuf {
        self.root.join("keeper.lock")
    }

    pub(crate) fn netavark_config_dir(&self) -> PathBuf {
        self.root.join("netavark")
    }

    fn attachments_dir(&self) -> PathBuf {
        self.root.join("attachments")
    }

    fn record_path(&self, container_id: &str) -> PathBuf {
        self.attachments_dir().join(format!("{container_id}.json"))
    }

    pub(crate) fn read_record(&self, container_id: &str) -> Result<Option<Attached>> {
        read_json(&self.record_path(container_id))
    }

    pub(crate) fn write_record(&self, attached: &Attached) -> Result<()> {
        write_json_atomically(&self.record_path(&attached.container_id), attached)
    }

    pub(crate) fn remove_record(&self, container_id: &str) -> Result<()> {
        let path = self.record_path(container_id);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io(format!("removing {}", path.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// Every container's record, in no particular order.
    pub(crate) fn all_records(&self) -> Result<Vec<Attached>> {
        let dir = self.attachments_dir();
        let mut records = Vec::new();
        for entry in fs::read_dir(&dir).context(|| format!("reading {}", dir.display()))? {
            let path = entry
                .context(|| format!("reading {}", dir.display()))?
                .path();
            if path.extension().is_some_and(|e| e == "json") {
                records.extend(read_json(&path)?);
            }
        }
        Ok(records)
    }
}

/// The JSON file at `path`, or None when there is none.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes a temporary file beside `path`, syncs it and renames it over
/// `path`: readers see the old content or the new, never a part.
pub(crate) fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("records serialize");
    bytes.push(b'\n');
    let temp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = File::create(&temp)
        .and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(Error::io(format!("writing {}", path.display()), e));
    }
    Ok(())
}

/// Opens the lock file at `path`, making it if missing, for a flock.
pub(crate) fn open_lock_file(path: &Path) -> Result<fs::File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .context(|| format!("opening {}", path.display()))
}
