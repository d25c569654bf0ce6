//! [`Networks`]: the network definitions (persistent, one netavark JSON file
//! per network in the store dir) and the operations on them: create, look
//! up, list, remove, prune. Attaching containers is in `attach.rs`.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::cidr::{host_routes, overlaps_route, Ipv4Cidr};
use crate::error::{Error, IoContext, Result};
use crate::netavark::{Netavark, DEFAULT_AARDVARK_DNS, DEFAULT_NETAVARK};
use crate::network::{validate_name, Attachment, Network, NetworkOptions, DEFAULT_NETWORK};
use crate::state::{read_json, write_json_atomically, Attached, RuntimeDir};

/// The default network's subnet, Podman's.
const DEFAULT_SUBNET: Ipv4Cidr = match Ipv4Cidr::from_octets([10, 88, 0, 0], 16) {
    Some(cidr) => cidr,
    None => panic!("valid default subnet"),
};

/// Other networks get the first free 10.89.N.0/24, as in Podman.
const AUTO_SUBNET_BASE: [u8; 2] = [10, 89];

/// The host bridge interfaces are named <prefix>0, <prefix>1, ...
const DEFAULT_INTERFACE_PREFIX: &str = "wharf";

/// Linux interface names have at most 15 bytes; 11 leave room for 4 digits.
const MAX_INTERFACE_PREFIX: usize = 11;

/// Wharf's networks: where their definitions are kept, where the run-time
/// state is, and how netavark is run. Cheap to open; every operation reads
/// the files afresh, so several Wharf processes can share them.
#[derive(Debug, Clone)]
pub struct Networks {
    pub(crate) store_dir: PathBuf,
    pub(crate) runtime: RuntimeDir,
    pub(crate) netavark: Netavark,
    interface_prefix: String,
    /// The command that runs a pool keeper (`pool.rs`); None: spare
    /// namespaces are not kept.
    pub(crate) keeper: Option<Vec<std::ffi::OsString>>,
}

impl Networks {
    /// Opens (creating the directories when missing) the network store, kept
    /// across reboots (e.g. `<root>/networks`), and the runtime dir, which
    /// should be on a tmpfs (e.g. `/run/wharf/net`) because what it holds,
    /// namespaces and allocations, does not survive a reboot either.
    pub fn open(store_dir: &Path, runtime_dir: &Path) -> Result<Networks> {
        fs::create_dir_all(store_dir).context(|| format!("creating {}", store_dir.display()))?;
        let runtime = RuntimeDir::open(runtime_dir)?;
        let netavark = Netavark {
            binary: PathBuf::from(DEFAULT_NETAVARK),
            aardvark_binary: PathBuf::from(DEFAULT_AARDVARK_DNS),
            config_dir: runtime.netavark_config_dir(),
            dns_forwarding: true,
        };
        Ok(Networks {
            store_dir: store_dir.to_path_buf(),
            runtime,
            netavark,
            interface_prefix: DEFAULT_INTERFACE_PREFIX.to_string(),
            keeper: None,
        })
    }

    /// The run-time side alone, for a pool keeper: no network store (a
    /// slot's record carries its network's definition).
    pub fn open_runtime(runtime_dir: &Path) -> Result<Networks> {
        let runtime = RuntimeDir::open(runtime_dir)?;
        let netavark = Netavark {
            binary: PathBuf::from(DEFAULT_NETAVARK),
            aardvark_binary: PathBuf::from(DEFAULT_AARDVARK_DNS),
            config_dir: runtime.netavark_config_dir(),
            dns_forwarding: true,
        };
        Ok(Networks {
            store_dir: runtime_dir.join("no-store"),
            runtime,
            netavark,
            interface_prefix: DEFAULT_INTERFACE_PREFIX.to_string(),
            keeper: None,
        })
    }

    /// Keeps the namespaces of containers that leave as spares for the next
    /// ones (`pool.rs`); `command` starts the keeper process that tears
    /// idle ones down ([`Networks::keep_slots`] over this runtime dir).
    pub fn with_pool(mut self, command: Vec<std::ffi::OsString>) -> Networks {
        self.keeper = Some(command);
        self
    }

    /// The run-time directory (for a keeper's command line).
    pub fn runtime_dir(&self) -> &Path {
        self.runtime.root()
    }

