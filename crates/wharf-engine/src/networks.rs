//! Container networks, for the engine's commands (`wharf network ...`) and
//! its containers: wharf-net (netavark + aardvark-dns) keeps the networks
//! and wires each networked container's namespace; the engine decides which
//! containers get one and tears it down when they end. Port publishing and
//! names are the same for every kind: they happen outside the executors,
//! which only join the namespace they are handed.

use std::net::Ipv4Addr;
use std::path::Path;

use serde_json::Value;
use wharf_linux::{JoinedNetwork, Network as Joined};
use wharf_net::{
    AttachRequest, Attached, Network, NetworkOptions, NetworkRequest, Networks, PortMapping,
};

use crate::container::Container;
use crate::{Engine, Error, Result};

/// How a container is networked, from `--network` and friends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// Its own namespace with only loopback (`--network none`).
    #[default]
    None,
    /// The host's network (`--network host`).
    Host,
    /// Bridge networks, by name (`--network NAME`; `bridge` is the default one).
    Bridges(Vec<String>),
}

impl NetworkMode {
    /// What the executors join: the namespace wharf-net wired (`attached`),
    /// the host's, or a namespace of the container's own.
    pub(crate) fn joined(&self, attached: Option<Attached>) -> Joined {
        match (self, attached) {
            (_, Some(a)) => Joined::Joined(JoinedNetwork {
                netns: a.netns,
                addresses: a.interfaces.iter().map(|i| i.ip.to_string()).collect(),
                nameservers: a.nameservers.iter().map(|n| n.to_string()).collect(),
                search: a.search_domains,
                published_tcp: a
                    .ports
                    .iter()
                    .filter(|p| p.protocol == wharf_net::Protocol::Tcp)
                    .map(|p| (p.host_ip, p.host_port, p.container_port))
                    .collect(),
            }),
            (NetworkMode::Host, None) => Joined::Host,
            _ => Joined::None,
        }
    }
}

/// What `run` asks of the network layer.
#[derive(Debug, Clone, Default)]
pub struct NetworkFlags {
    /// `--network`: none, host, bridge or a network's name. Unset: none,
    /// or `bridge` when ports are published.
    pub network: Option<String>,
    /// `--network-alias`: more names the container answers to.
    pub aliases: Vec<String>,
    /// `--ip`: a fixed address on the (first) network.
    pub ip: Option<String>,
    /// `-p`: Docker's `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`.
    pub publish: Vec<String>,
    /// `--dns`: nameservers for the container's resolv.conf.
    pub dns: Vec<String>,
    /// `--add-host NAME:IP`: more /etc/hosts lines.
    pub add_hosts: Vec<String>,
}

impl NetworkFlags {
    /// `--dns` and `--add-host`, checked, into the executors' options.
    pub(crate) fn apply_etc(&self, options: &mut wharf_linux::LinuxOptions) -> Result<()> {
        let mut hosts = Vec::new();
        for h in &self.add_hosts {
            let parsed = h
                .split_once([':', '='])
                .filter(|(name, ip)| !name.is_empty() && ip.parse::<std::net::IpAddr>().is_ok());
            let Some((name, ip)) = parsed else {
                return Err(Error::InvalidArgument(format!(
                    "invalid --add-host \"{h}\": expected NAME:IP, e.g. db:10.0.0.5"
                )));
            };
            hosts.push((name.to_string(), ip.to_string()));
        }
        for d in &self.dns {
            if d.parse::<std::net::IpAddr>().is_err() {
                return Err(Error::InvalidArgument(format!(
                    "invalid --dns \"{d}\": give a nameserver's IP address"
                )));
            }
        }
        options.add_hosts = hosts;
        options.dns = self.dns.clone();
        Ok(())
    }

    /// No network flag given: the executor's default applies.
    pub(crate) fn is_default(&self) -> bool {
        self.network.is_none() && self.publish.is_empty()
    }

    /// The mode and the ports, checked before anything is created.
    pub(crate) fn parse(&self) -> Result<(NetworkMode, Vec<PortMapping>)> {
        let mut ports = Vec::new();
        for p in &self.publish {
            ports.extend(wharf_net::parse_publish(p)?);
        }
        let mode = match self.network.as_deref() {
            None if ports.is_empty() => NetworkMode::None,
            None => NetworkMode::Bridges(vec![wharf_net::DEFAULT_NETWORK.to_string()]),
            Some("none") => NetworkMode::None,
            Some("host") => NetworkMode::Host,
            Some(names) => NetworkMode::Bridges(names.split(',').map(str::to_string).collect()),
        };
        let bridged = matches!(mode, NetworkMode::Bridges(_));
        if !bridged && !ports.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "-p publishes a port of a container on a bridge network, and --network {} has none; drop -p or use --network bridge",
                self.network.as_deref().unwrap_or("none")
            )));
        }
        if !bridged && (!self.aliases.is_empty() || self.ip.is_some()) {
            return Err(Error::InvalidArgument(
                "--network-alias and --ip need a bridge network: add --network NAME".into(),
            ));
        }
        Ok((mode, ports))
    }
}

