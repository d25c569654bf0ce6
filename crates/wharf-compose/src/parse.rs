//! From the merged, interpolated YAML value to the typed model. Every key is
//! looked at: supported keys are parsed (errors name the key path), Compose
//! keys Wharf does not support become warnings, unknown keys become
//! warnings, and `x-*` extension keys are accepted silently.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde_norway::{Mapping, Value};

use crate::env::parse_env_file;
use crate::error::{invalid, ComposeError, Result};
use crate::files::clean_join;
use crate::model::*;
use crate::units::{parse_duration, parse_size, shell_split};
use crate::Diagnostic;

/// Compose specification keys of a service (compose-spec's schema).
#[rustfmt::skip]
const SERVICE_SPEC_KEYS: &[&str] = &[
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup",
    "cgroup_parent", "command", "configs", "container_name", "cpu_count", "cpu_percent",
    "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset",
    "credential_spec", "depends_on", "deploy", "develop", "device_cgroup_rules", "devices", "dns",
    "dns_opt", "dns_search", "domainname", "entrypoint", "env_file", "environment", "expose",
    "extends", "external_links", "extra_hosts", "gpus", "group_add", "healthcheck", "hostname",
    "image", "init", "ipc", "isolation", "label_file", "labels", "links", "logging", "mac_address",
    "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit", "models", "network_mode",
    "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports",
    "post_start", "pre_stop", "privileged", "profiles", "provider", "pull_policy",
    "pull_refresh_after", "read_only", "restart", "runtime", "scale", "secrets", "security_opt",
    "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls",
    "tmpfs", "tty", "ulimits", "use_api_socket", "user", "userns_mode", "uts", "volumes",
    "volumes_from", "working_dir",
];

/// The service keys Wharf reads; any other key gets a warning.
#[rustfmt::skip]
const SERVICE_SUPPORTED: &[&str] = &[
    "build", "cap_add", "cap_drop", "command", "container_name", "depends_on", "deploy", "dns",
    "entrypoint", "env_file", "environment", "expose", "extra_hosts", "healthcheck", "hostname",
    "image", "init", "labels", "mem_limit", "networks", "platform", "ports", "read_only",
    "restart", "runtime", "security_opt", "stdin_open", "stop_grace_period", "stop_signal", "tty",
    "user", "volumes", "working_dir",
];

/// Compose specification keys of `build:`.
#[rustfmt::skip]
const BUILD_SPEC_KEYS: &[&str] = &[
    "additional_contexts", "cache_from", "cache_to", "dockerfile_inline", "entitlements",
    "extra_hosts", "isolation", "labels", "network", "no_cache", "platforms", "privileged",
    "provenance", "pull", "sbom", "secrets", "shm_size", "ssh", "tags", "ulimits",
];

/// Compose specification keys of a service's network attachment.
#[rustfmt::skip]
const SERVICE_NETWORK_SPEC_KEYS: &[&str] = &[
    "ipv4_address", "ipv6_address", "link_local_ips", "mac_address", "driver_opts", "priority",
    "gw_priority", "interface_name",
];

/// Compose specification keys of `deploy:`.
#[rustfmt::skip]
const DEPLOY_SPEC_KEYS: &[&str] = &[
    "mode", "replicas", "labels", "update_config", "rollback_config", "restart_policy",
    "placement", "endpoint_mode",
];

/// Service keys whose omission changes what runs: their warning says how.
const SERVICE_KEY_CONSEQUENCES: &[(&str, &str)] = &[
    (
        "profiles",
        "not supported by Wharf, ignored; the service starts with all the others",
    ),
    (
        "extends",
        "not supported by Wharf, ignored; nothing is inherited from the service named",
    ),
    (
        "network_mode",
        "not supported by Wharf, ignored; the service joins the project's networks",
    ),
    (
        "scale",
        "not supported by Wharf (one container per service), ignored",
    ),
    (
        "secrets",
        "not supported by Wharf, ignored; no secret files are mounted",
    ),
    (
        "configs",
        "not supported by Wharf, ignored; no config files are mounted",
    ),
];

/// Shared state of one parse: where relative paths start, the variables
/// bare `KEY`s read, and the warnings and notes collected.
pub(crate) struct Parser<'a> {
    pub project_dir: &'a Path,
    pub env: &'a BTreeMap<String, String>,
    pub warnings: Vec<Diagnostic>,
    pub notes: Vec<Diagnostic>,
}

/// The typed content of the files, before names are resolved.
pub(crate) struct Parsed {
    pub name: Option<String>,
    pub services: BTreeMap<String, Service>,
    pub networks: BTreeMap<String, NetworkDef>,
    pub volumes: BTreeMap<String, VolumeDef>,
}

/// A top-level network as written (its engine name is resolved later).
pub(crate) struct NetworkDef {
    pub name: Option<String>,
    pub external: bool,
    pub internal: bool,
    pub driver: Option<String>,
    pub subnets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// A top-level volume as written.
pub(crate) struct VolumeDef {
    pub name: Option<String>,
    pub external: bool,
    pub driver: Option<String>,
    pub labels: BTreeMap<String, String>,
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn wrong_type(path: &str, expected: &str, v: &Value) -> ComposeError {
    invalid(path, format!("expected {expected}, found {}", kind_of(v)))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn key_string(key: &Value, path: &str) -> Result<String> {
    match key {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(invalid(
            path,
            format!("keys must be strings, found {}", kind_of(other)),
        )),
    }
}

fn mapping<'v>(v: &'v Value, path: &str) -> Result<&'v Mapping> {
    v.as_mapping()
        .ok_or_else(|| wrong_type(path, "a mapping", v))
}

/// A scalar as text: strings as they are, numbers and booleans spelled out.
fn scalar(v: &Value, path: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(wrong_type(path, "a string", other)),
    }
}

/// `map[key]` read by `read` (at its key path), or None when absent or null.
fn optional<T>(
    map: &Mapping,
    key: &str,
    path: &str,
    read: impl Fn(&Value, &str) -> Result<T>,
) -> Result<Option<T>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read(v, &join(path, key)).map(Some),
    }
}

/// A string-typed field: strings and numbers (`user: 1000`).
fn string(v: &Value, path: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(wrong_type(path, "a string", other)),
    }
}

fn opt_string(map: &Mapping, key: &str, path: &str) -> Result<Option<String>> {
    optional(map, key, path, string)
}

/// Booleans, also as the strings interpolation leaves (`"true"`, `"no"`).
fn boolean(v: &Value, path: &str) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => Ok(true),
            "false" | "no" | "n" | "off" | "0" => Ok(false),
            _ => Err(invalid(
                path,
                format!("expected true or false, found {s:?}"),
            )),
        },
        other => Err(wrong_type(path, "true or false", other)),
    }
}

fn opt_bool(map: &Mapping, key: &str, path: &str) -> Result<Option<bool>> {
    optional(map, key, path, boolean)
}

