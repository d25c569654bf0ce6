//! `run`/`create` flags in Docker's spelling that need more than a field:
//! `--mount`, `--pull`, `--runtime`, `--ulimit`, and which flags mean
//! nothing to a Wasm guest.

use std::path::PathBuf;

use wharf_linux::Rlimit;

use crate::spec::Volume;
use crate::{Error, Result};

/// What one `--mount` is: a bind mount or named volume (the `-v` path), or
/// a tmpfs (the `--tmpfs` path, as `TARGET:OPTIONS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    Volume(Volume),
    Tmpfs(String),
}

/// Docker's `--mount type=bind|volume|tmpfs,source=..,target=..[,readonly]`
/// (csv fields; `src`, `destination`/`dst`, `ro` as its aliases).
pub fn parse_mount(flag: &str) -> Result<Mount> {
    let bad = |why: String| Error::InvalidArgument(format!("invalid --mount \"{flag}\": {why}"));
    let (mut typ, mut source, mut target) = ("volume".to_string(), None, None);
    let mut read_only = false;
    let mut tmpfs_opts: Vec<String> = Vec::new();
    for field in flag.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.to_ascii_lowercase(), None),
        };
        let value_of = |v: Option<&str>| {
            v.map(str::to_string)
                .ok_or_else(|| bad(format!("field '{field}' must be a key=value pair")))
        };
        match key.as_str() {
            "type" => typ = value_of(value)?,
            "source" | "src" => source = Some(value_of(value)?),
            "target" | "destination" | "dst" => target = Some(value_of(value)?),
            "readonly" | "ro" => {
                read_only = match value.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true") | Some("1") => true,
                    Some("false") | Some("0") => false,
                    Some(v) => return Err(bad(format!("invalid value for {key}: {v}"))),
                }
            }
            "tmpfs-size" => tmpfs_opts.push(format!("size={}", value_of(value)?)),
            "tmpfs-mode" => tmpfs_opts.push(format!("mode={}", value_of(value)?)),
            // Docker's defaults for a local daemon: accepted, nothing to do.
            "consistency" | "bind-propagation" if value.is_some() => {}
            _ => return Err(bad(format!("unexpected key '{key}'"))),
        }
    }
    let target = target.ok_or_else(|| bad("target is required".into()))?;
    if !target.starts_with('/') {
        return Err(bad(format!(
            "the target \"{target}\" must be an absolute path"
        )));
    }
    match typ.as_str() {
        "bind" => {
            let source = source
                .ok_or_else(|| bad("source is required for a bind mount (the host path)".into()))?;
            let host = std::fs::canonicalize(&source).map_err(|_| {
                bad(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                ))
            })?;
            Ok(Mount::Volume(Volume {
                host,
                guest: normalize(&target),
                read_only,
                name: None,
            }))
        }
        "volume" => {
            let name = source.ok_or_else(|| {
                bad("source is required for a volume mount: Wharf has no anonymous volumes; name one (source=NAME)".into())
            })?;
            crate::volumes::validate_name(&name).map_err(|e| bad(e.to_string()))?;
            Ok(Mount::Volume(Volume {
                host: PathBuf::new(),
                guest: normalize(&target),
                read_only,
                name: Some(name),
            }))
        }
        "tmpfs" => {
            if source.is_some() {
                return Err(bad(
                    "invalid mount config for type \"tmpfs\": source must not be specified".into(),
                ));
            }
            if read_only {
                tmpfs_opts.push("ro".into());
            }
            let mut arg = normalize(&target);
            if !tmpfs_opts.is_empty() {
                arg = format!("{arg}:{}", tmpfs_opts.join(","));
            }
            Ok(Mount::Tmpfs(arg))
        }
        other => Err(bad(format!(
            "mount type \"{other}\" is not supported; use bind, volume or tmpfs"
        ))),
    }
}

fn normalize(p: &str) -> String {
    crate::spec::normalize_guest_path(p)
}

/// `--pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    Always,
    #[default]
    Missing,
    Never,
}

impl PullPolicy {
    pub fn parse(s: Option<&str>) -> Result<PullPolicy> {
        match s {
            None | Some("missing") => Ok(PullPolicy::Missing),
            Some("always") => Ok(PullPolicy::Always),
            Some("never") => Ok(PullPolicy::Never),
            Some(other) => Err(Error::InvalidArgument(format!(
                "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
            ))),
        }
    }
}

/// Which executor a `--runtime` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    Wasm,
    Linux,
    /// `wharf`: whichever runs the image.
    Any,
}

