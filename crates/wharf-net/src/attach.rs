//! Attaching a container to its networks and detaching it: allocate its
//! addresses and host ports, make its network namespace, hand both to
//! netavark, and undo all of it on failure or on detach.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use crate::error::{Error, Result};
use crate::netavark::{container_options, StatusBlock};
use crate::netns;
use crate::network::Network;
use crate::ports::{check_host_port, pick_free_host_port, PortMapping};
use crate::state::{Attached, Interface};
use crate::store::Networks;

/// What a container needs: the networks to join, in order (eth0 first), and
/// the ports to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest {
    /// Names the namespace and the records; letters, digits, `_.-`.
    pub container_id: String,
    /// Resolvable by the other containers of each DNS-enabled network.
    pub container_name: String,
    /// At least one.
    pub networks: Vec<NetworkRequest>,
    /// Host ports forwarded to the container (by netavark; the tests cover
    /// containers on one network).
    pub ports: Vec<PortMapping>,
    /// The container cannot change its namespace (no NET_ADMIN): it may
    /// take a spare one and leave its own for the next (`pool.rs`).
    pub poolable: bool,
}

/// One network of an [`AttachRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRequest {
    /// The network's name or id prefix.
    pub name: String,
    /// More names the container answers to on this network (`--network-alias`).
    pub aliases: Vec<String>,
    /// A fixed address (`--ip`) instead of the next free one.
    pub static_ip: Option<Ipv4Addr>,
}

impl Networks {
    /// Creates the container's network namespace, allocates its address on
    /// each network (or takes the requested static one), checks and picks
    /// its host ports, and runs netavark setup. Returns what was set up. On
    /// failure everything made so far is undone and the error says what
    /// failed; the allocation lock is held throughout so concurrent attaches
    /// never get the same address or port.
    pub fn attach(&self, request: &AttachRequest) -> Result<Attached> {
        validate_request(request)?;
        let _lock = self.runtime.lock()?;
        if self.runtime.read_record(&request.container_id)?.is_some() {
            return Err(Error::AlreadyAttached(request.container_id.clone()));
        }
        if let Some(attached) = self.take_slot(request)? {
            return Ok(attached);
        }
        self.free_requested_addresses(request)?;
        let mut networks: Vec<Network> = Vec::new();
        for wanted in &request.networks {
            let network = self.get(&wanted.name)?;
            if networks.iter().any(|n| n.name() == network.name()) {
                return Err(Error::InvalidRequest(format!(
                    "network {} is given more than once",
                    network.name()
                )));
            }
            networks.push(network);
        }
        let records = self.runtime.all_records()?;
        let mut interfaces = Vec::new();
        for (index, (wanted, network)) in request.networks.iter().zip(&networks).enumerate() {
            interfaces.push(Interface {
                network: network.name().to_string(),
                name: format!("eth{index}"),
                ip: allocate_ip(network, wanted.static_ip, &records)?,
                prefix_len: network.subnet().prefix_len(),
                gateway: network.gateway(),
                mac: String::new(),
                aliases: wanted.aliases.clone(),
            });
        }
        let mut taken: Vec<PortMapping> = records
            .iter()
            .flat_map(|r| r.ports.iter().copied())
            .collect();
        let mut ports = Vec::new();
        for wanted in &request.ports {
            let mut port = *wanted;
            if port.host_port == 0 {
                port.host_port = pick_free_host_port(port.host_ip_or_any(), port.protocol, &taken)?;
            } else {
                check_host_port(&port, &taken)?;
            }
            taken.push(port);
            ports.push(port);
        }
        let mut attached = Attached {
            container_id: request.container_id.clone(),
            container_name: request.container_name.clone(),
            netns: self.runtime.netns_path(&request.container_id),
            interfaces,
            nameservers: Vec::new(),
            search_domains: Vec::new(),
            ports,
            netavark_id: None,
            poolable: request.poolable,
            pooled_since: None,
            networks: Vec::new(),
        };
        // Recorded before anything is made: from here on a crash leaves a
        // record that `detach` undoes.
        self.runtime.write_record(&attached)?;
        match self.set_up(&mut attached, &networks) {
            Ok(()) => Ok(attached),
            Err(error) => {
                self.undo_attach(&attached, &networks);
                Err(error)
            }
        }
    }

    /// netavark teardown, the namespace unmounted and removed, the addresses
    /// and ports released. Idempotent. Works from the record alone, so after
    /// a crash too; when the namespace is gone (a reboot, or it was removed
    /// by hand) it still clears what netavark left on the host.
    pub fn detach(&self, container_id: &str) -> Result<()> {
        validate_container_id(container_id)?;
        let _lock = self.runtime.lock()?;
        let Some(attached) = self.runtime.read_record(container_id)? else {
            netns::remove(&self.runtime.netns_path(container_id))?;
            return netns::unmount_if_empty(&self.runtime.netns_dir());
        };
        if self.keep_as_slot(&attached)? {
            return Ok(());
        }
        let networks: Vec<Network> = attached
            .interfaces
            .iter()
            .filter_map(|i| self.load(&i.network).ok().flatten())
            .collect();
        let options = container_options(&attached, &networks);
        let torn_down = if options.is_empty() {
            Ok(())
        } else if netns::is_live(&attached.netns) {
            self.netavark.teardown(&attached.netns, &options)
        } else {
            self.tear_down_lost(&attached, &networks)
        };
        let removed = netns::remove(&attached.netns);
        // Released even when netavark failed, as Podman does: a failed
        // teardown must not keep an address taken forever.
        self.runtime.remove_record(container_id)?;
        netns::unmount_if_empty(&self.runtime.netns_dir())?;
        torn_down.and(removed)
    }