fn integer(v: &Value, path: &str) -> Result<i64> {
    let parsed = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| match v {
        Value::Number(_) | Value::String(_) => invalid(
            path,
            format!("expected a whole number, found {}", display(v)),
        ),
        other => wrong_type(path, "a whole number", other),
    })
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        other => kind_of(other).to_string(),
    }
}

fn duration(v: &Value, path: &str) -> Result<std::time::Duration> {
    match v {
        Value::String(s) => parse_duration(s).map_err(|m| invalid(path, m)),
        other => Err(invalid(
            path,
            format!(
                "expected a duration string like 10s or 1m30s, found {}",
                display(other)
            ),
        )),
    }
}

fn opt_duration(map: &Mapping, key: &str, path: &str) -> Result<Option<std::time::Duration>> {
    optional(map, key, path, duration)
}

/// Bytes: a number, or a size string like `512m`.
fn size(v: &Value, path: &str) -> Result<u64> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| {
            invalid(
                path,
                format!("invalid size {n}: expected a whole number of bytes"),
            )
        }),
        Value::String(s) => parse_size(s).map_err(|m| invalid(path, m)),
        other => Err(wrong_type(path, "a size like 512m", other)),
    }
}

/// A string or a list of strings.
fn string_list(v: &Value, path: &str) -> Result<Vec<String>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| string(item, &index(path, i)))
            .collect(),
        other => Ok(vec![string(other, path)?]),
    }
}

/// A list of `KEY=VALUE` strings or a mapping, as for `labels`.
/// `bare` gives the value of a list entry without `=` or a null map value.
fn key_values(
    v: &Value,
    path: &str,
    bare: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match v {
        Value::Null => {}
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                let entry = string(item, &index(path, i))?;
                match entry.split_once('=') {
                    Some((k, val)) => {
                        out.insert(k.to_string(), val.to_string());
                    }
                    None => {
                        if let Some(val) = bare(&entry) {
                            out.insert(entry, val);
                        }
                    }
                }
            }
        }
        Value::Mapping(map) => {
            for (k, val) in map {
                let key = key_string(k, path)?;
                let item_path = join(path, &key);
                match val {
                    Value::Null => {
                        if let Some(val) = bare(&key) {
                            out.insert(key, val);
                        }
                    }
                    other => {
                        out.insert(key, scalar(other, &item_path)?);
                    }
                }
            }
        }
        other => return Err(wrong_type(path, "a list of KEY=VALUE or a mapping", other)),
    }
    for key in out.keys() {
        if key.is_empty() {
            return Err(invalid(path, "an entry has an empty name"));
        }
    }
    Ok(out)
}

/// `services.NAME`, the path of a service's own keys.
fn is_service_path(path: &str) -> bool {
    path.strip_prefix("services.")
        .is_some_and(|rest| !rest.contains('.') && !rest.contains('['))
}

