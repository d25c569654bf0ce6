//! The netavark contract: what Wharf sends on its standard input and reads
//! from its standard output, checked against netavark 1.4 (Debian 12) and the
//! JSON Podman's libnetwork sends.
//!
//! `netavark --config DIR --rootless=false --aardvark-binary PATH setup NETNS`
//! reads `{container_id, container_name, networks: {NAME: {static_ips,
//! aliases, interface_name}}, network_info: {NAME: <network file>},
//! port_mappings: [{host_ip, container_port, host_port, range, protocol}]}`,
//! configures the bridge, veth, addresses, routes, firewall and DNS, and
//! prints `{NAME: {interfaces: {IFACE: {mac_address, subnets}},
//! dns_server_ips, dns_search_domains}}`. `teardown NETNS` takes the same
//! input and prints nothing. On failure it exits non-zero with
//! `{"error": "..."}` on standard output.
//!
//! DIR is where netavark keeps aardvark-dns's per-network files and pid;
//! `--aardvark-binary` must always be given: without it netavark looks in a
//! path Debian does not use and silently runs without DNS.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::network::Network;
use crate::state::Attached;

/// Where Debian's (and Fedora's) package installs netavark.
pub const DEFAULT_NETAVARK: &str = "/usr/lib/podman/netavark";
/// Where Debian's (and Fedora's) package installs aardvark-dns.
pub const DEFAULT_AARDVARK_DNS: &str = "/usr/lib/podman/aardvark-dns";

/// How to run netavark: its binary, aardvark-dns's, and the config dir.
#[derive(Debug, Clone)]
pub(crate) struct Netavark {
    pub(crate) binary: PathBuf,
    pub(crate) aardvark_binary: PathBuf,
    pub(crate) config_dir: PathBuf,
    /// False sets AARDVARK_NO_PROXY, see `Networks::without_dns_forwarding`.
    pub(crate) dns_forwarding: bool,
}

/// netavark's input for one container (its `NetworkOptions`).
#[derive(Debug, Serialize)]
pub(crate) struct ContainerOptions<'a> {
    container_id: &'a str,
    container_name: &'a str,
    networks: BTreeMap<&'a str, PerNetworkOptions<'a>>,
    network_info: BTreeMap<&'a str, &'a Network>,
    port_mappings: Vec<PortMappingJson>,
}

#[derive(Debug, Serialize)]
struct PerNetworkOptions<'a> {
    /// The address Wharf allocated: the networks use host-local IPAM, so
    /// netavark takes the address it is given.
    static_ips: [Ipv4Addr; 1],
    /// Docker's MAC for the address (02:42 and its four bytes): a container
    /// recreated on a reused address keeps the MAC that peers and the host
    /// have cached, instead of being unreachable until their ARP entries
    /// expire (seen here: over a minute after a compose restart).
    static_mac: String,
    aliases: &'a [String],
    interface_name: &'a str,
}

#[derive(Debug, Serialize)]
struct PortMappingJson {
    /// "" is every address.
    host_ip: String,
    container_port: u16,
    host_port: u16,
    range: u16,
    protocol: &'static str,
}

/// netavark's output for one network (its `StatusBlock`).
#[derive(Debug, Deserialize)]
pub(crate) struct StatusBlock {
    #[serde(default)]
    pub(crate) dns_search_domains: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) dns_server_ips: Option<Vec<IpAddr>>,
    #[serde(default)]
    pub(crate) interfaces: Option<BTreeMap<String, NetInterface>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NetInterface {
    pub(crate) mac_address: String,
}

#[derive(Debug, Deserialize)]
struct ErrorJson {
    error: String,
}

/// The options for `attached`'s container on the networks of `networks`
/// it has; networks missing from `networks` are left out (a teardown does
/// what it still can).
pub(crate) fn container_options<'a>(
    attached: &'a Attached,
    networks: &'a [Network],
) -> ContainerOptions<'a> {
    let mut options = ContainerOptions {
        container_id: attached.netavark_id(),
        container_name: &attached.container_name,
        networks: BTreeMap::new(),
        network_info: BTreeMap::new(),
        port_mappings: attached
            .ports
            .iter()
            .map(|p| PortMappingJson {
                host_ip: p.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                container_port: p.container_port,
                host_port: p.host_port,
                range: 1,
                protocol: p.protocol.as_str(),
            })
            .collect(),
    };
    for interface in &attached.interfaces {
        let Some(network) = networks.iter().find(|n| n.name() == interface.network) else {
            continue;
        };
        options.networks.insert(
            &interface.network,
            PerNetworkOptions {
                static_ips: [interface.ip],
                static_mac: {
                    let [a, b, c, d] = interface.ip.octets();
                    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
                },
                aliases: &interface.aliases,
                interface_name: &interface.name,
            },
        );
        options.network_info.insert(&interface.network, network);
    }
    options
}

