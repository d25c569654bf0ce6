//! Capability names and Docker's capability arithmetic (`--cap-add`/`--cap-drop`).

use std::collections::BTreeSet;

use crate::{Error, Result};

/// All capabilities, indexed by their bit number.
pub(crate) const ALL: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's default capability set (CapEff 00000000a80425fb).
pub(crate) const DOCKER_DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Capabilities the running kernel knows (`/proc/sys/kernel/cap_last_cap`).
fn all_known() -> Vec<&'static str> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL.len() - 1);
    ALL.iter().take(last + 1).copied().collect()
}

/// `NET_ADMIN`, `net_admin`, `CAP_NET_ADMIN` -> `CAP_NET_ADMIN`; `ALL` -> `ALL`.
fn normalize(name: &str) -> Result<String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::invalid(
            "capability",
            name,
            "not a Linux capability; use names like NET_ADMIN or CAP_NET_ADMIN, or ALL",
        ))
    }
}

/// Docker's `TweakCapabilities`: the resulting capability names, sorted.
pub(crate) fn tweak(adds: &[String], drops: &[String]) -> Result<Vec<String>> {
    let adds = adds
        .iter()
        .map(|a| normalize(a))
        .collect::<Result<Vec<_>>>()?;
    let drops = drops
        .iter()
        .map(|d| normalize(d))
        .collect::<Result<Vec<_>>>()?;
    let all = String::from("ALL");
    let mut caps = BTreeSet::new();
    if adds.contains(&all) {
        for c in all_known() {
            if !drops.iter().any(|d| d == c) {
                caps.insert(c.to_string());
            }
        }
    } else if drops.contains(&all) {
        caps.extend(adds.iter().cloned());
    } else {
        for c in DOCKER_DEFAULT {
            if !drops.iter().any(|d| d == c) {
                caps.insert(c.to_string());
            }
        }
        caps.extend(adds.iter().cloned());
    }
    Ok(caps.into_iter().collect())
}

/// `caps` less those outside this process's bounding set, which no child
/// can be given (root here may lack CAP_SYS_RESOURCE): "every capability"
/// for `--privileged` is every one Wharf has, as for Docker's daemon.
pub(crate) fn within_own_bounds(caps: Vec<String>) -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    caps.into_iter()
        .filter(|c| {
            ALL.iter()
                .position(|a| a == c)
                .is_none_or(|bit| bounding & (1 << bit) != 0)
        })
        .collect()
}

/// Is `name` (`CAP_...`) in `caps`?
pub(crate) fn contains(caps: &[String], name: &str) -> bool {
    caps.iter().any(|c| c == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(caps: &[String]) -> u64 {
        caps.iter()
            .map(|c| 1u64 << ALL.iter().position(|a| a == c).unwrap())
            .fold(0, |a, b| a | b)
    }

    #[test]
    fn docker_default_mask() {
        let caps = tweak(&[], &[]).unwrap();
        assert_eq!(format!("{:016x}", mask(&caps)), "00000000a80425fb");
    }

    #[test]
    fn add_drop() {
        let caps = tweak(&["net_admin".into()], &["CAP_NET_RAW".into()]).unwrap();
        assert!(contains(&caps, "CAP_NET_ADMIN"));
        assert!(!contains(&caps, "CAP_NET_RAW"));
        assert!(tweak(&[], &["ALL".into()]).unwrap().is_empty());
        assert_eq!(
            tweak(&["CHOWN".into()], &["ALL".into()]).unwrap(),
            vec!["CAP_CHOWN".to_string()]
        );
        let all = tweak(&["ALL".into()], &["SYS_ADMIN".into()]).unwrap();
        assert!(contains(&all, "CAP_SYS_PTRACE"));
        assert!(!contains(&all, "CAP_SYS_ADMIN"));
        assert!(tweak(&["BOGUS".into()], &[]).is_err());
    }
}
