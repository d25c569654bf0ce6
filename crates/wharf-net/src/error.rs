//! The crate's error type: one variant per thing a user can get wrong or the
//! host can refuse, each with a message that names the culprit.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::ports::Protocol;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid network name {0:?}: names start with a letter or digit and contain only letters, digits, '_', '.' and '-'")]
    InvalidNetworkName(String),

    #[error("network name {0:?} is reserved")]
    ReservedNetworkName(String),

    #[error("network {0} already exists")]
    NetworkExists(String),

    #[error("network {0} not found")]
    NetworkNotFound(String),

    #[error("network id prefix {0} matches more than one network")]
    AmbiguousNetwork(String),

    #[error("subnet {subnet} overlaps with subnet {other} of network {network}")]
    SubnetOverlap {
        subnet: String,
        other: String,
        network: String,
    },

    #[error("no free subnet left in 10.89.0.0/16 for a new network")]
    NoFreeSubnet,

    #[error("no free interface name left for prefix {0:?}")]
    NoFreeInterfaceName(String),

    #[error("network {network} is in use by container(s): {containers}")]
    NetworkInUse { network: String, containers: String },

    #[error("the default network {0} cannot be removed")]
    DefaultNetworkRemoval(String),

    #[error("invalid subnet {0:?}: expected an IPv4 CIDR like 10.89.1.0/24 with a prefix length of 8 to 30")]
    InvalidSubnet(String),

    /// A request that cannot be carried out as asked (bad IP, bad alias,
    /// duplicate network in one request, ...); the message says which.
    #[error("{0}")]
    InvalidRequest(String),

    #[error("IP {ip} is already in use on network {network}")]
    IpInUse { ip: Ipv4Addr, network: String },

    #[error("no free IP left on network {0}")]
    NoFreeIp(String),

    #[error("port {port}{} is already in use on {ip}", protocol.suffix())]
    PortInUse {
        port: u16,
        protocol: Protocol,
        ip: Ipv4Addr,
    },

    #[error("container {0} is already attached to its networks")]
    AlreadyAttached(String),

    #[error("invalid port publish {spec:?}: {reason}")]
    InvalidPublish { spec: String, reason: String },

    #[error("netavark {command} failed: {message}")]
    Netavark { command: String, message: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// An I/O error with what was being done, so "No such file" says of what.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Attaches a context to I/O results: `fs::read(p).context(|| format!(..))`.
pub(crate) trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), io::Error::from(e)))
    }
}
