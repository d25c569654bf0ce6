//! The resolved Compose model: what a project's files mean after
//! interpolation, merging and normalisation. Every field is in its one
//! canonical form (ports and volumes long-form, environment as a map,
//! relative paths made absolute), so the engine never re-parses syntax.
//!
//! The types serialise to the shape `docker compose config` prints; field
//! order inside a service is alphabetical, as there.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::units::format_duration;

/// One service (`services.NAME`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    /// The key under `services:`.
    #[serde(skip)]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// `None`: the image's CMD. `Some([])`: explicitly empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Dependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// `None`: the image's ENTRYPOINT. `Some([])`: explicitly cleared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Already folded into `environment`; kept to show where values came from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<String>,
    /// `env_file` contents, then `environment` (which wins); a bare `KEY`
    /// took its value from the project environment and is absent if unset.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// `HOST:IP` entries, Docker's `--add-host` form.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<u64>,
    /// Networks the service joins, by their key in the top-level `networks`
    /// (`default` when the service names none).
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_duration"
    )]
    pub stop_grace_period: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// What executor a service needs, as far as the Compose file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// `platform: wasi/wasm` (or `wasip1/wasm`, `wasip2/wasm`) or a
    /// containerd Wasm shim as `runtime`: run on Wharf's Wasm executor.
    Wasm,
    /// The file does not say; the engine decides from the image, as
    /// `wharf run` does.
    FromImage,
}

impl Service {
    /// Whether the file asks for Wasm (by `platform` or `runtime`), or leaves
    /// the choice to the image.
    pub fn kind(&self) -> ServiceKind {
        let wasm_platform = self.platform.as_deref().is_some_and(is_wasm_platform);
        let wasm_runtime = self.runtime.as_deref().is_some_and(is_wasm_shim);
        if wasm_platform || wasm_runtime {
            ServiceKind::Wasm
        } else {
            ServiceKind::FromImage
        }
    }
}

/// `wasi/wasm`, `wasip1/wasm`, `wasip2/wasm` (any case, optional variant).
pub(crate) fn is_wasm_platform(platform: &str) -> bool {
    let lower = platform.to_ascii_lowercase();
    let mut parts = lower.split('/');
    matches!(
        (parts.next(), parts.next()),
        (Some("wasi" | "wasip1" | "wasip2"), Some("wasm"))
    )
}

/// containerd Wasm shims (runwasi's and Spin's): `io.containerd.NAME.vN`
/// with NAME a Wasm runtime.
pub(crate) fn is_wasm_shim(runtime: &str) -> bool {
    let Some(rest) = runtime.strip_prefix("io.containerd.") else {
        return false;
    };
    let Some((name, version)) = rest.rsplit_once('.') else {
        return false;
    };
    let versioned = version.len() > 1
        && version.starts_with('v')
        && version[1..].chars().all(|c| c.is_ascii_digit());
    let wasm_name = matches!(
        name,
        "wasmedge" | "wasmtime" | "wasmer" | "wamr" | "spin" | "slight" | "wws" | "lunatic"
    ) || name.contains("wasm");
    versioned && wasm_name
}

/// `build:` (a string is its `context`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Build {
    /// An absolute directory, or a remote context (URL) as written.
    pub context: String,
    /// Relative to the context, as given; `Dockerfile` when not.
    pub dockerfile: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dependency {
    pub condition: Condition,
    /// `false`: a missing dependency is not an error (Compose's `required`).
    pub required: bool,
}

/// When a dependency counts as ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

/// `deploy:`; only `resources.limits` is supported.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Deploy {
    pub resources: Resources,
}

/// `deploy.resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

/// `deploy.resources.limits`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Limits {
    /// CPUs (fractional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

/// `healthcheck:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Healthcheck {
    #[serde(skip_serializing_if = "HealthTest::is_inherit")]
    pub test: HealthTest,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_duration"
    )]
    pub interval: Option<Duration>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_duration"
    )]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_duration"
    )]
    pub start_period: Option<Duration>,
    /// `disable: true` or `test: [NONE]`: the image's HEALTHCHECK is off.
    #[serde(skip_serializing_if = "is_false")]
    pub disable: bool,
}

/// A healthcheck's `test`.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthTest {
    /// Use the image's HEALTHCHECK test (only other fields were given).
    Inherit,
    /// `[NONE]`: no healthcheck.
    None,
    /// `[CMD, args...]`: exec the words.
    Cmd(Vec<String>),
    /// `[CMD-SHELL, line]` or a string: run through the container's shell.
    Shell(String),
}

