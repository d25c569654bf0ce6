//! Fills a runtime spec with Docker's defaults.

use std::path::Path;

use oci_spec::runtime::Spec;
use serde_json::{json, Map, Value};

use crate::{caps, cgroup, seccomp, user, Error, LinuxOptions, Network, Result, Seccomp};

const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The loopback lines every container's /etc/hosts starts with.
const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// A container's /etc/hosts and /etc/resolv.conf, for every kind of
/// container: the host's with `--network host`; on a joined network its own
/// addresses under its hostname and the network's DNS servers (the host's
/// resolv.conf when it has none); else loopback. `--add-host` lines are
/// added, `--dns` servers replace the nameservers.
pub fn etc_files(opts: &LinuxOptions, hostname: &str) -> (String, String) {
    let host_resolv = || std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (mut hosts, resolv) = match &opts.network {
        Network::Host => (
            std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| LOCALHOST.to_string()),
            host_resolv(),
        ),
        Network::Joined(joined) => {
            let mut hosts = LOCALHOST.to_string();
            for address in &joined.addresses {
                hosts.push_str(&format!("{address}\t{hostname}\n"));
            }
            let resolv = if joined.nameservers.is_empty() {
                host_resolv()
            } else {
                let mut resolv = String::new();
                if !joined.search.is_empty() {
                    resolv.push_str(&format!("search {}\n", joined.search.join(" ")));
                }
                for ns in &joined.nameservers {
                    resolv.push_str(&format!("nameserver {ns}\n"));
                }
                resolv
            };
            (hosts, resolv)
        }
        Network::None => (format!("{LOCALHOST}127.0.0.1\t{hostname}\n"), host_resolv()),
    };
    for (name, ip) in &opts.add_hosts {
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    if opts.dns.is_empty() {
        return (hosts, resolv);
    }
    let mut custom: String = resolv
        .lines()
        .filter(|l| !l.trim_start().starts_with("nameserver"))
        .map(|l| format!("{l}\n"))
        .collect();
    for ns in &opts.dns {
        custom.push_str(&format!("nameserver {ns}\n"));
    }
    (hosts, custom)
}

/// Docker's RLIMIT_NOFILE for containers.
const NOFILE: u64 = 1_048_576;

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Value {
    json!({ "destination": dest, "type": typ, "source": source, "options": options })
}

/// Docker's default mounts.
fn default_mounts() -> Vec<Value> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    ]
}

/// `/run` or `/run:size=64m,mode=1777` -> a tmpfs mount.
fn tmpfs_mount(arg: &str) -> Result<Value> {
    let (dest, opts) = match arg.split_once(':') {
        Some((d, o)) => (d, o),
        None => (arg, ""),
    };
    if !dest.starts_with('/') || dest == "/" {
        return Err(Error::invalid(
            "--tmpfs",
            arg,
            "expected an absolute path other than /, optionally followed by :options (e.g. /run:size=64m,mode=1777)",
        ));
    }
    let user: Vec<&str> = opts
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    let mut options: Vec<&str> = Vec::new();
    for (default, opposite) in [("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev")] {
        if !user.contains(&opposite) {
            options.push(default);
        }
    }
    options.extend(user.iter().filter(|o| !["exec", "suid", "dev"].contains(o)));
    Ok(mount(dest, "tmpfs", "tmpfs", &options))
}

fn bind(dest: &str, source: &Path) -> Value {
    json!({
        "destination": dest,
        "type": "bind",
        "source": source.to_string_lossy(),
        "options": ["rbind", "rprivate"],
    })
}

fn write_file(path: &Path, content: &str) -> Result<()> {
    std::fs::write(path, content).map_err(|e| Error::io("writing", path, e))
}

/// Where `--init`'s init is mounted (Docker's path for its tini).
pub const INIT_PATH: &str = "/sbin/docker-init";

/// `process.rlimits`: Docker's RLIMIT_NOFILE unless `--ulimit` sets it,
/// then the `--ulimit` ones (u64::MAX is no limit, the kernel's RLIM_INFINITY).
fn rlimits(given: &[crate::Rlimit]) -> Value {
    let mut out = Vec::new();
    if !given.iter().any(|r| r.typ == "RLIMIT_NOFILE") {
        out.push(
            json!({ "type": "RLIMIT_NOFILE", "hard": nofile_limit(), "soft": nofile_limit() }),
        );
    }
    for r in given {
        out.retain(|v: &Value| v["type"] != r.typ.as_str());
        out.push(json!({ "type": r.typ, "hard": r.hard, "soft": r.soft }));
    }
    Value::Array(out)
}