    /// Names new networks' bridges `<prefix>N` instead of `wharfN`: lets
    /// tests (or a second Wharf) keep clear of the user's interfaces.
    /// 1 to 11 letters or digits.
    pub fn with_interface_prefix(mut self, prefix: &str) -> Result<Networks> {
        if prefix.is_empty()
            || prefix.len() > MAX_INTERFACE_PREFIX
            || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::InvalidRequest(format!(
                "invalid interface prefix {prefix:?}: 1 to {MAX_INTERFACE_PREFIX} letters or digits"
            )));
        }
        self.interface_prefix = prefix.to_string();
        Ok(self)
    }

    /// Uses these netavark and aardvark-dns binaries instead of Debian's in
    /// /usr/lib/podman.
    pub fn with_binaries(mut self, netavark: &Path, aardvark_dns: &Path) -> Networks {
        self.netavark.binary = netavark.to_path_buf();
        self.netavark.aardvark_binary = aardvark_dns.to_path_buf();
        self
    }

    /// Makes aardvark-dns answer only the containers' names and aliases,
    /// never forwarding other queries to the host's resolvers (by default it
    /// does, so containers resolve the outside world too): for tests and
    /// hosts that must send no query out. Holds for the aardvark-dns this
    /// runtime dir's first attach starts, which serves until the last detach.
    pub fn without_dns_forwarding(mut self) -> Networks {
        self.netavark.dns_forwarding = false;
        self
    }

    /// Creates a bridge network. Without a subnet it gets the next free
    /// 10.89.N.0/24 (one clear of the host's routes too), or 10.88.0.0/16 for
    /// the default network `bridge`; the gateway defaults to the first
    /// address. Nothing is set up on the host until a container attaches.
    pub fn create(&self, name: &str, options: &NetworkOptions) -> Result<Network> {
        validate_name(name)?;
        let _lock = self.runtime.lock()?;
        let existing = self.list()?;
        if existing.iter().any(|n| n.name() == name) {
            return Err(Error::NetworkExists(name.to_string()));
        }
        let subnet = match options.subnet {
            Some(subnet) => {
                if let Some(other) = existing.iter().find(|n| n.subnet().overlaps(&subnet)) {
                    return Err(Error::SubnetOverlap {
                        subnet: subnet.to_string(),
                        other: other.subnet().to_string(),
                        network: other.name().to_string(),
                    });
                }
                subnet
            }
            None if name == DEFAULT_NETWORK => self.default_subnet(&existing)?,
            None => free_subnet(&existing)?,
        };
        let gateway = options.gateway.unwrap_or_else(|| subnet.first_host());
        if !subnet.is_host(gateway) {
            return Err(Error::InvalidRequest(format!(
                "gateway {gateway} is not a host address of subnet {subnet}"
            )));
        }
        let interface = self.free_interface_name(&existing)?;
        let network = Network::new(name, random_id()?, interface, subnet, gateway, options);
        write_json_atomically(&self.network_path(name), &network)?;
        Ok(network)
    }

    /// The network with this name, or else the one whose id starts with it.
    pub fn get(&self, name_or_id: &str) -> Result<Network> {
        if validate_name(name_or_id).is_ok() {
            if let Some(network) = self.load(name_or_id)? {
                return Ok(network);
            }
        }
        let mut by_id = self
            .list()?
            .into_iter()
            .filter(|n| !name_or_id.is_empty() && n.id().starts_with(name_or_id));
        match (by_id.next(), by_id.next()) {
            (Some(network), None) => Ok(network),
            (Some(_), Some(_)) => Err(Error::AmbiguousNetwork(name_or_id.to_string())),
            _ => Err(Error::NetworkNotFound(name_or_id.to_string())),
        }
    }

    /// All networks, by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let dir = &self.store_dir;
        let mut networks = Vec::new();
        for entry in fs::read_dir(dir).context(|| format!("reading {}", dir.display()))? {
            let path = entry
                .context(|| format!("reading {}", dir.display()))?
                .path();
            let name = match path.file_name().and_then(|n| n.to_str()) {
                Some(file) => file.strip_suffix(".json").unwrap_or_default().to_string(),
                None => continue,
            };
            if validate_name(&name).is_ok() {
                networks.extend(self.load(&name)?);
            }
        }
        networks.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(networks)
    }

    /// The default network `bridge`, created on first use.
    pub fn ensure_default(&self) -> Result<Network> {
        if let Some(network) = self.load(DEFAULT_NETWORK)? {
            return Ok(network);
        }
        match self.create(DEFAULT_NETWORK, &NetworkOptions::default()) {
            // Another process created it meanwhile.
            Err(Error::NetworkExists(_)) => self.get(DEFAULT_NETWORK),
            created => created,
        }
    }

    /// Removes a network no container is attached to. The default network
    /// stays. Its bridge is already gone: netavark removes it with the last
    /// container.
    pub fn remove(&self, name_or_id: &str) -> Result<()> {
        let network = self.get(name_or_id)?;
        if network.name() == DEFAULT_NETWORK {
            return Err(Error::DefaultNetworkRemoval(DEFAULT_NETWORK.to_string()));
        }
        let _lock = self.runtime.lock()?;
        self.reap_slots(std::time::Duration::ZERO, Some(network.name()))?;
        let records = self.runtime.all_records()?;
        let users: Vec<&str> = records
            .iter()
            .filter(|r| r.interfaces.iter().any(|i| i.network == network.name()))
            .map(|r| r.container_name.as_str())
            .collect();
        if !users.is_empty() {
            return Err(Error::NetworkInUse {
                network: network.name().to_string(),
                containers: users.join(", "),
            });
        }
        self.delete_file(network.name())
    }

    /// Removes every network other than the default that no container is
    /// attached to; returns their names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let _lock = self.runtime.lock()?;
        // Spare namespaces go too (the default network's included): they
        // are not containers.
        self.reap_slots(std::time::Duration::ZERO, None)?;
        let records = self.runtime.all_records()?;
        let in_use: HashSet<&str> = records
            .iter()
            .flat_map(|r| r.interfaces.iter().map(|i| i.network.as_str()))
            .collect();
        let mut removed = Vec::new();
        for network in self.list()? {
            if network.name() != DEFAULT_NETWORK && !in_use.contains(network.name()) {
                self.delete_file(network.name())?;
                removed.push(network.name().to_string());
            }
        }
        Ok(removed)
    }

    /// The containers on a network (name or id), for `network inspect`.
    pub fn attachments(&self, name_or_id: &str) -> Result<Vec<Attachment>> {
        let network = self.get(name_or_id)?;
        let mut attachments: Vec<Attachment> = self
            .runtime
            .all_records()?
            .into_iter()
            .filter(|record| !record.is_slot())
            .flat_map(|record| {
                record
                    .interfaces
                    .into_iter()
                    .filter(|i| i.network == network.name())
                    .map(move |i| Attachment {
                        container_id: record.container_id.clone(),
                        container_name: record.container_name.clone(),
                        network: i.network,
                        ip: i.ip,
                        mac: i.mac,
                        aliases: i.aliases,
                    })
            })
            .collect();
        attachments.sort_by(|a, b| a.container_name.cmp(&b.container_name));
        Ok(attachments)
    }

    /// What `attach` set up for a container, if it is attached.
    pub fn attached(&self, container_id: &str) -> Result<Option<Attached>> {
        self.runtime.read_record(container_id)
    }

    /// The network file of `name`, or None. Refuses a file that is not a
    /// network Wharf can use, naming it.
    pub(crate) fn load(&self, name: &str) -> Result<Option<Network>> {
        let path = self.network_path(name);
        let Some(network) = read_json::<Network>(&path)? else {
            return Ok(None);
        };
        if let Err(reason) = network.validate() {
            return Err(Error::InvalidRequest(format!(
                "{}: {reason}",
                path.display()
            )));
        }
        Ok(Some(network))
    }

    fn network_path(&self, name: &str) -> PathBuf {
        self.store_dir.join(format!("{name}.json"))
    }

    fn delete_file(&self, name: &str) -> Result<()> {
        let path = self.network_path(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io(format!("removing {}", path.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// The first `<prefix>N` neither a network nor the host uses.
    fn free_interface_name(&self, existing: &[Network]) -> Result<String> {
        (0..1000)
            .map(|n| format!("{}{n}", self.interface_prefix))
            .find(|name| {
                !existing.iter().any(|n| n.interface() == name)
                    && !Path::new("/sys/class/net").join(name).exists()
            })
            .ok_or_else(|| Error::NoFreeInterfaceName(self.interface_prefix.clone()))
    }
}

impl Networks {
    /// The default network's subnet: 10.88.0.0/16 for the host's default
    /// store, as Podman's. Another store (`--root`, every test's) gets a
    /// /24 of 10.100-199.x.0 named by its bridges' prefix (so by its path),
    /// clear of its networks and the host's routes: two stores' default
    /// networks on one subnet would route each other's traffic astray.
    fn default_subnet(&self, existing: &[Network]) -> Result<Ipv4Cidr> {
        if self.interface_prefix == DEFAULT_INTERFACE_PREFIX {
            return Ok(DEFAULT_SUBNET);
        }
        // FNV-1a over the prefix, which already hashes the store's path.
        let h = self.interface_prefix.bytes().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        let routes = host_routes();
        (0..100u32)
            .map(|i| h.wrapping_add(i.wrapping_mul(0x9e37)))
            .filter_map(|h| {
                Ipv4Cidr::from_octets([10, 100 + (h % 100) as u8, (h >> 8) as u8, 0], 24)
            })
            .find(|candidate| {
                !existing.iter().any(|n| n.subnet().overlaps(candidate))
                    && !routes
                        .iter()
                        .any(|(dest, len)| overlaps_route(candidate, *dest, *len))
            })
            .map_or_else(|| free_subnet(existing), Ok)
    }
}

/// The first 10.89.N.0/24 that overlaps no network and no host route.
fn free_subnet(existing: &[Network]) -> Result<Ipv4Cidr> {
    let routes = host_routes();
    (0..=255u8)
        .filter_map(|n| Ipv4Cidr::from_octets([AUTO_SUBNET_BASE[0], AUTO_SUBNET_BASE[1], n, 0], 24))
        .find(|candidate| {
            !existing.iter().any(|n| n.subnet().overlaps(candidate))
                && !routes
                    .iter()
                    .any(|(dest, len)| overlaps_route(candidate, *dest, *len))
        })
        .ok_or(Error::NoFreeSubnet)
}

/// 64 random hex digits, Docker's and Podman's network id shape.
fn random_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context(|| "reading /dev/urandom".to_string())?;
    Ok(hex::encode(bytes))
}