impl HealthTest {
    fn is_inherit(&self) -> bool {
        matches!(self, HealthTest::Inherit)
    }
}

impl Serialize for HealthTest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let words: Vec<&str> = match self {
            HealthTest::Inherit => return serializer.serialize_none(), // skipped by Healthcheck
            HealthTest::None => vec!["NONE"],
            HealthTest::Cmd(args) => std::iter::once("CMD")
                .chain(args.iter().map(String::as_str))
                .collect(),
            HealthTest::Shell(line) => vec!["CMD-SHELL", line],
        };
        words.serialize(serializer)
    }
}

/// A service's attachment to one network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceNetwork {
    /// Extra DNS names from the file; the service name is always one too
    /// (see [`crate::Project::network_aliases`]).
    pub aliases: Vec<String>,
}

impl Serialize for ServiceNetwork {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Compose prints a plain attachment as `name: null`.
        if self.aliases.is_empty() {
            return serializer.serialize_none();
        }
        #[derive(Serialize)]
        struct WithAliases<'a> {
            aliases: &'a [String],
        }
        WithAliases {
            aliases: &self.aliases,
        }
        .serialize(serializer)
    }
}

/// A published or exposed port (long syntax).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    /// `ingress` (the default) or `host`; on one host both mean the same.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// The container port.
    pub target: u16,
    /// Host port or range (`8080`, `9000-9010`); `None`: not published on a
    /// fixed port (Docker picks one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

/// A volume entry (long syntax).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Named volume key, or absolute host path for binds; `None` for an
    /// anonymous volume or tmpfs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Absolute path in the container.
    pub target: String,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// Binds: create the host directory when missing (short syntax does, as
    /// in Docker; long syntax only with `bind.create_host_path: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
}

/// `bind:` options of a bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindOptions {
    pub create_host_path: bool,
}

/// The kind of a [`Mount`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

/// `restart:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    No,
    Always,
    /// `on-failure[:N]`: N is the most restarts.
    OnFailure(Option<u32>),
    UnlessStopped,
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Restart::No => f.write_str("no"),
            Restart::Always => f.write_str("always"),
            Restart::OnFailure(None) => f.write_str("on-failure"),
            Restart::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
            Restart::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

impl Serialize for Restart {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A top-level network (`networks.KEY`), or the implicit `default`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    /// The engine's name: `<project>_<key>`, unless `name:` or external.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub internal: bool,
    /// `ipam.config[].subnet` values (CIDR).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_ipam"
    )]
    #[serde(rename = "ipam")]
    pub subnets: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A top-level named volume (`volumes.KEY`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Volume {
    /// The engine's name: `<project>_<key>`, unless `name:` or external.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn serialize_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&format_duration(*d)),
        None => s.serialize_none(),
    }
}

fn serialize_ipam<S: Serializer>(subnets: &[String], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Subnet<'a> {
        subnet: &'a str,
    }
    #[derive(Serialize)]
    struct Ipam<'a> {
        config: Vec<Subnet<'a>>,
    }
    Ipam {
        config: subnets.iter().map(|subnet| Subnet { subnet }).collect(),
    }
    .serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasm_platforms_and_shims() {
        for p in [
            "wasi/wasm",
            "wasip1/wasm",
            "wasip2/wasm",
            "WASI/WASM",
            "wasi/wasm/v1",
        ] {
            assert!(is_wasm_platform(p), "{p}");
        }
        for p in ["linux/amd64", "wasm", "wasi", "linux/wasm"] {
            assert!(!is_wasm_platform(p), "{p}");
        }
        for r in [
            "io.containerd.wasmedge.v1",
            "io.containerd.wasmtime.v1",
            "io.containerd.spin.v2",
            "io.containerd.wasmer.v1",
            "io.containerd.wamr.v1",
            "io.containerd.slight.v1",
        ] {
            assert!(is_wasm_shim(r), "{r}");
        }
        for r in [
            "runc",
            "io.containerd.runc.v2",
            "io.containerd.wasmedge",
            "wasmedge",
            "io.containerd.kata.v2",
        ] {
            assert!(!is_wasm_shim(r), "{r}");
        }
    }

    #[test]
    fn restart_prints_compose_spelling() {
        assert_eq!(Restart::OnFailure(Some(3)).to_string(), "on-failure:3");
        assert_eq!(Restart::OnFailure(None).to_string(), "on-failure");
        assert_eq!(Restart::UnlessStopped.to_string(), "unless-stopped");
        assert_eq!(Restart::No.to_string(), "no");
    }
}