/// A hard limit above this process's own needs CAP_SYS_RESOURCE (root
/// here may lack it): refused before the container is made, with the most
/// that can be given, rather than an EPERM from the runtime.
fn check_rlimits(given: &[crate::Rlimit]) -> Result<()> {
    use nix::sys::resource::{getrlimit, Resource};
    let can_raise = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        // Bit 24 is CAP_SYS_RESOURCE.
        .is_some_and(|eff| eff & (1 << 24) != 0);
    if can_raise {
        return Ok(());
    }
    for r in given {
        let resource = match r.typ.as_str() {
            "RLIMIT_AS" => Resource::RLIMIT_AS,
            "RLIMIT_CORE" => Resource::RLIMIT_CORE,
            "RLIMIT_CPU" => Resource::RLIMIT_CPU,
            "RLIMIT_DATA" => Resource::RLIMIT_DATA,
            "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
            "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
            "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
            "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
            "RLIMIT_NICE" => Resource::RLIMIT_NICE,
            "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
            "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
            "RLIMIT_RSS" => Resource::RLIMIT_RSS,
            "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
            "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
            "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
            "RLIMIT_STACK" => Resource::RLIMIT_STACK,
            _ => continue,
        };
        let Ok((_, own_hard)) = getrlimit(resource) else {
            continue;
        };
        if r.hard > own_hard {
            let name = r.typ.trim_start_matches("RLIMIT_").to_ascii_lowercase();
            return Err(Error::invalid(
                "--ulimit",
                format!("{name}={}:{}", r.soft, r.hard),
                format!(
                    "the hard limit is above Wharf's own ({own_hard}), and raising it needs CAP_SYS_RESOURCE, which this process lacks; give at most {own_hard}"
                ),
            ));
        }
    }
    Ok(())
}

/// The host's device nodes for a `--privileged` container, as Docker lists
/// them (moby's `HostDevices`): every char and block device under /dev but
/// in pts, shm, mqueue and fd, and the console and ptmx, which the runtime
/// makes itself.
fn host_devices() -> Vec<Value> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut devices = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from("/dev")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ft = meta.file_type();
            if ft.is_dir() {
                if !["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]
                    .contains(&name.as_ref())
                {
                    dirs.push(path);
                }
                continue;
            }
            if path == Path::new("/dev/console") || path == Path::new("/dev/ptmx") {
                continue;
            }
            let typ = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            let rdev = meta.rdev();
            devices.push(json!({
                "path": path.to_string_lossy(),
                "type": typ,
                "major": nix::sys::stat::major(rdev),
                "minor": nix::sys::stat::minor(rdev),
                "fileMode": meta.mode() & 0o7777,
                "uid": meta.uid(),
                "gid": meta.gid(),
            }));
        }
    }
    devices
}

/// RLIMIT_NOFILE clamped to what this process may set without CAP_SYS_RESOURCE.
fn nofile_limit() -> u64 {
    nofile_clamp().map_or(NOFILE, |(_, hard)| hard)
}

/// `Some((wanted, granted))` when containers get a lower RLIMIT_NOFILE than
/// Docker's because this process's hard limit is lower (raising it needs
/// CAP_SYS_RESOURCE). The caller decides how often to tell the user.
pub fn nofile_clamp() -> Option<(u64, u64)> {
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(_, hard)| hard)
        .unwrap_or(NOFILE);
    (hard < NOFILE).then_some((NOFILE, hard))
}

fn obj(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("object")
}

