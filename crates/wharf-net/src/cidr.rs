//! IPv4 subnets in CIDR notation (`10.89.1.0/24`): parsing, printing and the
//! little arithmetic IP allocation needs. Hand-made because it is this small
//! and the crate stays free of an IP-network dependency.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// Smallest prefix length accepted: a /8 is already 16 million addresses.
const MIN_PREFIX: u8 = 8;
/// Largest prefix length accepted: a /30 has two usable addresses, the
/// gateway and one container.
const MAX_PREFIX: u8 = 30;

/// An IPv4 subnet. Always holds the network address (host bits cleared), so
/// two equal subnets compare equal however they were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// The subnet of `addr` with `prefix_len` bits of network part; host bits
    /// of `addr` are dropped. Refuses prefix lengths outside 8..=30.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Ipv4Cidr, Error> {
        Ipv4Cidr::from_octets(addr.octets(), prefix_len)
            .ok_or_else(|| Error::InvalidSubnet(format!("{addr}/{prefix_len}")))
    }

    /// As [`Ipv4Cidr::new`], None for a bad prefix length; `const` so that
    /// default subnets can be constants.
    pub const fn from_octets(octets: [u8; 4], prefix_len: u8) -> Option<Ipv4Cidr> {
        if prefix_len < MIN_PREFIX || prefix_len > MAX_PREFIX {
            return None;
        }
        let [a, b, c, d] = (u32::from_be_bytes(octets) & mask(prefix_len)).to_be_bytes();
        Some(Ipv4Cidr {
            network: Ipv4Addr::new(a, b, c, d),
            prefix_len,
        })
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix_len))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix_len) == u32::from(self.network)
    }

    /// True when some address is in both: for subnets, one contains the
    /// other's network address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The first address containers or a gateway can use (network + 1).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// The last address containers can use (broadcast - 1).
    pub fn last_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.broadcast()) - 1)
    }

    /// True for the addresses a host may hold: inside, and neither the
    /// network nor the broadcast address.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network && ip != self.broadcast()
    }
}

const fn mask(prefix_len: u8) -> u32 {
    // prefix_len is 8..=30 (or 0..=32 from /proc/net/route): shifting a u64
    // keeps 0 and 32 defined.
    ((u32::MAX as u64) << (32 - prefix_len as u32)) as u32
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Ipv4Cidr, Error> {
        let invalid = || Error::InvalidSubnet(s.to_string());
        let (addr, prefix_len) = s.split_once('/').ok_or_else(invalid)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| invalid())?;
        // u8::from_str accepts "+24"; CIDR notation does not.
        if prefix_len.is_empty() || !prefix_len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let prefix_len: u8 = prefix_len.parse().map_err(|_| invalid())?;
        Ipv4Cidr::new(addr, prefix_len).map_err(|_| invalid())
    }
}

impl Serialize for Ipv4Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Ipv4Cidr, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The IPv4 routes of the host (`/proc/net/route`, main table) other than the
/// default route: subnets a new network must not overlap, or its containers
/// could not reach those hosts. Unreadable or odd lines are skipped.
pub(crate) fn host_routes() -> Vec<(Ipv4Addr, u8)> {
    let Ok(table) = std::fs::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
            let destination = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let netmask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            // The kernel prints the addresses as native-endian words.
            let destination = Ipv4Addr::from(destination.to_ne_bytes());
            let prefix_len = u32::from_be_bytes(netmask.to_ne_bytes()).count_ones() as u8;
            (prefix_len > 0).then_some((destination, prefix_len))
        })
        .collect()
}

/// True when `subnet` shares an address with the route `destination/prefix_len`.
pub(crate) fn overlaps_route(subnet: &Ipv4Cidr, destination: Ipv4Addr, prefix_len: u8) -> bool {
    let route_mask = mask(prefix_len);
    let shorter = route_mask & mask(subnet.prefix_len);
    u32::from(destination) & shorter == u32::from(subnet.network) & shorter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_normalises_and_prints() {
        let cidr: Ipv4Cidr = "10.89.3.7/24".parse().unwrap();
        assert_eq!(cidr.to_string(), "10.89.3.0/24");
        assert_eq!(cidr.broadcast(), Ipv4Addr::new(10, 89, 3, 255));
        assert_eq!(cidr.first_host(), Ipv4Addr::new(10, 89, 3, 1));
        assert_eq!(cidr.last_host(), Ipv4Addr::new(10, 89, 3, 254));
        let wide: Ipv4Cidr = "10.88.0.0/16".parse().unwrap();
        assert_eq!(wide.broadcast(), Ipv4Addr::new(10, 88, 255, 255));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/+24",
            "10.0.0.0/31",
            "10.0.0.0/7",
            "x/24",
            "10.0.0/24",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn contains_and_overlaps() {
        let a: Ipv4Cidr = "10.88.0.0/16".parse().unwrap();
        let b: Ipv4Cidr = "10.88.5.0/24".parse().unwrap();
        let c: Ipv4Cidr = "10.89.0.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&b));
        assert!(b.contains(Ipv4Addr::new(10, 88, 5, 200)));
        assert!(!b.is_host(Ipv4Addr::new(10, 88, 5, 255)));
        assert!(!b.is_host(Ipv4Addr::new(10, 88, 5, 0)));
        assert!(overlaps_route(&c, Ipv4Addr::new(10, 0, 0, 0), 8));
        assert!(!overlaps_route(&c, Ipv4Addr::new(192, 0, 2, 0), 24));
    }

    #[test]
    fn serde_round_trip() {
        let cidr: Ipv4Cidr = "10.231.1.0/24".parse().unwrap();
        let json = serde_json::to_string(&cidr).unwrap();
        assert_eq!(json, "\"10.231.1.0/24\"");
        assert_eq!(serde_json::from_str::<Ipv4Cidr>(&json).unwrap(), cidr);
    }
}
