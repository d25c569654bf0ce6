//! One network's definition, kept in netavark's own JSON format so that the
//! file on disk is exactly what netavark is handed as `network_info` (the
//! same files Podman keeps in /etc/containers/networks), plus the
//! Docker-shaped view `network ls` and `network inspect` print.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cidr::Ipv4Cidr;
use crate::error::{Error, Result};

/// The network containers join when none is named, as in Docker and Podman.
pub const DEFAULT_NETWORK: &str = "bridge";

/// Names that mean something else to `--network` and so cannot be networks.
const RESERVED_NAMES: [&str; 3] = ["host", "none", "container"];

/// How a new network should differ from the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkOptions {
    /// None: the next free 10.89.N.0/24.
    pub subnet: Option<Ipv4Cidr>,
    /// None: the first address of the subnet (.1).
    pub gateway: Option<Ipv4Addr>,
    /// No route out: netavark adds no masquerading, so containers reach
    /// only each other (Docker's `--internal`).
    pub internal: bool,
    /// Containers find each other by name and alias through aardvark-dns.
    pub dns_enabled: bool,
}

impl Default for NetworkOptions {
    fn default() -> NetworkOptions {
        NetworkOptions {
            subnet: None,
            gateway: None,
            internal: false,
            dns_enabled: true,
        }
    }
}

/// A bridge network, as stored in `<store>/<name>.json` and given to netavark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    name: String,
    id: String,
    driver: String,
    /// The host's bridge interface (wharf0, wharf1, ...).
    network_interface: String,
    /// RFC 3339, as Podman writes it; netavark ignores it.
    created: String,
    subnets: Vec<Subnet>,
    ipv6_enabled: bool,
    internal: bool,
    dns_enabled: bool,
    /// Driver options; Wharf sets `isolate`, see [`Network::new`].
    #[serde(default)]
    options: BTreeMap<String, String>,
    /// `driver: host-local`: addresses come in the request (`static_ips`);
    /// netavark does not allocate them itself.
    #[serde(default)]
    ipam_options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Subnet {
    subnet: Ipv4Cidr,
    gateway: Ipv4Addr,
}

impl Network {
    /// A bridge network definition. Networks are isolated from each other
    /// (netavark's `isolate` option) as Docker's bridge networks are: a
    /// container reaches only the networks it is attached to.
    pub(crate) fn new(
        name: &str,
        id: String,
        interface: String,
        subnet: Ipv4Cidr,
        gateway: Ipv4Addr,
        options: &NetworkOptions,
    ) -> Network {
        Network {
            name: name.to_string(),
            id,
            driver: "bridge".to_string(),
            network_interface: interface,
            created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
            subnets: vec![Subnet { subnet, gateway }],
            ipv6_enabled: false,
            internal: options.internal,
            dns_enabled: options.dns_enabled,
            options: BTreeMap::from([("isolate".to_string(), "true".to_string())]),
            ipam_options: BTreeMap::from([("driver".to_string(), "host-local".to_string())]),
        }
    }

    /// Checks what Wharf relies on in a file it read: one IPv4 subnet with
    /// its gateway inside, on the bridge driver.
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if self.driver != "bridge" {
            return Err(format!("driver {:?} is not supported", self.driver));
        }
        match &self.subnets[..] {
            [Subnet { subnet, gateway }] if subnet.is_host(*gateway) => Ok(()),
            [_] => Err("the gateway is not inside the subnet".to_string()),
            _ => Err("expected exactly one IPv4 subnet".to_string()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// 64 hex digits, random.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn created(&self) -> &str {
        &self.created
    }

    /// The host's bridge interface.
    pub fn interface(&self) -> &str {
        &self.network_interface
    }

    pub fn subnet(&self) -> Ipv4Cidr {
        self.subnets[0].subnet
    }

    /// The bridge's address: containers' default route and DNS server.
    pub fn gateway(&self) -> Ipv4Addr {
        self.subnets[0].gateway
    }

    pub fn internal(&self) -> bool {
        self.internal
    }

    pub fn dns_enabled(&self) -> bool {
        self.dns_enabled
    }

    /// The network as `docker network inspect` prints it, with the
    /// attachments (of any network: those of others are skipped) as its
    /// `Containers`.
    pub fn docker_json(&self, attachments: &[Attachment]) -> Value {
        let containers: serde_json::Map<String, Value> = attachments
            .iter()
            .filter(|a| a.network == self.name)
            .map(|a| {
                (
                    a.container_id.clone(),
                    json!({
                        "Name": a.container_name,
                        "EndpointID": "",
                        "MacAddress": a.mac,
                        "IPv4Address": format!("{}/{}", a.ip, self.subnet().prefix_len()),
                        "IPv6Address": "",
                    }),
                )
            })
            .collect();
        json!({
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": "bridge",
            "EnableIPv6": false,
            "IPAM": {
                "Driver": "default",
                "Options": {},
                "Config": [{"Subnet": self.subnet().to_string(), "Gateway": self.gateway().to_string()}],
            },
            "Internal": self.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": {"com.docker.network.bridge.name": self.network_interface},
            "Labels": {},
        })
    }
}

/// One container's place on one network, for `network inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub container_id: String,
    pub container_name: String,
    pub network: String,
    pub ip: Ipv4Addr,
    /// Empty while netavark has not reported it yet (attach in progress).
    pub mac: String,
    pub aliases: Vec<String>,
}

/// Docker's rule for network names, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, with a
/// length cap that keeps `<name>.json` a valid file name.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let valid = name.len() <= 200
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !valid {
        return Err(Error::InvalidNetworkName(name.to_string()));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(Error::ReservedNetworkName(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker() {
        for good in ["a", "web", "my_net.1-x", "0net"] {
            validate_name(good).unwrap();
        }
        for bad in ["", "-x", ".x", "_x", "a b", "a/b", "ü", &"x".repeat(201)] {
            assert!(
                matches!(validate_name(bad), Err(Error::InvalidNetworkName(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            validate_name("host"),
            Err(Error::ReservedNetworkName(_))
        ));
    }

    #[test]
    fn stored_json_is_netavarks_shape() {
        let subnet: Ipv4Cidr = "10.231.7.0/24".parse().unwrap();
        let network = Network::new(
            "web",
            "ab".repeat(32),
            "wharf3".into(),
            subnet,
            subnet.first_host(),
            &NetworkOptions::default(),
        );
        let json = serde_json::to_value(&network).unwrap();
        assert_eq!(json["driver"], "bridge");
        assert_eq!(json["network_interface"], "wharf3");
        assert_eq!(json["subnets"][0]["subnet"], "10.231.7.0/24");
        assert_eq!(json["subnets"][0]["gateway"], "10.231.7.1");
        assert_eq!(json["dns_enabled"], true);
        assert_eq!(json["ipam_options"]["driver"], "host-local");
        assert_eq!(json["options"]["isolate"], "true");
        network.validate().unwrap();
        let attachments = [Attachment {
            container_id: "c1".into(),
            container_name: "one".into(),
            network: "web".into(),
            ip: "10.231.7.2".parse().unwrap(),
            mac: "aa:bb:cc:dd:ee:ff".into(),
            aliases: vec![],
        }];
        let docker = network.docker_json(&attachments);
        assert_eq!(docker["IPAM"]["Config"][0]["Subnet"], "10.231.7.0/24");
        assert_eq!(docker["Containers"]["c1"]["IPv4Address"], "10.231.7.2/24");
        assert_eq!(docker["Containers"]["c1"]["Name"], "one");
    }
}