/// `--runtime NAME`: its kind, and the note to print when the runtime
/// named is not the one that will run the container.
pub fn parse_runtime(name: &str) -> Result<(RuntimeKind, Option<String>)> {
    let other = |what: &str, kind| {
        Ok((
            kind,
            Some(format!(
                "wharf: --runtime {name}: {what} is not used here; the container runs on Wharf's own {} executor",
                if kind == RuntimeKind::Wasm { "wasmtime" } else { "Linux (youki's libcontainer)" }
            )),
        ))
    };
    match name {
        "wharf" => Ok((RuntimeKind::Any, None)),
        "io.containerd.wasmtime.v1" => Ok((RuntimeKind::Wasm, None)),
        "io.containerd.wasmedge.v1" => other("WasmEdge", RuntimeKind::Wasm),
        "io.containerd.spin.v2" => other("Spin", RuntimeKind::Wasm),
        "runc" | "io.containerd.runc.v2" => other("runc", RuntimeKind::Linux),
        "crun" => other("crun", RuntimeKind::Linux),
        _ => Err(Error::InvalidArgument(format!(
            "unknown or invalid runtime name: {name}; Wharf takes wharf, runc, crun (Linux containers), io.containerd.wasmtime.v1, io.containerd.wasmedge.v1 or io.containerd.spin.v2 (Wasm containers)"
        ))),
    }
}

/// Docker's `--ulimit` names and the resources they set.
const ULIMITS: &[(&str, &str)] = &[
    ("as", "RLIMIT_AS"),
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
];

/// `--ulimit NAME=SOFT[:HARD]` (one value sets both; -1 or `unlimited`
/// is no limit), as Docker's go-units parses it.
pub fn parse_ulimit(flag: &str) -> Result<Rlimit> {
    let bad = |why: String| Error::InvalidArgument(format!("invalid --ulimit \"{flag}\": {why}"));
    let (name, values) = flag
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=SOFT[:HARD], e.g. nofile=1024:2048".into()))?;
    let typ = ULIMITS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t.to_string())
        .ok_or_else(|| {
            bad(format!(
                "invalid ulimit type: {name}; one of {}",
                ULIMITS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let number = |v: &str| -> Result<u64> {
        match v {
            "-1" | "unlimited" => Ok(u64::MAX),
            v => v
                .parse::<u64>()
                .map_err(|_| bad(format!("invalid ulimit argument: {v}"))),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (number(s)?, number(h)?),
        None => {
            let v = number(values)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(bad(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Rlimit { typ, soft, hard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let m = parse_mount(&format!("type=bind,source={d},target=/data/,readonly")).unwrap();
        assert_eq!(
            m,
            Mount::Volume(Volume {
                host: dir.path().canonicalize().unwrap(),
                guest: "/data".into(),
                read_only: true,
                name: None,
            })
        );
        let v = parse_mount("src=vol1,dst=/v").unwrap();
        assert!(
            matches!(v, Mount::Volume(Volume { name: Some(n), read_only: false, .. }) if n == "vol1")
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap(),
            Mount::Tmpfs("/t:size=1m,mode=1770".into())
        );
        for bad in [
            "type=bind,source=/nonexistent/x,target=/x",
            "type=bind,target=/x",
            "type=tmpfs,source=a,target=/x",
            "type=volume,source=v",
            "type=nfs,target=/x",
            "type=bind,source=/,target=/x,colour=red",
            "type=tmpfs,target=relative",
            "type=tmpfs,target=/x,ro=maybe",
        ] {
            assert!(parse_mount(bad).is_err(), "{bad}");
        }
        let err = parse_mount("type=bind,source=/nonexistent/x,target=/x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bind source path does not exist"), "{err}");
    }

    #[test]
    fn ulimits() {
        let r = parse_ulimit("nofile=256:512").unwrap();
        assert_eq!(
            (r.typ.as_str(), r.soft, r.hard),
            ("RLIMIT_NOFILE", 256, 512)
        );
        let r = parse_ulimit("core=-1").unwrap();
        assert_eq!((r.soft, r.hard), (u64::MAX, u64::MAX));
        assert!(parse_ulimit("nofile=512:256").is_err());
        assert!(parse_ulimit("files=1").is_err());
        assert!(parse_ulimit("nofile").is_err());
        assert!(parse_ulimit("nofile=lots").is_err());
    }

    #[test]
    fn runtimes() {
        assert_eq!(parse_runtime("wharf").unwrap(), (RuntimeKind::Any, None));
        assert_eq!(
            parse_runtime("io.containerd.wasmtime.v1").unwrap(),
            (RuntimeKind::Wasm, None)
        );
        let (kind, note) = parse_runtime("crun").unwrap();
        assert_eq!(kind, RuntimeKind::Linux);
        assert!(note.unwrap().contains("crun is not used"));
        assert!(parse_runtime("kata").is_err());
        assert!(PullPolicy::parse(Some("sometimes")).is_err());
    }
}
