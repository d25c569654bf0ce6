//! Image + `wharf run` flags → the container's OCI runtime spec. Both kinds
//! of container are described this way; the executors read only the spec.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
};
use wharf_image::Image;

use crate::{Error, Result};

/// Docker's rule: `--entrypoint` replaces the image's ENTRYPOINT and drops its
/// CMD; trailing arguments replace CMD. Returns (entrypoint, cmd); the
/// container's argv is the two joined.
pub fn image_command(
    image: &Image,
    entrypoint: Option<&str>,
    args: &[String],
) -> (Vec<String>, Vec<String>) {
    let config = image.config.as_ref().and_then(|c| c.config().as_ref());
    let (entry, cmd): (Vec<String>, Vec<String>) = match entrypoint {
        Some("") => (Vec::new(), args.to_vec()),
        Some(e) => (vec![e.to_string()], args.to_vec()),
        None => {
            let entry = config
                .and_then(|c| c.entrypoint().clone())
                .unwrap_or_default();
            let cmd = if args.is_empty() {
                config.and_then(|c| c.cmd().clone()).unwrap_or_default()
            } else {
                args.to_vec()
            };
            (entry, cmd)
        }
    };
    (entry, cmd)
}

pub fn image_workdir(image: &Image) -> String {
    image
        .config
        .as_ref()
        .and_then(|c| c.config().as_ref())
        .and_then(|c| c.working_dir().clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string())
}

/// The image's STOPSIGNAL, if it sets one.
pub fn image_stop_signal(image: &Image) -> Option<String> {
    image
        .config
        .as_ref()
        .and_then(|c| c.config().as_ref())
        .and_then(|c| c.stop_signal().clone())
        .filter(|s| !s.is_empty())
}

pub fn image_user(image: &Image) -> Option<String> {
    image
        .config
        .as_ref()
        .and_then(|c| c.config().as_ref())
        .and_then(|c| c.user().clone())
        .filter(|u| !u.is_empty())
}

pub fn image_env(image: &Image) -> Vec<String> {
    image
        .config
        .as_ref()
        .and_then(|c| c.config().as_ref())
        .and_then(|c| c.env().clone())
        .unwrap_or_default()
}

/// Image ENV, then `-e` flags: `K=V` sets, bare `K` copies K from the host
/// when the host has it (Docker's behaviour). Later values win, order kept.
pub fn merge_env(image_env: Vec<String>, flags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut set = |kv: String| {
        let key = kv.split('=').next().unwrap_or("").to_string();
        if let Some(existing) = out
            .iter_mut()
            .find(|e| e.split('=').next() == Some(key.as_str()))
        {
            *existing = kv;
        } else {
            out.push(kv);
        }
    };
    for kv in image_env {
        set(kv);
    }
    for flag in flags {
        match flag.split_once('=') {
            Some(("", _)) => {
                return Err(Error::InvalidArgument(format!(
                    "invalid environment variable \"{flag}\": the name is empty"
                )))
            }
            Some(_) => set(flag.clone()),
            None if flag.is_empty() => {
                return Err(Error::InvalidArgument("invalid empty -e value".into()))
            }
            None => {
                if let Ok(v) = std::env::var(flag) {
                    set(format!("{flag}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// `--env-file`: `K=V` lines (or bare `K`, copied from the host); blank
/// lines and `#` comments are skipped, as Docker does.
pub fn read_env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidArgument(format!("cannot read the env file {}: {e}", path.display()))
    })?;
    let mut vars = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Docker's rule: the name is everything before `=`, and it may not
        // hold white space (`export K=V` is a shell line, not an env line).
        let name = line.split('=').next().unwrap_or_default();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(Error::InvalidArgument(format!(
                "invalid env file {} line {}: variable '{name}' {}; write NAME=VALUE lines",
                path.display(),
                n + 1,
                if name.is_empty() {
                    "has no name"
                } else {
                    "contains whitespaces"
                }
            )));
        }
        vars.push(line.to_string());
    }
    Ok(vars)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The host directory or file mounted: the `-v` path, or a named
    /// volume's directory once the engine has resolved it.
    pub host: PathBuf,
    pub guest: String,
    pub read_only: bool,
    /// The named volume (`-v NAME:/path`), if this is one: `host` stays
    /// empty until `run` resolves it (`Engine::use_volumes`).
    pub name: Option<String>,
}

/// `-v SOURCE:GUEST[:ro|rw]`. Docker's rule: a SOURCE starting with `/` or
/// `.` is a host path, which must exist; anything else names a volume.
pub fn parse_volume(flag: &str) -> Result<Volume> {
    let parts: Vec<&str> = flag.split(':').collect();
    let (host, guest, mode) = match parts.as_slice() {
        [h, g] => (*h, *g, "rw"),
        [h, g, m] => (*h, *g, *m),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "invalid volume \"{flag}\": expected HOST:CONTAINER[:ro]"
            )))
        }
    };
    let read_only = match mode {
        "ro" => true,
        "rw" | "" => false,
        other => {
            return Err(Error::InvalidArgument(format!(
                "invalid volume mode \"{other}\" in \"{flag}\": use ro or rw"
            )))
        }
    };
    let named = !(host.starts_with('/') || host.starts_with('.'));
    if named {
        crate::volumes::validate_name(host).map_err(|e| {
            Error::InvalidArgument(format!(
                "invalid volume \"{flag}\": {e}; to mount a host directory, give its path starting with / or ./"
            ))
        })?;
    }
    if !guest.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid volume \"{flag}\": the container path \"{guest}\" must be absolute"
        )));
    }
    if named {
        return Ok(Volume {
            host: PathBuf::new(),
            guest: normalize_guest_path(guest),
            read_only,
            name: Some(host.to_string()),
        });
    }
    let host = std::fs::canonicalize(host).map_err(|e| {
        Error::InvalidArgument(format!(
            "invalid volume \"{flag}\": host path {host} cannot be used: {e}; create it first"
        ))
    })?;
    Ok(Volume {
        host,
        guest: normalize_guest_path(guest),
        read_only,
        name: None,
    })
}

