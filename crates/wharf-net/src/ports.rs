//! Published ports: Docker's `-p` syntax, and the host-side checks netavark
//! does not do. netavark only writes DNAT rules; it neither notices that a
//! host program already listens on the port nor that another container has
//! the same port, and then one of the two silently loses the traffic. So
//! Wharf checks both before calling it.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The transport a published port forwards (netavark's sctp is left out, as
/// Docker's `-p` rarely sees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The name netavark and Docker use: "tcp" or "udp".
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// "" for TCP (the default, as Docker prints it) and "/udp" for UDP.
    pub(crate) fn suffix(&self) -> &'static str {
        match self {
            Protocol::Tcp => "",
            Protocol::Udp => "/udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One host port forwarded to one container port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// The host address to listen on; `None` is every address (0.0.0.0).
    pub host_ip: Option<Ipv4Addr>,
    /// 0 asks `attach` to pick a free port; what it picked is in `Attached`.
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl PortMapping {
    /// The host address as netavark and `docker port` show it.
    pub fn host_ip_or_any(&self) -> Ipv4Addr {
        self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// True when both would receive the same packets: same protocol and port,
    /// and the same address or one of them on every address.
    pub(crate) fn collides_with(&self, other: &PortMapping) -> bool {
        self.protocol == other.protocol
            && self.host_port == other.host_port
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }
}

/// Parses one `-p`/`--publish` value the way Docker does:
/// `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp]`, where `HOST_IP::PORT`
/// and a bare `PORT` leave the host port to be picked, and both ports may be
/// equal-length ranges (`8000-8002:80-82`), one mapping per port.
pub fn parse_publish(flag: &str) -> Result<Vec<PortMapping>> {
    let invalid = |reason: &str| Error::InvalidPublish {
        spec: flag.to_string(),
        reason: reason.to_string(),
    };
    let (addresses, protocol) = match flag.rsplit_once('/') {
        None => (flag, Protocol::Tcp),
        Some((rest, "tcp")) => (rest, Protocol::Tcp),
        Some((rest, "udp")) => (rest, Protocol::Udp),
        Some(_) => return Err(invalid("the protocol must be tcp or udp")),
    };
    if addresses.contains('[') {
        return Err(invalid("IPv6 host addresses are not supported"));
    }
    let parts: Vec<&str> = addresses.split(':').collect();
    let (host_ip, host_ports, container_ports) = match parts[..] {
        [container] => (None, "", container),
        [host, container] => (None, host, container),
        [ip, host, container] => {
            let ip: Ipv4Addr = ip
                .parse()
                .map_err(|_| invalid(&format!("{ip:?} is not an IPv4 address")))?;
            (Some(ip), host, container)
        }
        _ => return Err(invalid("expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT")),
    };
    let (container_first, container_last) =
        parse_port_range(container_ports, false).map_err(|reason| invalid(&reason))?;
    let count = container_last - container_first + 1;
    let host_first = if host_ports.is_empty() {
        0
    } else {
        let (first, last) =
            parse_port_range(host_ports, true).map_err(|reason| invalid(&reason))?;
        if first == 0 && last == 0 {
            0
        } else if last - first + 1 != count {
            return Err(invalid(
                "the host and container port ranges must have the same length",
            ));
        } else {
            first
        }
    };
    Ok((0..count)
        .map(|i| PortMapping {
            host_ip,
            host_port: if host_first == 0 { 0 } else { host_first + i },
            container_port: container_first + i,
            protocol,
        })
        .collect())
}

/// "80" or "8000-8010" as (first, last). Port 0 is allowed only on the host
/// side, where it means "pick one".
fn parse_port_range(text: &str, zero_allowed: bool) -> std::result::Result<(u16, u16), String> {
    let port = |p: &str| -> std::result::Result<u16, String> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{p:?} is not a port number"));
        }
        let port: u16 = p
            .parse()
            .map_err(|_| format!("{p} is not a port number (1-65535)"))?;
        if port == 0 && !zero_allowed {
            return Err("the container port cannot be 0".to_string());
        }
        Ok(port)
    };
    match text.split_once('-') {
        None => port(text).map(|p| (p, p)),
        Some((first, last)) => {
            let (first, last) = (port(first)?, port(last)?);
            if first > last {
                return Err(format!("the port range {text} is reversed"));
            }
            Ok((first, last))
        }
    }
}

/// Fails with "port N is already in use on IP" when a host program holds the
/// port (binding it is the only reliable test) or `taken` (the mappings of
/// other containers) has it. Also refuses a host IP that is not this host's.
pub(crate) fn check_host_port(mapping: &PortMapping, taken: &[PortMapping]) -> Result<()> {
    let in_use = || Error::PortInUse {
        port: mapping.host_port,
        protocol: mapping.protocol,
        ip: mapping.host_ip_or_any(),
    };
    if taken.iter().any(|other| other.collides_with(mapping)) {
        return Err(in_use());
    }
    match bind(
        mapping.host_ip_or_any(),
        mapping.host_port,
        mapping.protocol,
    ) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(in_use()),
        Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {
            Err(Error::InvalidRequest(format!(
                "cannot publish on {}: not an address of this host",
                mapping.host_ip_or_any()
            )))
        }
        Err(e) => Err(Error::io(
            format!(
                "checking host port {}{}",
                mapping.host_port,
                mapping.protocol.suffix()
            ),
            e,
        )),
    }
}

