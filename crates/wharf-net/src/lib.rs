//! Container networking for Wharf, done the way Podman does it: Wharf owns
//! the decisions (which networks exist, which container gets which address
//! and host port, where its namespace is), and the programs netavark and
//! aardvark-dns carry them out on the host.
//!
//! # The netavark contract
//!
//! netavark is a one-shot program: `setup NETNS` reads one container's
//! options as JSON on standard input (its networks' definitions, its address
//! and aliases on each, its published ports), creates the bridge, the veth
//! pair, addresses, routes, the iptables NAT/DNAT/isolation rules and the
//! aardvark-dns entries, and prints what it did (MACs, DNS servers);
//! `teardown NETNS` with the same JSON undoes it. It keeps no state of its
//! own besides aardvark-dns's files in its `--config` dir. So Wharf can
//! drive it from records of its own, and the shapes are in `netavark.rs`.
//! aardvark-dns, started and stopped by netavark, answers on each network's
//! gateway for the containers' names and aliases on that network only.
//!
//! # Where state lives
//!
//! - Network definitions, persistent: `<store>/<name>.json`, in netavark's
//!   own network format, so the file is passed to netavark as it is.
//! - Run-time state, on a tmpfs because it dies with a reboot like the
//!   namespaces and firewall rules it describes: per container a record of
//!   its addresses, ports and namespace (together, the IP allocation table),
//!   the namespace files, netavark's config dir, and a lock file flock'ed
//!   around every change so concurrent `wharf run`s never collide. Records
//!   are written atomically (temporary file, rename) and before anything is
//!   set up, so `detach` can clean up after a crash at any point.
//!
//! # Why Wharf makes the namespaces
//!
//! A container's network namespace must exist before netavark configures it
//! and before the container's process starts in it, and must outlive both.
//! Pinning it as a file (a bind mount of the namespace, as `ip netns` does)
//! gives it that life and a path for both to use; making it takes a thread
//! that unshares its network namespace and two system calls, so no `ip`
//! program is needed. See `netns.rs`.
//!
//! netavark's only host-wide leftovers are its shared, empty iptables chains
//! (`NETAVARK_FORWARD`, `NETAVARK-HOSTPORT-*`, `NETAVARK_ISOLATION_*`) and
//! `net.ipv4.ip_forward=1`, as with Podman.

mod attach;
mod cidr;
mod error;
mod netavark;
mod netns;
mod network;
mod pool;
mod ports;
mod state;
mod store;

pub use attach::{AttachRequest, NetworkRequest};
pub use cidr::Ipv4Cidr;
pub use error::{Error, Result};
pub use netavark::{DEFAULT_AARDVARK_DNS, DEFAULT_NETAVARK};
pub use netns::run_in_netns;
pub use network::{Attachment, Network, NetworkOptions, DEFAULT_NETWORK};
pub use pool::{IDLE as POOL_IDLE, SLOTS_PER_NETWORK};
pub use ports::{parse_publish, PortMapping, Protocol};
pub use state::{Attached, Interface};
pub use store::Networks;