fn valid_name(name: &str, allow_leading_punct: bool) -> bool {
    !name.is_empty()
        && (allow_leading_punct || name.starts_with(|c: char| c.is_ascii_alphanumeric()))
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Parser<'_> {
    fn warn(&mut self, path: String, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            path,
            message: message.into(),
        });
    }

    /// Warns about each key of `map` that is not in `supported`: with
    /// `unsupported` as the reason if the Compose specification has it
    /// (`spec`), as unknown otherwise. `x-*` keys are extensions, accepted.
    fn check_keys(
        &mut self,
        map: &Mapping,
        path: &str,
        supported: &[&str],
        spec: &[&str],
        unsupported: &str,
    ) -> Result<()> {
        for key in map.keys() {
            let key = key_string(key, path)?;
            if supported.contains(&key.as_str()) || key.starts_with("x-") {
                continue;
            }
            let consequence = SERVICE_KEY_CONSEQUENCES
                .iter()
                .find(|(k, _)| *k == key && is_service_path(path));
            let message = if let Some((_, consequence)) = consequence {
                consequence.to_string()
            } else if spec.contains(&key.as_str()) {
                unsupported.to_string()
            } else {
                "unknown key (not in the Compose specification), ignored".to_string()
            };
            self.warn(join(path, &key), message);
        }
        Ok(())
    }

    pub(crate) fn project(&mut self, root: &Value) -> Result<Parsed> {
        let root = mapping(root, "(top level)")?;
        for key in root.keys() {
            let key = key_string(key, "")?;
            match key.as_str() {
                "name" | "services" | "networks" | "volumes" => {}
                k if k.starts_with("x-") => {}
                "version" => self.warn(
                    key,
                    "the attribute is obsolete and ignored (as Docker Compose does); remove it",
                ),
                "secrets" | "configs" | "include" | "models" => {
                    self.warn(key, "not supported by Wharf, ignored")
                }
                _ => self.warn(
                    key,
                    "unknown key (not in the Compose specification), ignored",
                ),
            }
        }
        let name = opt_string(root, "name", "")?;
        let mut services = BTreeMap::new();
        match root.get("services") {
            None | Some(Value::Null) => {}
            Some(v) => {
                for (k, def) in mapping(v, "services")? {
                    let name = key_string(k, "services")?;
                    if !valid_name(&name, true) {
                        return Err(invalid(
                            &join("services", &name),
                            "a service name may only contain letters, digits, '.', '_' and '-'",
                        ));
                    }
                    let service = self.service(&name, def)?;
                    services.insert(name, service);
                }
            }
        }
        let mut networks = BTreeMap::new();
        if let Some(v) = root.get("networks").filter(|v| !v.is_null()) {
            for (k, def) in mapping(v, "networks")? {
                let key = key_string(k, "networks")?;
                let def = self.network(&join("networks", &key), def)?;
                networks.insert(key, def);
            }
        }
        let mut volumes = BTreeMap::new();
        if let Some(v) = root.get("volumes").filter(|v| !v.is_null()) {
            for (k, def) in mapping(v, "volumes")? {
                let key = key_string(k, "volumes")?;
                let def = self.volume(&join("volumes", &key), def)?;
                volumes.insert(key, def);
            }
        }
        Ok(Parsed {
            name,
            services,
            networks,
            volumes,
        })
    }

    fn service(&mut self, name: &str, def: &Value) -> Result<Service> {
        let path = join("services", name);
        if def.is_null() {
            return Err(invalid(
                &path,
                "the service definition is empty; give it at least an `image:` or a `build:`",
            ));
        }
        let map = mapping(def, &path)?;
        self.check_keys(
            map,
            &path,
            SERVICE_SUPPORTED,
            SERVICE_SPEC_KEYS,
            "not supported by Wharf, ignored",
        )?;
        let p = |key: &str| join(&path, key);
        let env = self.env;
        let from_env = |k: &str| env.get(k).cloned();

        let command = match map.get("command") {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.command(v, &p("command"))?),
        };
        let entrypoint = match map.get("entrypoint") {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.command(v, &p("entrypoint"))?),
        };

        let (env_file, mut environment) = match map.get("env_file") {
            None | Some(Value::Null) => (Vec::new(), BTreeMap::new()),
            Some(v) => self.env_files(v, &p("env_file"))?,
        };
        if let Some(v) = map.get("environment") {
            environment.extend(key_values(v, &p("environment"), &from_env)?);
        }

        let mut ports = Vec::new();
        if let Some(v) = map.get("ports").filter(|v| !v.is_null()) {
            let Value::Sequence(items) = v else {
                return Err(wrong_type(&p("ports"), "a list", v));
            };
            for (i, item) in items.iter().enumerate() {
                ports.extend(self.port(item, &index(&p("ports"), i))?);
            }
        }

        let mut expose = Vec::new();
        if let Some(v) = map.get("expose") {
            for (i, item) in string_list(v, &p("expose"))?.into_iter().enumerate() {
                check_expose(&item).map_err(|m| invalid(&index(&p("expose"), i), m))?;
                expose.push(item);
            }
        }

        let mut volumes = Vec::new();
        if let Some(v) = map.get("volumes").filter(|v| !v.is_null()) {
            let Value::Sequence(items) = v else {
                return Err(wrong_type(&p("volumes"), "a list", v));
            };
            for (i, item) in items.iter().enumerate() {
                volumes.push(self.mount(item, &index(&p("volumes"), i))?);
            }
        }

        let mut networks = BTreeMap::new();
        if let Some(v) = map.get("networks").filter(|v| !v.is_null()) {
            networks = self.service_networks(v, &p("networks"))?;
        }
        if networks.is_empty() {
            networks.insert("default".to_string(), ServiceNetwork::default());
        }

        let depends_on = match map.get("depends_on") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(v) => self.depends_on(v, &p("depends_on"))?,
        };

        let healthcheck = match map.get("healthcheck") {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.healthcheck(v, &p("healthcheck"))?),
        };

        let restart = match map.get("restart") {
            None | Some(Value::Null) => None,
            Some(v) => Some(restart(v, &p("restart"))?),
        };

        let runtime = opt_string(map, "runtime", &path)?;
        if let Some(rt) = &runtime {
            if is_wasm_shim(rt) {
                self.notes.push(Diagnostic {
                    path: p("runtime"),
                    message: format!(
                        "{rt} is a containerd Wasm shim; Wharf runs this service on its own \
                         Wasm executor"
                    ),
                });
            } else if !matches!(
                rt.as_str(),
                "runc" | "crun" | "youki" | "io.containerd.runc.v1" | "io.containerd.runc.v2"
            ) {
                self.warn(
                    p("runtime"),
                    format!(
                        "runtime {rt:?} is not supported by Wharf, ignored; the executor is \
                         chosen from the image (or `platform: wasi/wasm`)"
                    ),
                );
            }
        }

        let mem_limit = match map.get("mem_limit") {
            None | Some(Value::Null) => None,
            Some(v) => Some(size(v, &p("mem_limit"))?),
        };

        let deploy = match map.get("deploy") {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.deploy(v, &p("deploy"))?),
        };

        let labels = match map.get("labels") {
            None => BTreeMap::new(),
            Some(v) => key_values(v, &p("labels"), &|_| Some(String::new()))?,
        };

        let container_name = opt_string(map, "container_name", &path)?;
        if let Some(cn) = &container_name {
            if !valid_name(cn, false) {
                return Err(invalid(
                    &p("container_name"),
                    format!(
                        "invalid container name {cn:?}: use letters, digits, '_', '.' and '-', \
                         starting with a letter or digit"
                    ),
                ));
            }
        }

        let stop_grace_period = opt_duration(map, "stop_grace_period", &path)?;

        let mut extra_hosts = Vec::new();
        if let Some(v) = map.get("extra_hosts").filter(|v| !v.is_null()) {
            extra_hosts = extra_hosts_list(v, &p("extra_hosts"))?;
        }

        let mut dns = Vec::new();
        if let Some(v) = map.get("dns") {
            for (i, server) in string_list(v, &p("dns"))?.into_iter().enumerate() {
                if server.parse::<IpAddr>().is_err() {
                    return Err(invalid(
                        &index(&p("dns"), i),
                        format!("{server:?} is not an IP address"),
                    ));
                }
                dns.push(server);
            }
        }

        let list = |key: &str| -> Result<Vec<String>> {
            map.get(key)
                .map_or(Ok(Vec::new()), |v| string_list(v, &join(&path, key)))
        };

        Ok(Service {
            name: name.to_string(),
            build: match map.get("build") {
                None | Some(Value::Null) => None,
                Some(v) => Some(self.build(v, &p("build"))?),
            },
            cap_add: list("cap_add")?,
            cap_drop: list("cap_drop")?,
            command,
            container_name,
            depends_on,
            deploy,
            dns,
            entrypoint,
            env_file,
            environment,
            expose,
            extra_hosts,
            healthcheck,
            hostname: opt_string(map, "hostname", &path)?,
            image: opt_string(map, "image", &path)?,
            init: opt_bool(map, "init", &path)?,
            labels,
            mem_limit,
            networks,
            platform: opt_string(map, "platform", &path)?,
            ports,
            read_only: opt_bool(map, "read_only", &path)?.unwrap_or(false),
            restart,
            runtime,
            security_opt: list("security_opt")?,
            stdin_open: opt_bool(map, "stdin_open", &path)?.unwrap_or(false),
            stop_grace_period,
            stop_signal: opt_string(map, "stop_signal", &path)?,
            tty: opt_bool(map, "tty", &path)?.unwrap_or(false),
            user: opt_string(map, "user", &path)?,
            volumes,
            working_dir: opt_string(map, "working_dir", &path)?,
        })
    }

    /// `command` / `entrypoint`: a string is split into words as a shell
    /// would (without expansions); a list is taken as it is.
    fn command(&mut self, v: &Value, path: &str) -> Result<Vec<String>> {
        match v {
            Value::String(s) => shell_split(s).map_err(|m| invalid(path, m)),
            Value::Sequence(_) => string_list(v, path),
            other => Err(wrong_type(path, "a string or a list of strings", other)),
        }
    }

    fn build(&mut self, v: &Value, path: &str) -> Result<Build> {
        let project_dir = self.project_dir;
        let resolve_context = |ctx: &str| -> String {
            let remote =
                ctx.contains("://") || ctx.starts_with("git@") || ctx.starts_with("github.com/");
            if remote {
                ctx.to_string()
            } else {
                clean_join(project_dir, Path::new(ctx))
                    .display()
                    .to_string()
            }
        };
        match v {
            Value::String(ctx) => Ok(Build {
                context: resolve_context(ctx),
                dockerfile: "Dockerfile".to_string(),
                args: BTreeMap::new(),
                target: None,
            }),
            Value::Mapping(map) => {
                self.check_keys(
                    map,
                    path,
                    &["context", "dockerfile", "args", "target"],
                    BUILD_SPEC_KEYS,
                    "not supported by Wharf's build (it takes context, dockerfile, args and \
                     target), ignored",
                )?;
                let context = opt_string(map, "context", path)?.unwrap_or_else(|| ".".to_string());
                let env = self.env;
                let args = match map.get("args") {
                    None => BTreeMap::new(),
                    Some(v) => key_values(v, &join(path, "args"), &|k| env.get(k).cloned())?,
                };
                Ok(Build {
                    context: resolve_context(&context),
                    dockerfile: opt_string(map, "dockerfile", path)?
                        .unwrap_or_else(|| "Dockerfile".to_string()),
                    args,
                    target: opt_string(map, "target", path)?,
                })
            }
            other => Err(wrong_type(path, "a build context path or a mapping", other)),
        }
    }

    /// Reads `env_file` entries (relative to the project directory) into one
    /// map, later files winning; returns the resolved paths too.
    fn env_files(
        &mut self,
        v: &Value,
        path: &str,
    ) -> Result<(Vec<String>, BTreeMap<String, String>)> {
        let entries: Vec<(String, bool)> = match v {
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.env_file_entry(item, &index(path, i)))
                .collect::<Result<_>>()?,
            other => vec![self.env_file_entry(other, path)?],
        };
        let mut files = Vec::new();
        let mut vars = BTreeMap::new();
        for (file, required) in entries {
            let file = clean_join(self.project_dir, Path::new(&file));
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
                Err(source) => {
                    return Err(ComposeError::Read {
                        what: "env_file",
                        path: file,
                        source,
                    })
                }
            };
            let env = self.env;
            vars.extend(parse_env_file(&text, &file, &|k| env.get(k).cloned())?);
            files.push(file.display().to_string());
        }
        Ok((files, vars))
    }

    /// An `env_file` entry: a path, or `{path, required}`.
    fn env_file_entry(&mut self, v: &Value, path: &str) -> Result<(String, bool)> {
        match v {
            Value::Mapping(map) => {
                self.check_keys(
                    map,
                    path,
                    &["path", "required"],
                    &["format"],
                    "not supported by Wharf (env files are KEY=VALUE lines), ignored",
                )?;
                let file = opt_string(map, "path", path)?
                    .ok_or_else(|| invalid(path, "an env_file entry needs a `path`"))?;
                let required = opt_bool(map, "required", path)?.unwrap_or(true);
                Ok((file, required))
            }
            other => Ok((string(other, path)?, true)),
        }
    }

    fn port(&mut self, v: &Value, path: &str) -> Result<Vec<Port>> {
        match v {
            Value::String(s) => parse_port(s).map_err(|m| invalid(path, m)),
            Value::Number(n) => parse_port(&n.to_string()).map_err(|m| invalid(path, m)),
            Value::Mapping(map) => {
                self.check_keys(
                    map,
                    path,
                    &["target", "published", "host_ip", "protocol", "mode"],
                    &["name", "app_protocol"],
                    "not supported by Wharf, ignored",
                )?;
                let target_value = map
                    .get("target")
                    .ok_or_else(|| invalid(path, "a port needs a `target` (the container port)"))?;
                let target_path = join(path, "target");
                let target = port_number(&string(target_value, &target_path)?)
                    .map_err(|m| invalid(&target_path, m))?;
                let published = match opt_string(map, "published", path)? {
                    None => None,
                    Some(p) if p.is_empty() => None,
                    Some(p) => {
                        port_range(&p).map_err(|m| invalid(&join(path, "published"), m))?;
                        Some(p)
                    }
                };
                let host_ip = opt_string(map, "host_ip", path)?;
                if let Some(ip) = &host_ip {
                    check_ip(ip).map_err(|m| invalid(&join(path, "host_ip"), m))?;
                }
                let protocol = opt_string(map, "protocol", path)?.unwrap_or_else(|| "tcp".into());
                check_protocol(&protocol).map_err(|m| invalid(&join(path, "protocol"), m))?;
                let mode = opt_string(map, "mode", path)?.unwrap_or_else(|| "ingress".into());
                if mode != "ingress" && mode != "host" {
                    return Err(invalid(
                        &join(path, "mode"),
                        format!("unknown port mode {mode:?}: use ingress or host"),
                    ));
                }
                Ok(vec![Port {
                    mode,
                    host_ip,
                    target,
                    published,
                    protocol,
                }])
            }
            other => Err(wrong_type(
                path,
                "a port like \"8080:80\" or a mapping",
                other,
            )),
        }
    }

    fn mount(&mut self, v: &Value, path: &str) -> Result<Mount> {
        match v {
            Value::String(s) => {
                let (mount, ignored) =
                    parse_volume(s, self.project_dir, self.env).map_err(|m| invalid(path, m))?;
                for option in ignored {
                    self.warn(
                        path.to_string(),
                        format!("mount option {option:?} is not supported by Wharf, ignored"),
                    );
                }
                Ok(mount)
            }
            Value::Mapping(map) => self.mount_long(map, path),
            other => Err(wrong_type(
                path,
                "a volume like \"data:/data\" or a mapping",
                other,
            )),
        }
    }

    fn mount_long(&mut self, map: &Mapping, path: &str) -> Result<Mount> {
        self.check_keys(
            map,
            path,
            &["type", "source", "target", "read_only", "bind"],
            &["consistency", "volume", "tmpfs", "image"],
            "not supported by Wharf, ignored",
        )?;
        let source = opt_string(map, "source", path)?.filter(|s| !s.is_empty());
        let kind = match opt_string(map, "type", path)?.as_deref() {
            Some("volume") => MountKind::Volume,
            Some("bind") => MountKind::Bind,
            Some("tmpfs") => MountKind::Tmpfs,
            Some(other) => {
                return Err(invalid(
                    &join(path, "type"),
                    format!(
                    "volume type {other:?} is not supported by Wharf: use volume, bind or tmpfs"
                ),
                ))
            }
            None => match &source {
                Some(s) if is_path_like(s) => MountKind::Bind,
                _ => MountKind::Volume,
            },
        };
        let target = opt_string(map, "target", path)?.ok_or_else(|| {
            invalid(
                path,
                "a volume needs a `target` (the path in the container)",
            )
        })?;
        if !target.starts_with('/') {
            return Err(invalid(
                &join(path, "target"),
                format!("the container path {target:?} must be absolute"),
            ));
        }
        let read_only = opt_bool(map, "read_only", path)?.unwrap_or(false);
        let mut bind = None;
        let source = match kind {
            MountKind::Bind => {
                let src = source.ok_or_else(|| {
                    invalid(path, "a bind mount needs a `source` (the host path)")
                })?;
                let create_host_path = match map.get("bind").filter(|v| !v.is_null()) {
                    None => false,
                    Some(v) => {
                        let bind_path = join(path, "bind");
                        let bind_map = mapping(v, &bind_path)?;
                        self.check_keys(
                            bind_map,
                            &bind_path,
                            &["create_host_path"],
                            &["propagation", "selinux", "recursive"],
                            "not supported by Wharf, ignored",
                        )?;
                        opt_bool(bind_map, "create_host_path", &bind_path)?.unwrap_or(false)
                    }
                };
                bind = Some(BindOptions { create_host_path });
                Some(
                    resolve_bind(&src, self.project_dir, self.env)
                        .map_err(|m| invalid(&join(path, "source"), m))?,
                )
            }
            MountKind::Volume => {
                if let Some(name) = &source {
                    check_volume_name(name).map_err(|m| invalid(&join(path, "source"), m))?;
                }
                if map.contains_key("bind") {
                    self.warn(join(path, "bind"), "only applies to bind mounts, ignored");
                }
                source
            }
            MountKind::Tmpfs => {
                if source.is_some() {
                    return Err(invalid(
                        &join(path, "source"),
                        "a tmpfs mount has no source",
                    ));
                }
                None
            }
        };
        Ok(Mount {
            kind,
            source,
            target,
            read_only,
            bind,
        })
    }

    fn service_networks(
        &mut self,
        v: &Value,
        path: &str,
    ) -> Result<BTreeMap<String, ServiceNetwork>> {
        let mut out = BTreeMap::new();
        match v {
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    out.insert(string(item, &index(path, i))?, ServiceNetwork::default());
                }
            }
            Value::Mapping(map) => {
                for (k, def) in map {
                    let name = key_string(k, path)?;
                    let net_path = join(path, &name);
                    let mut attachment = ServiceNetwork::default();
                    if !def.is_null() {
                        let def = mapping(def, &net_path)?;
                        self.check_keys(
                            def,
                            &net_path,
                            &["aliases"],
                            SERVICE_NETWORK_SPEC_KEYS,
                            "not supported by Wharf, ignored",
                        )?;
                        if let Some(aliases) = def.get("aliases") {
                            attachment.aliases = string_list(aliases, &join(&net_path, "aliases"))?;
                        }
                    }
                    out.insert(name, attachment);
                }
            }
            other => {
                return Err(wrong_type(
                    path,
                    "a list of network names or a mapping",
                    other,
                ))
            }
        }
        Ok(out)
    }

    fn depends_on(&mut self, v: &Value, path: &str) -> Result<BTreeMap<String, Dependency>> {
        let started = Dependency {
            condition: Condition::ServiceStarted,
            required: true,
        };
        let mut out = BTreeMap::new();
        match v {
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    out.insert(string(item, &index(path, i))?, started.clone());
                }
            }
            Value::Mapping(map) => {
                for (k, def) in map {
                    let name = key_string(k, path)?;
                    let dep_path = join(path, &name);
                    let mut dep = started.clone();
                    if !def.is_null() {
                        let def = mapping(def, &dep_path)?;
                        self.check_keys(
                            def,
                            &dep_path,
                            &["condition", "required"],
                            &["restart"],
                            "not supported by Wharf (dependents are not restarted), ignored",
                        )?;
                        if let Some(c) = opt_string(def, "condition", &dep_path)? {
                            dep.condition = match c.as_str() {
                                "service_started" => Condition::ServiceStarted,
                                "service_healthy" => Condition::ServiceHealthy,
                                "service_completed_successfully" => {
                                    Condition::ServiceCompletedSuccessfully
                                }
                                other => {
                                    return Err(invalid(
                                        &join(&dep_path, "condition"),
                                        format!(
                                            "unknown condition {other:?}: use service_started, \
                                             service_healthy or service_completed_successfully"
                                        ),
                                    ))
                                }
                            };
                        }
                        if let Some(r) = opt_bool(def, "required", &dep_path)? {
                            dep.required = r;
                        }
                    }
                    out.insert(name, dep);
                }
            }
            other => {
                return Err(wrong_type(
                    path,
                    "a list of service names or a mapping",
                    other,
                ))
            }
        }
        Ok(out)
    }

    fn healthcheck(&mut self, v: &Value, path: &str) -> Result<Healthcheck> {
        let map = mapping(v, path)?;
        self.check_keys(
            map,
            path,
            &[
                "test",
                "interval",
                "timeout",
                "retries",
                "start_period",
                "disable",
            ],
            &["start_interval"],
            "not supported by Wharf, ignored",
        )?;
        let test_path = join(path, "test");
        let mut test = match map.get("test") {
            None | Some(Value::Null) => HealthTest::Inherit,
            Some(Value::String(line)) => HealthTest::Shell(line.clone()),
            Some(v @ Value::Sequence(_)) => {
                let words = string_list(v, &test_path)?;
                match words.split_first() {
                    Some((first, rest)) if first == "NONE" => {
                        if !rest.is_empty() {
                            return Err(invalid(&test_path, "[NONE] takes no arguments"));
                        }
                        HealthTest::None
                    }
                    Some((first, rest)) if first == "CMD" && !rest.is_empty() => {
                        HealthTest::Cmd(rest.to_vec())
                    }
                    Some((first, rest)) if first == "CMD-SHELL" && !rest.is_empty() => {
                        HealthTest::Shell(rest.join(" "))
                    }
                    _ => {
                        return Err(invalid(
                            &test_path,
                            "a test list starts with NONE, CMD or CMD-SHELL, followed by the \
                             command (e.g. [CMD, curl, -f, http://localhost])",
                        ))
                    }
                }
            }
            Some(other) => return Err(wrong_type(&test_path, "a string or a list", other)),
        };
        let disable = opt_bool(map, "disable", path)?.unwrap_or(false) || test == HealthTest::None;
        if disable {
            test = HealthTest::None;
        }
        let retries =
            match map.get("retries") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let n = integer(v, &join(path, "retries"))?;
                    Some(u64::try_from(n).map_err(|_| {
                        invalid(&join(path, "retries"), "retries cannot be negative")
                    })?)
                }
            };
        Ok(Healthcheck {
            test,
            interval: opt_duration(map, "interval", path)?,
            timeout: opt_duration(map, "timeout", path)?,
            retries,
            start_period: opt_duration(map, "start_period", path)?,
            disable,
        })
    }

    fn deploy(&mut self, v: &Value, path: &str) -> Result<Deploy> {
        let map = mapping(v, path)?;
        self.check_keys(
            map,
            path,
            &["resources"],
            DEPLOY_SPEC_KEYS,
            "not supported by Wharf (only deploy.resources.limits is), ignored",
        )?;
        let mut deploy = Deploy::default();
        let Some(resources) = map.get("resources").filter(|v| !v.is_null()) else {
            return Ok(deploy);
        };
        let res_path = join(path, "resources");
        let resources = mapping(resources, &res_path)?;
        self.check_keys(
            resources,
            &res_path,
            &["limits"],
            &["reservations"],
            "not supported by Wharf (only limits are applied), ignored",
        )?;
        let Some(limits) = resources.get("limits").filter(|v| !v.is_null()) else {
            return Ok(deploy);
        };
        let lim_path = join(&res_path, "limits");
        let limits = mapping(limits, &lim_path)?;
        self.check_keys(
            limits,
            &lim_path,
            &["cpus", "memory", "pids"],
            &["devices"],
            "not supported by Wharf, ignored",
        )?;
        let cpus = match limits.get("cpus") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let cpus_path = join(&lim_path, "cpus");
                let text = string(v, &cpus_path)?;
                let cpus: f64 = text
                    .parse()
                    .ok()
                    .filter(|c: &f64| c.is_finite() && *c > 0.0)
                    .ok_or_else(|| {
                        invalid(
                            &cpus_path,
                            format!("invalid CPU count {text:?}: use a number like 0.5 or 2"),
                        )
                    })?;
                Some(cpus)
            }
        };
        let memory = match limits.get("memory") {
            None | Some(Value::Null) => None,
            Some(v) => Some(size(v, &join(&lim_path, "memory"))?),
        };
        let pids = match limits.get("pids") {
            None | Some(Value::Null) => None,
            Some(v) => Some(integer(v, &join(&lim_path, "pids"))?),
        };
        deploy.resources.limits = Some(Limits { cpus, memory, pids });
        Ok(deploy)
    }

    fn network(&mut self, path: &str, def: &Value) -> Result<NetworkDef> {
        let mut out = NetworkDef {
            name: None,
            external: false,
            internal: false,
            driver: None,
            subnets: Vec::new(),
            labels: BTreeMap::new(),
        };
        if def.is_null() {
            return Ok(out);
        }
        let map = mapping(def, path)?;
        self.check_keys(
            map,
            path,
            &["name", "external", "internal", "driver", "ipam", "labels"],
            &["driver_opts", "attachable", "enable_ipv4", "enable_ipv6"],
            "not supported by Wharf, ignored",
        )?;
        out.name = opt_string(map, "name", path)?;
        out.external = self.external(map, path, &mut out.name)?;
        out.internal = opt_bool(map, "internal", path)?.unwrap_or(false);
        out.driver = opt_string(map, "driver", path)?;
        if let Some(driver) = &out.driver {
            if driver != "bridge" && driver != "default" {
                self.warn(
                    join(path, "driver"),
                    format!("driver {driver:?} is not supported by Wharf, ignored; Wharf makes bridge networks"),
                );
            }
        }
        if let Some(labels) = map.get("labels") {
            out.labels = key_values(labels, &join(path, "labels"), &|_| Some(String::new()))?;
        }
        if let Some(ipam) = map.get("ipam").filter(|v| !v.is_null()) {
            let ipam_path = join(path, "ipam");
            let ipam = mapping(ipam, &ipam_path)?;
            self.check_keys(
                ipam,
                &ipam_path,
                &["config"],
                &["driver", "options"],
                "not supported by Wharf, ignored",
            )?;
            if let Some(configs) = ipam.get("config").filter(|v| !v.is_null()) {
                let config_path = join(&ipam_path, "config");
                let Value::Sequence(configs) = configs else {
                    return Err(wrong_type(&config_path, "a list", configs));
                };
                for (i, config) in configs.iter().enumerate() {
                    let item_path = index(&config_path, i);
                    let config = mapping(config, &item_path)?;
                    self.check_keys(
                        config,
                        &item_path,
                        &["subnet"],
                        &["ip_range", "gateway", "aux_addresses"],
                        "not supported by Wharf, ignored",
                    )?;
                    if let Some(subnet) = opt_string(config, "subnet", &item_path)? {
                        check_cidr(&subnet).map_err(|m| invalid(&join(&item_path, "subnet"), m))?;
                        out.subnets.push(subnet);
                    }
                }
            }
        }
        Ok(out)
    }

    fn volume(&mut self, path: &str, def: &Value) -> Result<VolumeDef> {
        let mut out = VolumeDef {
            name: None,
            external: false,
            driver: None,
            labels: BTreeMap::new(),
        };
        if def.is_null() {
            return Ok(out);
        }
        let map = mapping(def, path)?;
        self.check_keys(
            map,
            path,
            &["name", "external", "driver", "labels"],
            &["driver_opts"],
            "not supported by Wharf, ignored",
        )?;
        out.name = opt_string(map, "name", path)?;
        out.external = self.external(map, path, &mut out.name)?;
        out.driver = opt_string(map, "driver", path)?;
        if let Some(driver) = &out.driver {
            if driver != "local" {
                self.warn(
                    join(path, "driver"),
                    format!("driver {driver:?} is not supported by Wharf, ignored; volumes are local directories"),
                );
            }
        }
        if let Some(labels) = map.get("labels") {
            out.labels = key_values(labels, &join(path, "labels"), &|_| Some(String::new()))?;
        }
        Ok(out)
    }

    /// `external: true`, or the legacy `external: {name: N}` (which sets
    /// the name, with a warning as Compose gives).
    fn external(&mut self, map: &Mapping, path: &str, name: &mut Option<String>) -> Result<bool> {
        let ext_path = join(path, "external");
        match map.get("external") {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Mapping(legacy)) => {
                if let Some(n) = opt_string(legacy, "name", &ext_path)? {
                    self.warn(
                        join(&ext_path, "name"),
                        "is deprecated; write `name:` next to `external: true`",
                    );
                    *name = Some(n);
                }
                Ok(true)
            }
            Some(v) => boolean(v, &ext_path),
        }
    }
}