    /// The steps after allocation: namespace, netavark, the record completed
    /// with what netavark chose (MACs, DNS).
    fn set_up(&self, attached: &mut Attached, networks: &[Network]) -> Result<()> {
        netns::make_shared_mount_point(&self.runtime.netns_dir())?;
        netns::create(&attached.netns)?;
        let status = self
            .netavark
            .setup(&attached.netns, &container_options(attached, networks))?;
        fill_in_status(attached, &status)?;
        self.runtime.write_record(attached)
    }

    /// Best effort, after a failed attach: the error being reported is the
    /// one that made the attach fail, not a later one from cleaning up.
    fn undo_attach(&self, attached: &Attached, networks: &[Network]) {
        if netns::is_live(&attached.netns) {
            let _ = self
                .netavark
                .teardown(&attached.netns, &container_options(attached, networks));
        }
        let _ = netns::remove(&attached.netns);
        let _ = self.runtime.remove_record(&attached.container_id);
        let _ = netns::unmount_if_empty(&self.runtime.netns_dir());
    }

    /// The namespace is gone, but the bridge, firewall rules and DNS entries
    /// netavark made may not be, and its teardown needs the container's
    /// interfaces to exist. So: set the container up again in a fresh
    /// namespace and tear that down, which removes both. Errors here are
    /// expected (a reboot took part of the state already) and not reported.
    fn tear_down_lost(&self, attached: &Attached, networks: &[Network]) -> Result<()> {
        let options = container_options(attached, networks);
        netns::remove(&attached.netns)?;
        netns::make_shared_mount_point(&self.runtime.netns_dir())?;
        netns::create(&attached.netns)?;
        let _ = self.netavark.setup(&attached.netns, &options);
        let _ = self.netavark.teardown(&attached.netns, &options);
        Ok(())
    }
}

/// The static address, checked, or the lowest free one of the subnet.
fn allocate_ip(
    network: &Network,
    static_ip: Option<Ipv4Addr>,
    records: &[Attached],
) -> Result<Ipv4Addr> {
    let used: HashSet<Ipv4Addr> = records
        .iter()
        .flat_map(|r| &r.interfaces)
        .filter(|i| i.network == network.name())
        .map(|i| i.ip)
        .collect();
    let subnet = network.subnet();
    if let Some(ip) = static_ip {
        if !subnet.is_host(ip) {
            return Err(Error::InvalidRequest(format!(
                "IP {ip} is not a host address of subnet {subnet} of network {}",
                network.name()
            )));
        }
        if ip == network.gateway() {
            return Err(Error::InvalidRequest(format!(
                "IP {ip} is the gateway of network {}",
                network.name()
            )));
        }
        if used.contains(&ip) {
            return Err(Error::IpInUse {
                ip,
                network: network.name().to_string(),
            });
        }
        return Ok(ip);
    }
    (u32::from(subnet.first_host())..=u32::from(subnet.last_host()))
        .map(Ipv4Addr::from)
        .find(|ip| *ip != network.gateway() && !used.contains(ip))
        .ok_or_else(|| Error::NoFreeIp(network.name().to_string()))
}

/// Copies netavark's choices (MAC per interface, DNS servers and search
/// domains) into the record.
fn fill_in_status(attached: &mut Attached, status: &BTreeMap<String, StatusBlock>) -> Result<()> {
    for interface in &mut attached.interfaces {
        let mac = status
            .get(&interface.network)
            .and_then(|block| block.interfaces.as_ref())
            .and_then(|interfaces| interfaces.get(&interface.name))
            .map(|i| i.mac_address.clone());
        interface.mac = mac.ok_or_else(|| Error::Netavark {
            command: "setup".to_string(),
            message: format!(
                "its result has no interface {} for network {}",
                interface.name, interface.network
            ),
        })?;
    }
    for block in attached
        .interfaces
        .iter()
        .filter_map(|i| status.get(&i.network))
    {
        for server in block.dns_server_ips.iter().flatten() {
            if let IpAddr::V4(server) = server {
                if !attached.nameservers.contains(server) {
                    attached.nameservers.push(*server);
                }
            }
        }
        for domain in block.dns_search_domains.iter().flatten() {
            if !attached.search_domains.contains(domain) {
                attached.search_domains.push(domain.clone());
            }
        }
    }
    Ok(())
}

fn validate_request(request: &AttachRequest) -> Result<()> {
    validate_container_id(&request.container_id)?;
    validate_dns_name("container name", &request.container_name)?;
    if request.networks.is_empty() {
        return Err(Error::InvalidRequest("no network to attach to".to_string()));
    }
    for alias in request.networks.iter().flat_map(|n| &n.aliases) {
        validate_dns_name("network alias", alias)?;
    }
    Ok(())
}

/// The id names files: letters, digits, `_.-`, not starting with a dot.
fn validate_container_id(id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "invalid container id {id:?}"
        )))
    }
}

/// Names go into aardvark-dns's config, one line per container with the
/// names comma-separated: a space or comma would corrupt it. Docker's
/// container name rule keeps them out.
fn validate_dns_name(what: &str, name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let valid = name.len() <= 253
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "invalid {what} {name:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
        )))
    }
}