pub(crate) fn normalize_guest_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `--memory`: bytes, or a number with b/k/m/g (Docker's units, powers of 1024).
pub fn parse_memory(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = &t[i..];
            let mult = match unit {
                "b" => 1,
                "k" | "kb" | "kib" => 1 << 10,
                "m" | "mb" | "mib" => 1 << 20,
                "g" | "gb" | "gib" => 1 << 30,
                _ => 0,
            };
            (&t[..i], mult)
        }
        None => (t.as_str(), 1),
    };
    let n: f64 = num.parse().unwrap_or(-1.0);
    if mult == 0 || n <= 0.0 || !n.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "invalid memory value \"{s}\": use a size like 64m, 512k or 1g"
        )));
    }
    Ok((n * mult as f64) as u64)
}

/// Resource limits, as `run` flags give them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// `--memory`, in bytes.
    pub memory: Option<u64>,
    /// `--cpus`: a CFS quota, in CPUs.
    pub cpus: Option<f64>,
    /// `--pids-limit` (`<= 0`: unlimited).
    pub pids: Option<i64>,
}

impl Limits {
    /// The spec's `linux.resources`: memory limit, CPU quota per 100 ms
    /// period (at least 1 ms, the kernel's floor), pids limit.
    fn resources(&self) -> Result<LinuxResources> {
        let mut resources = LinuxResourcesBuilder::default();
        if let Some(limit) = self.memory {
            let memory = LinuxMemoryBuilder::default()
                .limit(limit as i64)
                .build()
                .map_err(spec_err)?;
            resources = resources.memory(memory);
        }
        if let Some(cpus) = self.cpus {
            let period: u64 = 100_000;
            let quota = ((cpus * period as f64).round() as i64).max(1000);
            let cpu = LinuxCpuBuilder::default()
                .quota(quota)
                .period(period)
                .build()
                .map_err(spec_err)?;
            resources = resources.cpu(cpu);
        }
        if let Some(pids) = self.pids {
            let pids = LinuxPidsBuilder::default()
                .limit(if pids <= 0 { -1 } else { pids })
                .build()
                .map_err(spec_err)?;
            resources = resources.pids(pids);
        }
        resources.build().map_err(spec_err)
    }
}

/// `--cpus`: a positive number of CPUs such as 0.5 or 2.
pub fn parse_cpus(cpus: Option<f64>) -> Result<Option<f64>> {
    match cpus {
        Some(c) if !(c > 0.0 && c.is_finite()) => Err(Error::InvalidArgument(format!(
            "invalid --cpus {c}: give a positive number such as 0.5 or 2"
        ))),
        other => Ok(other),
    }
}