fn restart(v: &Value, path: &str) -> Result<Restart> {
    let text = match v {
        Value::Bool(false) => "no".to_string(),
        other => string(other, path)?,
    };
    let bad = || {
        invalid(
            path,
            format!(
                "unknown restart policy {text:?}: use no, always, on-failure[:N] or unless-stopped"
            ),
        )
    };
    match text.as_str() {
        "no" => Ok(Restart::No),
        "always" => Ok(Restart::Always),
        "unless-stopped" => Ok(Restart::UnlessStopped),
        "on-failure" => Ok(Restart::OnFailure(None)),
        other => match other.strip_prefix("on-failure:") {
            Some(n) => n
                .parse()
                .map(|n| Restart::OnFailure(Some(n)))
                .map_err(|_| bad()),
            None => Err(bad()),
        },
    }
}

fn extra_hosts_list(v: &Value, path: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    match v {
        Value::Mapping(map) => {
            for (k, ips) in map {
                let host = key_string(k, path)?;
                for ip in string_list(ips, &join(path, &host))? {
                    out.push(format!("{host}:{ip}"));
                }
            }
        }
        other => {
            for (i, entry) in string_list(other, path)?.into_iter().enumerate() {
                // `host=ip` (current) or `host:ip` (Docker's); an IPv6 address
                // has colons of its own, so split at the first separator.
                let split = entry.split_once('=').or_else(|| entry.split_once(':'));
                match split {
                    Some((host, ip)) if !host.is_empty() && !ip.is_empty() => {
                        out.push(format!("{host}:{}", ip.trim_matches(['[', ']'])))
                    }
                    _ => {
                        return Err(invalid(
                            &index(path, i),
                            format!("invalid extra host {entry:?}: expected HOST:IP or HOST=IP"),
                        ))
                    }
                }
            }
        }
    }
    Ok(out)
}