impl Engine {
    /// The store's networks. Opened on first use, so a container without a
    /// network never pays for it.
    pub fn networks(&self) -> Result<&Networks> {
        if let Some(n) = self.networks.get() {
            return Ok(n);
        }
        let runtime = Engine::runtime_dir(&self.root).join("net");
        let mut networks = Networks::open(&self.root.join("networks"), &runtime)?;
        if self.root != wharf_image::default_root() {
            // Bridges are host-wide: another store's get names of their own.
            networks = networks.with_interface_prefix(&interface_prefix(&self.root))?;
        }
        // Only the wharf binary has the keeper command.
        let exe = std::env::current_exe()
            .ok()
            .filter(|e| e.file_name().is_some_and(|n| n == "wharf"));
        if let Some(exe) = exe {
            // Spare namespaces for the next containers, torn down when idle
            // by `wharf __net-keeper` (see wharf-net's pool).
            networks = networks.with_pool(vec![
                exe.into_os_string(),
                "__net-keeper".into(),
                runtime.into_os_string(),
            ]);
        }
        Ok(self.networks.get_or_init(|| networks))
    }

    pub fn network_create(
        &self,
        name: &str,
        subnet: Option<&str>,
        gateway: Option<&str>,
        internal: bool,
    ) -> Result<Network> {
        let options = NetworkOptions {
            subnet: subnet
                .map(|s| {
                    s.parse().map_err(|e| {
                        Error::InvalidArgument(format!(
                            "invalid --subnet {s}: {e}; give an IPv4 CIDR such as 10.90.0.0/24"
                        ))
                    })
                })
                .transpose()?,
            gateway: gateway
                .map(|g| {
                    g.parse::<Ipv4Addr>().map_err(|_| {
                        Error::InvalidArgument(format!(
                            "invalid --gateway {g}: give an IPv4 address such as 10.90.0.1"
                        ))
                    })
                })
                .transpose()?,
            internal,
            ..NetworkOptions::default()
        };
        let network = self.networks()?.create(name, &options)?;
        self.event(
            "network",
            "create",
            network.id(),
            [
                ("name", network.name().to_string()),
                ("type", "bridge".to_string()),
            ],
        );
        Ok(network)
    }

    /// A network event about `name` (an id once it is gone: the name then).
    fn network_event(&self, action: &str, name: &str, container: Option<&str>) {
        let id = self
            .networks()
            .ok()
            .and_then(|n| n.get(name).ok())
            .map(|n| n.id().to_string())
            .unwrap_or_else(|| name.to_string());
        let mut attrs = vec![("name", name.to_string()), ("type", "bridge".to_string())];
        attrs.extend(container.map(|c| ("container", c.to_string())));
        self.event("network", action, &id, attrs);
    }

    /// `network ls`/`inspect`: Docker's shape, with the attached containers.
    pub fn network_list(&self) -> Result<Vec<Value>> {
        let networks = self.networks()?;
        networks.ensure_default()?;
        let mut out = Vec::new();
        for n in networks.list()? {
            let attached = networks.attachments(n.name())?;
            out.push(n.docker_json(&attached));
        }
        Ok(out)
    }

    pub fn network_inspect(&self, name: &str) -> Result<Value> {
        let networks = self.networks()?;
        if name == wharf_net::DEFAULT_NETWORK {
            networks.ensure_default()?;
        }
        let n = networks.get(name)?;
        Ok(n.docker_json(&networks.attachments(n.name())?))
    }

    pub fn network_remove(&self, name: &str) -> Result<()> {
        let networks = self.networks()?;
        let network = networks.get(name)?;
        networks.remove(name)?;
        self.event(
            "network",
            "destroy",
            network.id(),
            [
                ("name", network.name().to_string()),
                ("type", "bridge".to_string()),
            ],
        );
        Ok(())
    }

    pub fn network_prune(&self) -> Result<Vec<String>> {
        let removed = self.networks()?.prune()?;
        for name in &removed {
            self.network_event("destroy", name, None);
        }
        Ok(removed)
    }

    /// Wires `container` into its bridge networks (a namespace of its own,
    /// its addresses, names and published ports); None for other modes.
    pub(crate) fn attach_networks(
        &self,
        container: &Container,
        mode: &NetworkMode,
        flags: &NetworkFlags,
        ports: Vec<PortMapping>,
        changes_network: bool,
    ) -> Result<Option<Attached>> {
        let NetworkMode::Bridges(names) = mode else {
            return Ok(None);
        };
        let networks = self.networks()?;
        if names.iter().any(|n| n == wharf_net::DEFAULT_NETWORK) {
            networks.ensure_default()?;
        }
        let static_ip = flags
            .ip
            .as_deref()
            .map(|ip| {
                ip.parse::<Ipv4Addr>().map_err(|_| {
                    Error::InvalidArgument(format!(
                        "invalid --ip {ip}: give an IPv4 address of the network's subnet"
                    ))
                })
            })
            .transpose()?;
        let request = AttachRequest {
            container_id: container.id().to_string(),
            container_name: container.state.name.clone(),
            networks: names
                .iter()
                .enumerate()
                .map(|(i, name)| NetworkRequest {
                    name: name.clone(),
                    aliases: flags.aliases.clone(),
                    static_ip: if i == 0 { static_ip } else { None },
                })
                .collect(),
            ports,
            poolable: !changes_network,
        };
        let attached = networks.attach(&request)?;
        self.connected(&attached);
        Ok(Some(attached))
    }