/// What every container's spec is made from, whatever its kind; the
/// executor then completes it ([`crate::executor::Executor::prepare`]).
pub struct SpecInput<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub rootfs: &'a Path,
    pub volumes: &'a [Volume],
    pub limits: Limits,
    /// The container's root is read-only (`--read-only`).
    pub read_only: bool,
    pub hostname: String,
    pub terminal: bool,
}

pub fn build(input: SpecInput) -> Result<Spec> {
    let process = ProcessBuilder::default()
        .args(input.args)
        .env(input.env)
        .cwd(input.cwd)
        .terminal(input.terminal)
        .build()
        .map_err(spec_err)?;
    let root = RootBuilder::default()
        .path(input.rootfs)
        .readonly(input.read_only)
        .build()
        .map_err(spec_err)?;
    let mut mounts = Vec::new();
    for v in input.volumes {
        let mode = if v.read_only { "ro" } else { "rw" };
        mounts.push(
            MountBuilder::default()
                .destination(&v.guest)
                .typ("bind")
                .source(&v.host)
                .options(vec!["rbind".to_string(), mode.to_string()])
                .build()
                .map_err(spec_err)?,
        );
    }
    let linux = LinuxBuilder::default()
        .resources(input.limits.resources()?)
        .build()
        .map_err(spec_err)?;
    SpecBuilder::default()
        .version("1.2.0")
        .process(process)
        .root(root)
        .hostname(input.hostname)
        .mounts(mounts)
        .annotations(HashMap::new())
        .linux(linux)
        .build()
        .map_err(spec_err)
}

fn spec_err(e: oci_spec::OciSpecError) -> Error {
    Error::InvalidArgument(format!(
        "cannot describe the container as an OCI runtime spec: {e}"
    ))
}

pub use wharf_wasm::oci::memory_limit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("512k").unwrap(), 512 << 10);
        assert_eq!(parse_memory("1048576").unwrap(), 1 << 20);
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("-5m").is_err());
        assert!(parse_memory("5q").is_err());
    }

    #[test]
    fn env_merges_like_docker() {
        std::env::set_var("WHARF_TEST_HOSTVAR", "from-host");
        let env = merge_env(
            vec!["PATH=/bin".into(), "A=1".into()],
            &[
                "A=2".into(),
                "B=x=y".into(),
                "WHARF_TEST_HOSTVAR".into(),
                "WHARF_TEST_UNSET_VAR".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            env,
            vec!["PATH=/bin", "A=2", "B=x=y", "WHARF_TEST_HOSTVAR=from-host"]
        );
        assert!(merge_env(vec![], &["=x".into()]).is_err());
    }

    #[test]
    fn env_files_refuse_shell_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("env");
        std::fs::write(&file, "# comment\n\nA=1\n  B=two words\n").unwrap();
        assert_eq!(read_env_file(&file).unwrap(), ["A=1", "B=two words"]);
        std::fs::write(&file, "A=1\nexport K=V\n").unwrap();
        let err = read_env_file(&file).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("'export K'"),
            "{err}"
        );
        std::fs::write(&file, "=V\n").unwrap();
        assert!(read_env_file(&file).is_err());
    }

    #[test]
    fn volumes() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().to_str().unwrap();
        let v = parse_volume(&format!("{p}:/data/../data/:ro")).unwrap();
        assert_eq!(v.guest, "/data");
        assert!(v.read_only);
        assert_eq!(v.name, None);
        let named = parse_volume("my-data_1.x:/data/:ro").unwrap();
        assert_eq!(named.name.as_deref(), Some("my-data_1.x"));
        assert_eq!(named.guest, "/data");
        assert!(named.read_only);
        assert!(
            named.host.as_os_str().is_empty(),
            "resolved by run, not here"
        );
        for bad in ["bad/name:/data", "_x:/data", "a b:/data", "-x:/data"] {
            let err = parse_volume(bad).unwrap_err().to_string();
            assert!(err.contains("[a-zA-Z0-9][a-zA-Z0-9_.-]"), "{bad}: {err}");
        }
        assert!(parse_volume("named:data").is_err());
        assert!(parse_volume(&format!("{p}/missing:/data"))
            .unwrap_err()
            .to_string()
            .contains("create it first"));
        assert!(parse_volume(&format!("{p}:data")).is_err());
        assert!(parse_volume(&format!("{p}:/d:rx")).is_err());
    }
}