fn check_ip(ip: &str) -> std::result::Result<(), String> {
    ip.parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("{ip:?} is not an IP address"))
}

fn check_cidr(cidr: &str) -> std::result::Result<(), String> {
    let bad = || {
        format!(
            "invalid subnet {cidr:?}: expected an address with a prefix length, like 172.28.0.0/16"
        )
    };
    let (addr, prefix) = cidr.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(bad());
    }
    Ok(())
}

fn check_protocol(protocol: &str) -> std::result::Result<(), String> {
    match protocol {
        "tcp" | "udp" | "sctp" => Ok(()),
        other => Err(format!("unknown protocol {other:?}: use tcp, udp or sctp")),
    }
}

fn port_number(s: &str) -> std::result::Result<u16, String> {
    match s.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "invalid port {s:?}: ports are numbers from 1 to 65535"
        )),
    }
}

/// `N` or `N-M`.
fn port_range(s: &str) -> std::result::Result<(u16, u16), String> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port_number(a)?, port_number(b)?);
            if a > b {
                return Err(format!(
                    "invalid port range {s:?}: the start is after the end"
                ));
            }
            Ok((a, b))
        }
        None => {
            let n = port_number(s)?;
            Ok((n, n))
        }
    }
}

/// `expose` entries: `PORT[-PORT][/PROTO]`.
fn check_expose(entry: &str) -> std::result::Result<(), String> {
    let (ports, proto) = entry.split_once('/').unwrap_or((entry, "tcp"));
    check_protocol(proto)?;
    port_range(ports).map(|_| ())
}