impl ContainerOptions<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }
}

impl Netavark {
    /// Configures the namespace at `netns`; returns netavark's status per
    /// network name.
    pub(crate) fn setup(
        &self,
        netns: &Path,
        options: &ContainerOptions,
    ) -> Result<BTreeMap<String, StatusBlock>> {
        let output = self.run("setup", netns, options)?;
        serde_json::from_slice(&output).map_err(|e| Error::Netavark {
            command: "setup".to_string(),
            message: format!(
                "unreadable output ({e}): {}",
                String::from_utf8_lossy(&output)
            ),
        })
    }

    /// Undoes [`Netavark::setup`] with the same options.
    pub(crate) fn teardown(&self, netns: &Path, options: &ContainerOptions) -> Result<()> {
        self.run("teardown", netns, options).map(drop)
    }

    fn run(&self, command: &str, netns: &Path, options: &ContainerOptions) -> Result<Vec<u8>> {
        if !self.aardvark_binary.exists() {
            return Err(Error::Netavark {
                command: command.to_string(),
                message: format!(
                    "aardvark-dns not found at {} (apt-get install aardvark-dns): without it container DNS would silently be off",
                    self.aardvark_binary.display()
                ),
            });
        }
        let input = serde_json::to_vec(options).expect("netavark options serialize");
        // One netavark at a time on the host, whatever the store: each
        // store's runs are serialised by its own lock already, but two
        // stores' netavarks creating the shared firewall chains at once fail
        // ("Chain already exists").
        let _host = host_lock()?;
        // Files, not pipes, for its output: aardvark-dns, which netavark
        // starts, could inherit a pipe and keep it open, and a reader waiting
        // for the end of the pipe would then wait forever.
        let mut stdout =
            tempfile::tempfile().context(|| "creating a file for netavark's output".to_string())?;
        let mut stderr =
            tempfile::tempfile().context(|| "creating a file for netavark's errors".to_string())?;
        let mut netavark = Command::new(&self.binary);
        if !self.dns_forwarding {
            // Read by aardvark-dns, which inherits netavark's environment.
            netavark.env("AARDVARK_NO_PROXY", "1");
        }
        let mut child = netavark
            .arg("--config")
            .arg(&self.config_dir)
            .arg("--rootless=false")
            .arg("--aardvark-binary")
            .arg(&self.aardvark_binary)
            .arg(command)
            .arg(netns)
            .env("PATH", path_with_sbin())
            .stdin(Stdio::piped())
            .stdout(
                stdout
                    .try_clone()
                    .context(|| "duplicating a file descriptor".to_string())?,
            )
            .stderr(
                stderr
                    .try_clone()
                    .context(|| "duplicating a file descriptor".to_string())?,
            )
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => Error::Netavark {
                    command: command.to_string(),
                    message: format!(
                        "netavark not found at {} (apt-get install netavark aardvark-dns)",
                        self.binary.display()
                    ),
                },
                _ => Error::io(format!("running {}", self.binary.display()), e),
            })?;
        let written = child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(&input);
        let status = child
            .wait()
            .context(|| format!("waiting for {}", self.binary.display()))?;
        let output = read_all(&mut stdout)?;
        if !status.success() {
            let message = match serde_json::from_slice::<ErrorJson>(&output) {
                Ok(json) => json.error,
                Err(_) => {
                    let errors = read_all(&mut stderr)?;
                    let text =
                        String::from_utf8_lossy(if errors.is_empty() { &output } else { &errors });
                    format!("{} ({status})", text.trim())
                }
            };
            return Err(Error::Netavark {
                command: command.to_string(),
                message,
            });
        }
        written.context(|| format!("writing options to {}", self.binary.display()))?;
        Ok(output)
    }
}

/// Where every Wharf process on the host serialises its netavark runs.
const HOST_LOCK: &str = "/run/wharf-netavark.lock";

fn host_lock() -> Result<nix::fcntl::Flock<File>> {
    let file = crate::state::open_lock_file(Path::new(HOST_LOCK))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::io(format!("locking {HOST_LOCK}"), e.into()))
}

fn read_all(file: &mut File) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .context(|| "reading netavark's output".to_string())?;
    Ok(bytes)
}

/// netavark runs iptables, which Debian keeps in /usr/sbin, a directory
/// that is not always on PATH (Podman adds it for the same reason).
fn path_with_sbin() -> String {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_string());
    if path.split(':').any(|dir| dir == "/usr/sbin") {
        path
    } else {
        format!("{path}:/usr/sbin:/sbin")
    }
}