/// A host port that is free now (the kernel's pick among its ephemeral
/// ports) and not published by another container.
pub(crate) fn pick_free_host_port(
    ip: Ipv4Addr,
    protocol: Protocol,
    taken: &[PortMapping],
) -> Result<u16> {
    let taken_ports: HashSet<u16> = taken
        .iter()
        .filter(|m| m.protocol == protocol)
        .map(|m| m.host_port)
        .collect();
    for _ in 0..64 {
        let port = bind(ip, 0, protocol)
            .map_err(|e| Error::io(format!("picking a free {protocol} port on {ip}"), e))?;
        if !taken_ports.contains(&port) {
            return Ok(port);
        }
    }
    Err(Error::InvalidRequest(format!(
        "no free {protocol} port found on {ip}"
    )))
}

/// Binds and at once releases `ip:port`; returns the port bound (the picked
/// one when `port` is 0).
fn bind(ip: Ipv4Addr, port: u16, protocol: Protocol) -> io::Result<u16> {
    let addr = SocketAddrV4::new(ip, port);
    match protocol {
        Protocol::Tcp => Ok(TcpListener::bind(addr)?.local_addr()?.port()),
        Protocol::Udp => Ok(UdpSocket::bind(addr)?.local_addr()?.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(
        host_ip: Option<[u8; 4]>,
        host_port: u16,
        container_port: u16,
        protocol: Protocol,
    ) -> PortMapping {
        PortMapping {
            host_ip: host_ip.map(Ipv4Addr::from),
            host_port,
            container_port,
            protocol,
        }
    }

    #[test]
    fn docker_publish_forms() {
        use Protocol::*;
        assert_eq!(
            parse_publish("80").unwrap(),
            vec![mapping(None, 0, 80, Tcp)]
        );
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![mapping(None, 8080, 80, Tcp)]
        );
        assert_eq!(
            parse_publish("53:53/udp").unwrap(),
            vec![mapping(None, 53, 53, Udp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/tcp").unwrap(),
            vec![mapping(Some([127, 0, 0, 1]), 8080, 80, Tcp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1::80").unwrap(),
            vec![mapping(Some([127, 0, 0, 1]), 0, 80, Tcp)]
        );
        assert_eq!(
            parse_publish("8000-8001:80-81").unwrap(),
            vec![mapping(None, 8000, 80, Tcp), mapping(None, 8001, 81, Tcp)]
        );
        assert_eq!(
            parse_publish("80-81/udp").unwrap(),
            vec![mapping(None, 0, 80, Udp), mapping(None, 0, 81, Udp)]
        );
    }

    #[test]
    fn bad_publish_values_say_why() {
        for (flag, reason) in [
            ("", "is not a port number"),
            ("80/sctp", "tcp or udp"),
            ("0", "cannot be 0"),
            ("70000", "1-65535"),
            ("8000-8002:80-81", "same length"),
            ("8080:80-81", "same length"),
            ("81-80", "reversed"),
            ("localhost:80:80", "not an IPv4 address"),
            ("[::1]:80:80", "IPv6"),
            ("1:2:3:4", "expected"),
        ] {
            let err = parse_publish(flag).unwrap_err().to_string();
            assert!(err.contains(reason), "{flag:?}: {err}");
            assert!(err.contains(&format!("{flag:?}")), "{flag:?}: {err}");
        }
    }

    #[test]
    fn collisions_consider_address_and_protocol() {
        use Protocol::*;
        let any = mapping(None, 8080, 80, Tcp);
        let local = mapping(Some([127, 0, 0, 1]), 8080, 81, Tcp);
        let other_local = mapping(Some([127, 0, 0, 2]), 8080, 81, Tcp);
        assert!(any.collides_with(&local) && local.collides_with(&any));
        assert!(!local.collides_with(&other_local));
        assert!(!any.collides_with(&mapping(None, 8080, 80, Udp)));
        assert!(!any.collides_with(&mapping(None, 8081, 80, Tcp)));
    }

    #[test]
    fn host_port_checks_see_listeners_and_other_containers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let wanted = mapping(Some([127, 0, 0, 1]), port, 80, Protocol::Tcp);
        let err = check_host_port(&wanted, &[]).unwrap_err().to_string();
        assert_eq!(err, format!("port {port} is already in use on 127.0.0.1"));
        drop(listener);
        check_host_port(&wanted, &[]).unwrap();
        let err = check_host_port(&wanted, &[mapping(None, port, 80, Protocol::Tcp)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("port {port} is already in use on 127.0.0.1")
        );
        let picked = pick_free_host_port(Ipv4Addr::LOCALHOST, Protocol::Udp, &[]).unwrap();
        assert_ne!(picked, 0);
    }
}