/// Short port syntax: `[IP:][HOST[-RANGE]:]CONTAINER[-RANGE][/PROTO]`.
/// A container range becomes one port per number, paired with an equally
/// long host range; a host range for one container port stays a range.
pub(crate) fn parse_port(spec: &str) -> std::result::Result<Vec<Port>, String> {
    let with_help = |m: String| {
        format!("{m} (in port {spec:?}; the form is [IP:][HOST:]CONTAINER[/PROTOCOL], like \"8080:80\")")
    };
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((rest, proto)) => (rest, proto),
        None => (spec, "tcp"),
    };
    check_protocol(protocol).map_err(with_help)?;
    let (host_ip, host, container) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (ip, after) = bracketed
            .split_once(']')
            .ok_or_else(|| with_help("unclosed '[' around the IPv6 address".into()))?;
        let after = after
            .strip_prefix(':')
            .ok_or_else(|| with_help("expected ':' after the IPv6 address".into()))?;
        let (host, container) = after
            .split_once(':')
            .ok_or_else(|| with_help("a host IP needs HOST:CONTAINER after it".into()))?;
        (Some(ip.to_string()), host, container)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 => (None, "", parts[0]),
            2 => (None, parts[0], parts[1]),
            n => (Some(parts[..n - 2].join(":")), parts[n - 2], parts[n - 1]),
        }
    };
    if let Some(ip) = &host_ip {
        check_ip(ip).map_err(with_help)?;
    }
    let (c_start, c_end) = port_range(container).map_err(with_help)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(port_range(host).map_err(with_help)?)
    };
    let port = |target: u16, published: Option<String>| Port {
        mode: "ingress".to_string(),
        host_ip: host_ip.clone(),
        target,
        published,
        protocol: protocol.to_string(),
    };
    let count = c_end - c_start;
    Ok(match host_range {
        None => (c_start..=c_end).map(|t| port(t, None)).collect(),
        Some((h_start, h_end)) if count == 0 => {
            let published = if h_start == h_end {
                h_start.to_string()
            } else {
                format!("{h_start}-{h_end}")
            };
            vec![port(c_start, Some(published))]
        }
        Some((h_start, h_end)) => {
            if h_end - h_start != count {
                return Err(with_help(format!(
                    "the host range {host} and the container range {container} differ in length"
                )));
            }
            (0..=count)
                .map(|i| port(c_start + i, Some((h_start + i).to_string())))
                .collect()
        }
    })
}