/// Fills `spec` with Docker's Linux defaults and `opts`: capabilities,
/// seccomp, user, rlimits, namespaces, masked paths, cgroup path, devices,
/// the default mounts, swap equal to the memory limit; writes /etc/hosts,
/// /etc/hostname and /etc/resolv.conf into `container_dir` and bind-mounts
/// them. What the caller set — process args/env/cwd/terminal, hostname
/// (default: the id's first 12 characters), root.readonly, mounts, memory,
/// CPU and pids limits — is kept as it is: each is set in one place.
pub fn apply_defaults(
    spec: &mut Spec,
    id: &str,
    rootfs: &Path,
    container_dir: &Path,
    opts: &LinuxOptions,
) -> Result<()> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c))
        || id == "."
        || id == ".."
    {
        return Err(Error::invalid(
            "container id",
            id,
            "use letters, digits, '_', '+', '-' and '.' only",
        ));
    }
    let mut v = serde_json::to_value(&*spec).map_err(|e| Error::Spec(e.to_string()))?;
    let root = obj(&mut v);

    // Process.
    let process = obj(root.entry("process").or_insert(Value::Null));
    match process.get("args") {
        Some(Value::Array(a)) if !a.is_empty() => {}
        _ => {
            return Err(Error::Spec(
                "process.args is empty: set the command to run before calling apply_defaults"
                    .into(),
            ))
        }
    }
    if !matches!(process.get("cwd"), Some(Value::String(s)) if s.starts_with('/')) {
        process.insert("cwd".into(), json!("/"));
    }
    let caps = if opts.privileged {
        // Docker's --privileged: every capability (a --cap-drop still applies).
        let mut all = vec!["ALL".to_string()];
        all.extend(opts.cap_add.iter().cloned());
        caps::within_own_bounds(caps::tweak(&all, &opts.cap_drop)?)
    } else {
        caps::tweak(&opts.cap_add, &opts.cap_drop)?
    };
    let resolved = user::resolve_user(rootfs, opts.user.as_deref())?;
    process.insert(
        "capabilities".into(),
        json!({ "bounding": caps, "effective": caps, "permitted": caps }),
    );
    // libcontainer 0.7 loads seccomp *after* dropping capabilities whenever
    // noNewPrivileges is present, even when false, and that load then fails
    // without no_new_privs: leave the field out unless it is true.
    if opts.no_new_privileges {
        process.insert("noNewPrivileges".into(), json!(true));
    } else {
        process.remove("noNewPrivileges");
    }
    let tty = matches!(process.get("terminal"), Some(Value::Bool(true)));
    check_rlimits(&opts.rlimits)?;
    process.insert("rlimits".into(), rlimits(&opts.rlimits));
    if let Some(args) = process.get_mut("args").and_then(Value::as_array_mut) {
        if opts.init.is_some() {
            // tini's command line, as Docker's docker-init gets it.
            let mut with_init = vec![json!(INIT_PATH), json!("--")];
            with_init.append(args);
            *args = with_init;
        }
    }
    let mut user = json!({ "uid": resolved.uid, "gid": resolved.gid });
    if !resolved.additional_gids.is_empty() {
        user["additionalGids"] = json!(resolved.additional_gids);
    }
    process.insert("user".into(), user);
    let hostname = match root.get("hostname") {
        Some(Value::String(h)) if !h.is_empty() => h.clone(),
        _ => id.chars().take(12).collect(),
    };
    let process = obj(root.entry("process").or_insert(Value::Null));
    let mut envs: Vec<String> = process
        .get("env")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    if !envs.iter().any(|e| e.starts_with("PATH=")) {
        envs.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    if !envs.iter().any(|e| e.starts_with("HOME=")) {
        envs.push(format!("HOME={}", resolved.home));
    }
    if !envs.iter().any(|e| e.starts_with("HOSTNAME=")) {
        envs.push(format!("HOSTNAME={hostname}"));
    }
    if tty && !envs.iter().any(|e| e.starts_with("TERM=")) {
        envs.push("TERM=xterm".into());
    }
    process.insert("env".into(), json!(envs));

    // Root and hostname.
    let read_only = root
        .get("root")
        .and_then(|r| r.get("readonly"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    root.insert(
        "root".into(),
        json!({ "path": rootfs.to_string_lossy(), "readonly": read_only }),
    );
    root.insert("hostname".into(), json!(hostname));

    // /etc files.
    std::fs::create_dir_all(container_dir)
        .map_err(|e| Error::io("creating container directory", container_dir, e))?;
    let hosts = container_dir.join("hosts");
    let (hosts_text, resolv_text) = etc_files(opts, &hostname);
    write_file(&hosts, &hosts_text)?;
    let hostname_file = container_dir.join("hostname");
    write_file(&hostname_file, &format!("{hostname}\n"))?;
    let resolv = container_dir.join("resolv.conf");
    write_file(&resolv, &resolv_text)?;

    // Mounts: Docker's, then --tmpfs, then the /etc files; the caller's own
    // mounts (volumes) win over any of these at the same destination.
    let caller_mounts: Vec<Value> = root
        .get("mounts")
        .and_then(|m| m.as_array().cloned())
        .unwrap_or_default();
    let mut defaults = default_mounts();
    if opts.privileged {
        // Docker mounts /sys and the cgroups writable for --privileged.
        for m in &mut defaults {
            if let Some(options) = m["options"].as_array_mut() {
                options.retain(|o| o != "ro");
            }
        }
    }
    let default_dests: Vec<Value> = defaults.iter().map(|m| m["destination"].clone()).collect();
    let caller_mounts: Vec<Value> = caller_mounts
        .into_iter()
        .filter(|m| !default_dests.contains(&m["destination"]))
        .collect();
    let mut mounts = defaults;
    for t in &opts.tmpfs {
        mounts.push(tmpfs_mount(t)?);
    }
    mounts.push(bind("/etc/hosts", &hosts));
    mounts.push(bind("/etc/hostname", &hostname_file));
    mounts.push(bind("/etc/resolv.conf", &resolv));
    if let Some(init) = &opts.init {
        mounts.push(json!({
            "destination": INIT_PATH,
            "type": "bind",
            "source": init.to_string_lossy(),
            "options": ["bind", "ro", "rprivate"],
        }));
    }
    let caller_dests: Vec<Value> = caller_mounts
        .iter()
        .map(|m| m["destination"].clone())
        .collect();
    mounts.retain(|m| !caller_dests.contains(&m["destination"]));
    mounts.extend(caller_mounts);
    root.insert("mounts".into(), Value::Array(mounts));

    // Linux.
    let linux = obj(root.entry("linux").or_insert(Value::Null));
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "mount"}),
        json!({"type": "uts"}),
        json!({"type": "ipc"}),
    ];
    match &opts.network {
        Network::None => namespaces.push(json!({"type": "network"})),
        Network::Joined(joined) => {
            namespaces.push(json!({"type": "network", "path": joined.netns.to_string_lossy()}))
        }
        Network::Host => {}
    }
    namespaces.push(json!({"type": "cgroup"}));
    linux.insert("namespaces".into(), json!(namespaces));
    linux.remove("uidMappings");
    linux.remove("gidMappings");
    if opts.privileged {
        linux.remove("maskedPaths");
        linux.remove("readonlyPaths");
        linux.insert("devices".into(), json!(host_devices()));
    } else {
        linux.insert("maskedPaths".into(), json!(MASKED_PATHS));
        linux.insert("readonlyPaths".into(), json!(READONLY_PATHS));
    }
    linux.insert("cgroupsPath".into(), json!(format!("/wharf/{id}")));
    match &opts.seccomp {
        _ if opts.privileged => {
            linux.remove("seccomp");
        }
        Seccomp::Unconfined => {
            linux.remove("seccomp");
        }
        Seccomp::Default => {
            let s = seccomp::docker_default(&caps)?;
            linux.insert(
                "seccomp".into(),
                serde_json::to_value(s).map_err(|e| Error::Spec(e.to_string()))?,
            );
        }
        Seccomp::File(path) => {
            let s = seccomp::from_file(path, &caps)?;
            linux.insert(
                "seccomp".into(),
                serde_json::to_value(s).map_err(|e| Error::Spec(e.to_string()))?,
            );
        }
    }
    // Limits are the caller's; the memory limit gets Docker's equal swap
    // limit (so the OOM killer, not swap, answers it) and a floor.
    let mut resources = linux.get("resources").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = resources.pointer("/memory/limit").and_then(Value::as_i64) {
        if m < 6 * 1024 * 1024 {
            return Err(Error::invalid(
                "memory limit",
                m.to_string(),
                "the minimum is 6 MiB (6291456 bytes)",
            ));
        }
        if cgroup::swap_limit_supported() && resources.pointer("/memory/swap").is_none() {
            resources["memory"]["swap"] = json!(m);
        }
    }
    // Docker's rule: deny every device but libcontainer's defaults; a
    // privileged container may use them all.
    resources["devices"] = json!([{ "allow": opts.privileged, "access": "rwm" }]);
    linux.insert("resources".into(), resources);

    *spec = serde_json::from_value(v).map_err(|e| Error::Spec(format!("internal: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_parsing() {
        let m = tmpfs_mount("/run:size=64m,mode=1777").unwrap();
        assert_eq!(m["destination"], "/run");
        let o: Vec<String> = serde_json::from_value(m["options"].clone()).unwrap();
        assert_eq!(o, ["noexec", "nosuid", "nodev", "size=64m", "mode=1777"]);
        let m = tmpfs_mount("/x:exec").unwrap();
        let o: Vec<String> = serde_json::from_value(m["options"].clone()).unwrap();
        assert_eq!(o, ["nosuid", "nodev"]);
        assert!(tmpfs_mount("run").is_err());
    }
}