    fn connected(&self, attached: &Attached) {
        for i in &attached.interfaces {
            self.network_event("connect", &i.network, Some(&attached.container_id));
        }
    }

    /// Sets a container's networks up again as `attached` recorded them (a
    /// restart): the same addresses, aliases and host ports.
    pub(crate) fn reattach(&self, attached: &Attached) -> Result<()> {
        let request = AttachRequest {
            container_id: attached.container_id.clone(),
            container_name: attached.container_name.clone(),
            networks: attached
                .interfaces
                .iter()
                .map(|i| NetworkRequest {
                    name: i.network.clone(),
                    aliases: i.aliases.clone(),
                    static_ip: Some(i.ip),
                })
                .collect(),
            ports: attached.ports.clone(),
            poolable: attached.poolable,
        };
        let attached = self.networks()?.attach(&request)?;
        self.connected(&attached);
        Ok(())
    }

    /// Undoes [`attach_networks`](Self::attach_networks) for a container
    /// that has networks; a no-op for one that has none.
    pub(crate) fn detach_networks(&self, container: &Container) {
        if container.state.networks.is_empty() {
            return;
        }
        match self.networks().and_then(|n| Ok(n.detach(container.id())?)) {
            Ok(()) => {
                for network in &container.state.networks {
                    self.network_event("disconnect", network, Some(container.id()));
                }
            }
            Err(e) => eprintln!(
                "wharf: tearing down the network of container {}: {e}",
                container.state.name
            ),
        }
    }

    /// What a container is attached to, for `inspect`, `ps` and `port`.
    pub(crate) fn attached(&self, container: &Container) -> Option<Attached> {
        if container.state.networks.is_empty() {
            return None;
        }
        self.networks().ok()?.attached(container.id()).ok()?
    }
}

/// A published port, as `wharf port` and `ps` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
}

impl PublishedPort {
    fn of(p: &PortMapping) -> PublishedPort {
        PublishedPort {
            container_port: p.container_port,
            protocol: p.protocol.as_str().to_string(),
            host_ip: p.host_ip_or_any().to_string(),
            host_port: p.host_port,
        }
    }
}

impl Engine {
    /// The container's published ports (none unless it runs on a bridge network).
    pub fn ports(&self, key: &str) -> Result<Vec<PublishedPort>> {
        let c = self.containers.find(key)?;
        Ok(self
            .attached(&c)
            .map(|a| a.ports.iter().map(PublishedPort::of).collect())
            .unwrap_or_default())
    }

    /// `ps`'s PORTS column: `0.0.0.0:8080->80/tcp, ...`.
    pub(crate) fn ports_text(&self, c: &Container) -> String {
        let Some(a) = self.attached(c) else {
            return String::new();
        };
        a.ports
            .iter()
            .map(PublishedPort::of)
            .map(|p| {
                format!(
                    "{}:{}->{}/{}",
                    p.host_ip, p.host_port, p.container_port, p.protocol
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `inspect`'s NetworkSettings, Docker's shape.
    pub(crate) fn network_settings(&self, c: &Container) -> Value {
        let Some(a) = self.attached(c) else {
            return serde_json::json!({"IPAddress": "", "Ports": {}, "Networks": {}});
        };
        let mut ports = serde_json::Map::new();
        for p in a.ports.iter().map(PublishedPort::of) {
            let key = format!("{}/{}", p.container_port, p.protocol);
            let entry = ports.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.push(
                    serde_json::json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}),
                );
            }
        }
        let networks: serde_json::Map<String, Value> = a
            .interfaces
            .iter()
            .map(|i| {
                (
                    i.network.clone(),
                    serde_json::json!({
                        "IPAddress": i.ip.to_string(),
                        "IPPrefixLen": i.prefix_len,
                        "Gateway": i.gateway.to_string(),
                        "MacAddress": i.mac,
                        "Aliases": i.aliases,
                    }),
                )
            })
            .collect();
        let first = a.interfaces.first();
        serde_json::json!({
            "IPAddress": first.map(|i| i.ip.to_string()).unwrap_or_default(),
            "Gateway": first.map(|i| i.gateway.to_string()).unwrap_or_default(),
            "SandboxKey": a.netns,
            "Ports": ports,
            "Networks": networks,
        })
    }
}

/// `wh` and 6 hex digits of the store's path: bridges of different stores
/// on one host never share a name.
fn interface_prefix(root: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    format!("wh{}", &hex::encode(digest)[..6])
}