fn is_path_like(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

fn check_volume_name(name: &str) -> std::result::Result<(), String> {
    if valid_name(name, false) {
        Ok(())
    } else {
        Err(format!(
            "invalid volume name {name:?}: a named volume uses letters, digits, '_', '.' and '-'; \
             a host path starts with '.', '/' or '~'"
        ))
    }
}

/// A bind source made absolute: `~` is `$HOME`, relative paths start at the
/// project directory.
fn resolve_bind(
    source: &str,
    project_dir: &Path,
    env: &BTreeMap<String, String>,
) -> std::result::Result<String, String> {
    let expanded = if source == "~" || source.starts_with("~/") {
        let home = env
            .get("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("cannot expand '~' in {source:?}: HOME is not set"))?;
        format!("{home}{}", &source[1..])
    } else if source.starts_with('~') {
        return Err(format!(
            "cannot expand {source:?}: only '~' (your home) is supported, not '~user'"
        ));
    } else {
        source.to_string()
    };
    Ok(clean_join(project_dir, Path::new(&expanded))
        .display()
        .to_string())
}

/// Short volume syntax: `SRC:DST[:MODE]` or `DST` (anonymous volume).
/// Returns the mount and the mode options Wharf ignores.
pub(crate) fn parse_volume(
    spec: &str,
    project_dir: &Path,
    env: &BTreeMap<String, String>,
) -> std::result::Result<(Mount, Vec<String>), String> {
    let with_help = |m: String| {
        format!("{m} (in volume {spec:?}; the form is SOURCE:TARGET[:ro|rw], like \"data:/var/lib/data\" or \"./src:/app:ro\")")
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, mode] => (Some(*source), *target, Some(*mode)),
        _ => return Err(with_help("too many ':'".to_string())),
    };
    if !target.starts_with('/') {
        return Err(with_help(format!(
            "the container path {target:?} must be absolute"
        )));
    }
    let mut read_only = false;
    let mut ignored = Vec::new();
    if let Some(mode) = mode {
        for option in mode.split(',') {
            match option {
                "ro" => read_only = true,
                "rw" => read_only = false,
                "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" | "shared"
                | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                    ignored.push(option.to_string())
                }
                other => return Err(with_help(format!("unknown mode {other:?}"))),
            }
        }
    }
    let mount = match source {
        Some("") => return Err(with_help("the source is empty".to_string())),
        Some(src) if is_path_like(src) => Mount {
            kind: MountKind::Bind,
            source: Some(resolve_bind(src, project_dir, env).map_err(with_help)?),
            target: target.to_string(),
            read_only,
            bind: Some(BindOptions {
                create_host_path: true,
            }),
        },
        Some(name) => {
            check_volume_name(name).map_err(with_help)?;
            Mount {
                kind: MountKind::Volume,
                source: Some(name.to_string()),
                target: target.to_string(),
                read_only,
                bind: None,
            }
        }
        None => Mount {
            kind: MountKind::Volume,
            source: None,
            target: target.to_string(),
            read_only,
            bind: None,
        },
    };
    Ok((mount, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(host_ip: Option<&str>, target: u16, published: Option<&str>, protocol: &str) -> Port {
        Port {
            mode: "ingress".to_string(),
            host_ip: host_ip.map(str::to_string),
            target,
            published: published.map(str::to_string),
            protocol: protocol.to_string(),
        }
    }

    #[test]
    fn short_ports() {
        assert_eq!(parse_port("80").unwrap(), [port(None, 80, None, "tcp")]);
        assert_eq!(
            parse_port("8080:80").unwrap(),
            [port(None, 80, Some("8080"), "tcp")]
        );
        assert_eq!(
            parse_port("127.0.0.1:8080:80/udp").unwrap(),
            [port(Some("127.0.0.1"), 80, Some("8080"), "udp")]
        );
        assert_eq!(
            parse_port("127.0.0.1::80").unwrap(),
            [port(Some("127.0.0.1"), 80, None, "tcp")]
        );
        assert_eq!(
            parse_port("[::1]:8080:80").unwrap(),
            [port(Some("::1"), 80, Some("8080"), "tcp")]
        );
        assert_eq!(
            parse_port("9090-9091:8080").unwrap(),
            [port(None, 8080, Some("9090-9091"), "tcp")]
        );
        assert_eq!(
            parse_port("8000-8001:80-81").unwrap(),
            [
                port(None, 80, Some("8000"), "tcp"),
                port(None, 81, Some("8001"), "tcp")
            ]
        );
        assert_eq!(
            parse_port("3000-3001").unwrap(),
            [port(None, 3000, None, "tcp"), port(None, 3001, None, "tcp")]
        );
    }

    #[test]
    fn bad_short_ports() {
        for (spec, why) in [
            ("80/tcpx", "unknown protocol \"tcpx\""),
            ("http:80", "invalid port \"http\""),
            ("8080:0", "invalid port \"0\""),
            ("70000:80", "invalid port \"70000\""),
            ("8000-8002:80-81", "differ in length"),
            ("9-1:80", "the start is after the end"),
            ("300.1.1.1:80:80", "\"300.1.1.1\" is not an IP address"),
            ("[::1:80:80", "unclosed '['"),
        ] {
            let e = parse_port(spec).unwrap_err();
            assert!(e.contains(why), "{spec}: {e}");
            assert!(e.contains(&format!("(in port {spec:?};")), "{e}");
        }
    }

    #[test]
    fn short_volumes() {
        let dir = Path::new("/proj");
        let env: BTreeMap<String, String> = [("HOME".to_string(), "/home/me".to_string())].into();
        let (m, ignored) = parse_volume("pgdata:/var/lib/postgresql/data", dir, &env).unwrap();
        assert_eq!(m.kind, MountKind::Volume);
        assert_eq!(m.source.as_deref(), Some("pgdata"));
        assert_eq!(m.target, "/var/lib/postgresql/data");
        assert!(!m.read_only && ignored.is_empty() && m.bind.is_none());

        let (m, _) = parse_volume("./src:/app:ro", dir, &env).unwrap();
        assert_eq!(m.kind, MountKind::Bind);
        assert_eq!(m.source.as_deref(), Some("/proj/src"));
        assert!(m.read_only);
        assert_eq!(
            m.bind,
            Some(BindOptions {
                create_host_path: true
            })
        );

        let (m, _) = parse_volume("../shared:/shared", dir, &env).unwrap();
        assert_eq!(m.source.as_deref(), Some("/shared"));
        let (m, _) = parse_volume("~/cache:/cache:rw", dir, &env).unwrap();
        assert_eq!(m.source.as_deref(), Some("/home/me/cache"));
        assert!(!m.read_only);
        let (m, _) = parse_volume("/var/run/x.sock:/x.sock", dir, &env).unwrap();
        assert_eq!(m.source.as_deref(), Some("/var/run/x.sock"));

        let (m, _) = parse_volume("/anon", dir, &env).unwrap();
        assert_eq!(
            (m.kind, m.source, m.target.as_str()),
            (MountKind::Volume, None, "/anon")
        );

        let (_, ignored) = parse_volume("./x:/x:ro,z", dir, &env).unwrap();
        assert_eq!(ignored, ["z"]);
    }

    #[test]
    fn bad_short_volumes() {
        let dir = Path::new("/proj");
        let no_home = BTreeMap::new();
        for (spec, why) in [
            (
                "data:relative",
                "the container path \"relative\" must be absolute",
            ),
            ("a:/b:ro:x", "too many ':'"),
            ("data:/d:rox", "unknown mode \"rox\""),
            ("bad name!:/d", "invalid volume name \"bad name!\""),
            ("~/x:/x", "HOME is not set"),
            ("~bob/x:/x", "not '~user'"),
            (":/x", "the source is empty"),
        ] {
            let e = parse_volume(spec, dir, &no_home).unwrap_err();
            assert!(e.contains(why), "{spec}: {e}");
            assert!(e.contains(&format!("(in volume {spec:?};")), "{e}");
        }
    }

    #[test]
    fn restart_policies() {
        let s = |t: &str| Value::String(t.to_string());
        assert_eq!(restart(&s("no"), "r").unwrap(), Restart::No);
        assert_eq!(restart(&Value::Bool(false), "r").unwrap(), Restart::No);
        assert_eq!(restart(&s("always"), "r").unwrap(), Restart::Always);
        assert_eq!(
            restart(&s("on-failure:5"), "r").unwrap(),
            Restart::OnFailure(Some(5))
        );
        assert_eq!(
            restart(&s("unless-stopped"), "r").unwrap(),
            Restart::UnlessStopped
        );
        let e = restart(&s("sometimes"), "services.web.restart").unwrap_err();
        assert_eq!(
            e.to_string(),
            "services.web.restart: unknown restart policy \"sometimes\": use no, always, \
             on-failure[:N] or unless-stopped"
        );
        assert!(restart(&s("on-failure:x"), "r").is_err());
    }

    #[test]
    fn cidrs_and_extra_hosts() {
        assert!(check_cidr("172.28.0.0/16").is_ok());
        assert!(check_cidr("fd00::/64").is_ok());
        assert!(check_cidr("172.28.0.0").is_err());
        assert!(check_cidr("10.0.0.0/33").is_err());
        let v: Value =
            serde_norway::from_str("['db:10.0.0.2', 'v6=::1', 'gw:host-gateway']").unwrap();
        assert_eq!(
            extra_hosts_list(&v, "x").unwrap(),
            ["db:10.0.0.2", "v6:::1", "gw:host-gateway"]
        );
        let v: Value = serde_norway::from_str("{db: 10.0.0.2}").unwrap();
        assert_eq!(extra_hosts_list(&v, "x").unwrap(), ["db:10.0.0.2"]);
        let v: Value = serde_norway::from_str("[nohost]").unwrap();
        assert!(extra_hosts_list(&v, "x").is_err());
    }
}
