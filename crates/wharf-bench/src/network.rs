//! The bench's own bridge network, for the networked start-latency targets
//! (`wharf run --rm --network NAME hello:{wasm,linux}`): created in the
//! private store on a subnet clear of the host's routes before anything is
//! timed, removed once the warm starts are measured (and by the cleanup when
//! the bench fails), so no network of the bench outlives it. The first run
//! on it has netavark make the bridge, firewall rules and aardvark-dns;
//! every later run takes over the namespace, veth and address the run
//! before it left wired (wharf-net's pool), as a user's next container does.

use std::net::Ipv4Addr;

use anyhow::{anyhow, Result};

use crate::proc;
use crate::session::{Bench, Target};

/// Where netavark is looked for: the path Wharf runs it from
/// (`wharf_net::DEFAULT_NETAVARK`, Debian's podman package).
pub(crate) const NETAVARK: &str = "/usr/lib/podman/netavark";

/// The network's name in the private store.
const NETWORK: &str = "wharf-bench";

/// The first /24 tried, then the next ones up to 10.231.255.0/24: clear of
/// Podman's 10.88.0.0/16 and Wharf's 10.89.N.0/24 defaults, and of the
/// private ranges users pick most.
const FIRST_SUBNET: [u8; 3] = [10, 231, 200];

/// The networked targets: (kind, image tag) of hello run on the network.
const NETWORKED: [(&str, &str); 2] = [("wasm-p1", "wasm"), ("linux", "linux")];

impl Bench<'_> {
    /// Creates the bench's network on a free subnet, checks that hello runs
    /// on it as a Wasm and as a Linux container, and adds those two targets.
    /// On failure the network is removed again and no target is added.
    /// Returns how the targets are run (the netavark peer's note).
    pub(crate) fn setup_network(&mut self) -> Result<String> {
        let subnet = free_subnet(&host_routes()).ok_or_else(|| {
            anyhow!(
                "every subnet from {}.0/24 to {}.{}.255.0/24 overlaps a route of this host",
                FIRST_SUBNET.map(|o| o.to_string()).join("."),
                FIRST_SUBNET[0],
                FIRST_SUBNET[1]
            )
        })?;
        proc::capture(&self.wharf(&["network", "create", "--subnet", &subnet, NETWORK]))?;
        self.network = Some(NETWORK.into());
        let mut targets = Vec::new();
        for (kind, tag) in NETWORKED {
            let image = format!("hello:{tag}");
            let cmd = self.wharf(&["run", "--rm", "--network", NETWORK, &image]);
            if let Err(e) = proc::capture(&cmd) {
                // Best effort: the check's own error is the one to report.
                let _ = self.remove_network();
                return Err(e);
            }
            targets.push(Target {
                key: format!("wharf-{kind}-network"),
                label: format!("wharf run --rm --network {NETWORK} {image}"),
                kind: kind.into(),
                runner: "wharf".into(),
                networked: true,
                cmd,
            });
        }
        // Beside the same start without a network, in the report too.
        for t in targets {
            let plain = format!("wharf-{}", t.kind);
            let at = self.targets.iter().position(|x| x.key == plain);
            let at = at.map_or(self.targets.len(), |i| i + 1);
            self.targets.insert(at, t);
        }
        Ok(format!(
            "runs the networked targets: `wharf run --rm --network {NETWORK} hello:wasm|hello:linux` on a bridge network of the bench's store (subnet {subnet}, clear of the host's routes), each run after the first taking over the namespace the previous one left wired (wharf-net's pool; the first sets the bridge and aardvark-dns up)"
        ))
    }

    /// Removes the bench's network, if it made one. Kept on record when
    /// `wharf network rm` fails (a container still on it), so the cleanup
    /// tries again after removing every container.
    pub(crate) fn remove_network(&mut self) -> Result<()> {
        let Some(name) = self.network.clone() else {
            return Ok(());
        };
        proc::capture(&self.wharf(&["network", "rm", &name]))?;
        self.network = None;
        Ok(())
    }
}

/// The host's IPv4 routes (/proc/net/route: the main table, what `ip -4
/// route` shows) as (destination, netmask), the default route left out.
fn host_routes() -> Vec<(u32, u32)> {
    let Ok(table) = std::fs::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    parse_routes(&table)
}

/// The routes of a /proc/net/route table (header line first; the kernel
/// prints addresses as native-endian hex words).
fn parse_routes(table: &str) -> Vec<(u32, u32)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
            let fields: Vec<&str> = line.split_whitespace().collect();
            let word = |i: usize| -> Option<u32> {
                let w = u32::from_str_radix(fields.get(i)?, 16).ok()?;
                Some(u32::from_be_bytes(w.to_ne_bytes()))
            };
            let (destination, netmask) = (word(1)?, word(7)?);
            (netmask != 0).then_some((destination & netmask, netmask))
        })
        .collect()
}

/// The first /24 from [`FIRST_SUBNET`] on that shares no address with any
/// of `routes`, as `a.b.c.0/24`.
fn free_subnet(routes: &[(u32, u32)]) -> Option<String> {
    const SLASH_24: u32 = 0xffff_ff00;
    let [a, b, first] = FIRST_SUBNET;
    (first..=u8::MAX)
        .map(|c| Ipv4Addr::new(a, b, c, 0))
        .find(|candidate| {
            let candidate = u32::from(*candidate);
            !routes.iter().any(|&(destination, netmask)| {
                // Two ranges overlap when they agree on the shorter prefix.
                let shorter = netmask & SLASH_24;
                destination & shorter == candidate & shorter
            })
        })
        .map(|network| format!("{network}/24"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A /proc/net/route line for `destination/prefix` on this machine's
    /// byte order.
    fn line(destination: [u8; 4], prefix: u32) -> String {
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let ne = |v: u32| u32::from_ne_bytes(v.to_be_bytes());
        format!(
            "eth0\t{:08X}\t00000000\t0001\t0\t0\t0\t{:08X}\t0\t0\t0",
            ne(u32::from_be_bytes(destination)),
            ne(mask)
        )
    }

    fn table(routes: &[([u8; 4], u32)]) -> String {
        let mut t =
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
                .to_string();
        for (d, p) in routes {
            t.push_str(&line(*d, *p));
            t.push('\n');
        }
        t
    }

    #[test]
    fn the_first_subnet_when_no_route_is_near() {
        let routes = parse_routes(&table(&[([0, 0, 0, 0], 0), ([192, 0, 2, 0], 24)]));
        assert_eq!(routes.len(), 1, "the default route is left out");
        assert_eq!(free_subnet(&routes).as_deref(), Some("10.231.200.0/24"));
    }

    #[test]
    fn the_next_subnet_past_overlapping_routes() {
        let routes = parse_routes(&table(&[
            ([10, 231, 200, 0], 24),
            ([10, 231, 201, 128], 25),
        ]));
        assert_eq!(free_subnet(&routes).as_deref(), Some("10.231.202.0/24"));
        // A wider route covering them all leaves none.
        let routes = parse_routes(&table(&[([10, 0, 0, 0], 8)]));
        assert_eq!(free_subnet(&routes), None);
    }
}
