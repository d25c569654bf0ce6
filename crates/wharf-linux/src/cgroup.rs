//! Host cgroup facts, OOM accounting, and a container's cgroup manager.

use std::path::{Path, PathBuf};

use libcgroups::common::{get_cgroup_setup, CgroupSetup};
use libcontainer::container::Container;

use crate::container::{chain, load, map_lc};
use crate::{Error, Result};

const ROOT: &str = "/sys/fs/cgroup";

/// The host's cgroup layout: `"v1"`, `"hybrid"` (v1 controllers plus an empty
/// cgroup2 mount at /sys/fs/cgroup/unified; the v1 hierarchies are used) or
/// `"v2"`. `"unknown"` when /sys/fs/cgroup is missing or unrecognised.
pub fn cgroup_layout() -> &'static str {
    match get_cgroup_setup() {
        Ok(CgroupSetup::Legacy) => "v1",
        Ok(CgroupSetup::Hybrid) => "hybrid",
        Ok(CgroupSetup::Unified) => "v2",
        Err(_) => "unknown",
    }
}

fn is_v2() -> bool {
    matches!(get_cgroup_setup(), Ok(CgroupSetup::Unified))
}

/// Can a memory+swap limit be set (v1 needs swap accounting)?
pub(crate) fn swap_limit_supported() -> bool {
    if is_v2() {
        return true;
    }
    memory_mount()
        .map(|m| m.join("memory.memsw.limit_in_bytes").exists())
        .unwrap_or(false)
}

fn memory_mount() -> Option<PathBuf> {
    v1_mounts()
        .iter()
        .find(|m| m.options.iter().any(|o| o == "memory"))
        .map(|m| m.point.clone())
}

/// A cgroup v1 hierarchy mounted in this process's mount namespace.
struct V1Mount {
    point: PathBuf,
    /// Its super options: `rw`, the controllers (`memory`, `cpu`, ...) or
    /// `name=systemd`.
    options: Vec<String>,
}

/// The cgroup v1 hierarchies, read from /proc/self/mountinfo once per
/// process. libcgroups reads the table again for each question, through a
/// procfs handle of its own: a container's exit asked twice (its OOM count,
/// then its directories to remove), about 0.3 ms of a Linux start.
fn v1_mounts() -> &'static [V1Mount] {
    static MOUNTS: std::sync::OnceLock<Vec<V1Mount>> = std::sync::OnceLock::new();
    MOUNTS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/mountinfo")
            .map(|t| parse_v1_mounts(&t))
            .unwrap_or_default()
    })
}

/// The `cgroup` (v1) mounts of a mountinfo table (proc(5)): field 5 is the
/// mount point (octal escapes for blanks), and after the ` - ` separator
/// come the filesystem type, the source and the super options.
fn parse_v1_mounts(table: &str) -> Vec<V1Mount> {
    table
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let mut fs = fs.split_whitespace();
            let (fs_type, _source, options) = (fs.next()?, fs.next()?, fs.next()?);
            if fs_type != "cgroup" {
                return None;
            }
            let point = mount.split_whitespace().nth(4)?;
            Some(V1Mount {
                point: PathBuf::from(unescape_octal(point)),
                options: options.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// Undoes mountinfo's `\ooo` escapes (space, tab, newline, backslash).
fn unescape_octal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn relative(cgroup_path: &Path) -> PathBuf {
    cgroup_path
        .strip_prefix("/")
        .unwrap_or(cgroup_path)
        .to_path_buf()
}

/// Directories the container's cgroup occupies on this host.
pub(crate) fn cgroup_dirs(cgroup_path: &Path) -> Vec<PathBuf> {
    let rel = relative(cgroup_path);
    if is_v2() {
        return vec![Path::new(ROOT).join(rel)];
    }
    v1_mounts().iter().map(|m| m.point.join(&rel)).collect()
}

fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

/// Did the OOM killer kill something in this cgroup?
pub(crate) fn oom_killed(cgroup_path: &Path) -> bool {
    let rel = relative(cgroup_path);
    if is_v2() {
        let events = Path::new(ROOT).join(rel).join("memory.events");
        return std::fs::read_to_string(events)
            .ok()
            .and_then(|t| counter(&t, "oom_kill"))
            .is_some_and(|n| n > 0);
    }
    let Some(dir) = memory_mount().map(|m| m.join(rel)) else {
        return false;
    };
    match std::fs::read_to_string(dir.join("memory.oom_control")) {
        // Kernels >= 4.13 count kills; older ones only report under_oom.
        Ok(t) => match counter(&t, "oom_kill") {
            Some(n) => n > 0,
            None => counter(&t, "under_oom").is_some_and(|n| n > 0),
        },
        Err(_) => false,
    }
}

/// libcgroups' manager of the container `id`'s cgroups, with the container.
pub(crate) fn cgroup_manager(
    state_root: &Path,
    id: &str,
) -> Result<(Container, libcgroups::common::AnyCgroupManager)> {
    let c = load(state_root, id)?;
    let config = c.spec().map_err(map_lc("load", id))?;
    let manager = libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: config.cgroup_path,
        systemd_cgroup: c.systemd(),
        container_name: id.to_string(),
    })
    .map_err(|e| Error::Runtime {
        action: "open cgroups of",
        id: id.to_string(),
        message: chain(&e),
    })?;
    Ok((c, manager))
}

/// A container's resource use from its cgroups (`docker stats`' sources),
/// the same on v1, hybrid and v2 hosts (libcgroups reads each layout).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used so far, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use less the inactive page cache, as Docker counts it.
    pub memory: u64,
    /// The cgroup's limit (a huge number when there is none).
    pub memory_limit: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

/// [`Usage`] of the running container `id`.
pub fn usage(state_root: &Path, id: &str) -> Result<Usage> {
    use libcgroups::common::CgroupManager;
    let (_, manager) = cgroup_manager(state_root, id)?;
    let stats = manager.stats().map_err(|e| Error::Runtime {
        action: "read the cgroup counters of",
        id: id.to_string(),
        message: chain(&e),
    })?;
    let m = &stats.memory;
    // v1 names it total_inactive_file, v2 inactive_file.
    let inactive = ["total_inactive_file", "inactive_file"]
        .iter()
        .find_map(|k| m.stats.get(*k).copied())
        .unwrap_or(0);
    let bytes = |op: &str| {
        stats
            .blkio
            .service_bytes
            .iter()
            .filter(|s| {
                s.op_type
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(op))
            })
            .map(|s| s.value)
            .sum()
    };
    Ok(Usage {
        cpu_ns: stats.cpu.usage.usage_total,
        memory: m.memory.usage.saturating_sub(inactive),
        memory_limit: m.memory.limit,
        block_read: bytes("read"),
        block_write: bytes("write"),
        pids: stats.pids.current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_mounts_come_from_the_mountinfo_table() {
        let table = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
30 27 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:7 - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
37 30 0:33 / /mnt/odd\\040dir rw - cgroup cgroup rw,pids
";
        let m = parse_v1_mounts(table);
        let points: Vec<_> = m.iter().map(|m| m.point.display().to_string()).collect();
        assert_eq!(
            points,
            [
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/cpu,cpuacct",
                "/mnt/odd dir"
            ]
        );
        assert!(m[1].options.iter().any(|o| o == "memory"));
        assert!(m[2].options.iter().any(|o| o == "cpuacct"));
        assert_eq!(unescape_octal(r"a\134b\011c\9"), "a\\b\tc\\9");
    }
}
