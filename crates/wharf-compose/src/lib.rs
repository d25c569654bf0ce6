//! The Compose file model and loader for Wharf: turns `compose.yaml` (and
//! friends) into a validated [`Project`] that `wharf compose` drives the
//! engine from ([`driver`]). The model and loader know nothing of the
//! engine, images or executors; they only read files and apply Compose's
//! rules. The driver is the one module that calls the engine.
//!
//! The rules are Docker Compose's, as its loader (compose-go) applies them:
//!
//! - **Files**: the `-f` files in order; else `COMPOSE_FILE`; else the first
//!   of `compose.yaml`, `compose.yml`, `docker-compose.yml`,
//!   `docker-compose.yaml` in the working directory or the nearest parent
//!   that has one, plus its `compose.override.yml` (or `.yaml`, or the
//!   `docker-compose.override.*` spellings). The project directory is the
//!   first file's directory; relative paths in every file start there.
//! - **Variables**: `.env` in the project directory, overridden by the
//!   process environment, is what `${VAR}`, `$VAR`, `${VAR:-default}`,
//!   `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
//!   `${VAR+alt}` and `$$` see. Every string value of every file is
//!   interpolated before anything is typed, as Compose does.
//! - **Merging**: later files override earlier ones key by key; see
//!   the module `merge` for the per-field rules (environment and labels by
//!   name, ports as a union, volumes by target, `!reset`/`!override`).
//! - **Project name**: `-p`, else `COMPOSE_PROJECT_NAME`, else the top-level
//!   `name:`, else the project directory's name; lowercased, reduced to
//!   `[a-z0-9_-]`, leading `_`/`-` dropped ([`normalize_project_name`]).
//! - **Names in the engine**: containers `<project>-<service>-1` (unless
//!   `container_name`), networks and volumes `<project>_<key>` (unless
//!   `name:` or `external`), the implicit `<project>_default` network that
//!   every service without `networks:` joins, with its service name as a DNS
//!   alias; and the `com.docker.compose.*` labels ([`labels`]).
//! - **Nothing is ignored silently**: keys Wharf does not support, and keys
//!   that are not Compose at all, are [`Project::warnings`]; `x-*` extension
//!   keys are accepted quietly, as the Compose specification says.
//!   Information that is not a problem (a containerd Wasm shim named in
//!   `runtime:` runs on Wharf's Wasm executor) is in [`Project::notes`].
//! - **Errors before anything starts**: YAML syntax (with line and column),
//!   bad values (with their key path, like `services.web.ports[0]`), a
//!   service with neither `image` nor `build`, unknown or cyclic
//!   `depends_on`, undeclared networks and volumes.
//!
//! ```no_run
//! let options = wharf_compose::LoadOptions::from_process()?;
//! let project = wharf_compose::load(&options)?;
//! for warning in &project.warnings {
//!     eprintln!("warning: {warning}");
//! }
//! for name in project.start_order() {
//!     let service = &project.services[name];
//!     println!("{} ({:?})", project.container_name(service), service.kind());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod driver;
mod env;
mod error;
mod files;
mod merge;
mod model;
mod order;
mod parse;
mod units;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_norway::Value;

pub use error::{ComposeError, NameSource, Result};
pub use files::{normalize_project_name, DEFAULT_FILE_NAMES, OVERRIDE_FILE_NAMES};
pub use model::{
    BindOptions, Build, Condition, Dependency, Deploy, HealthTest, Healthcheck, Limits, Mount,
    MountKind, Network, Port, Resources, Restart, Service, ServiceKind, ServiceNetwork, Volume,
};

/// The `com.docker.compose.*` label keys Wharf puts on what it creates, so
/// `docker compose`-aware tools (and `wharf compose ps`) find them.
pub mod labels {
    pub const PROJECT: &str = "com.docker.compose.project";
    pub const SERVICE: &str = "com.docker.compose.service";
    pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    pub const NETWORK: &str = "com.docker.compose.network";
    pub const VOLUME: &str = "com.docker.compose.volume";
}

/// A warning or note about the files, at a key path
/// (`services.web.cgroup_parent`) or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// What to load: the command line's `-f` and `-p`, where it runs, and its
/// environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files in order (relative to `working_dir`); empty: look them up.
    pub files: Vec<PathBuf>,
    /// `-p NAME`.
    pub project_name: Option<String>,
    /// Where relative `-f` paths start and the file lookup begins; relative
    /// is taken from the current directory.
    pub working_dir: PathBuf,
    /// The process environment (it wins over `.env`).
    pub env: BTreeMap<String, String>,
}

impl LoadOptions {
    /// No `-f` or `-p`, the current directory and the process environment
    /// (variables whose name or value is not UTF-8 are left out).
    pub fn from_process() -> std::io::Result<LoadOptions> {
        Ok(LoadOptions {
            files: Vec::new(),
            project_name: None,
            working_dir: std::env::current_dir()?,
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        })
    }
}

/// A loaded, validated Compose project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The normalised project name.
    pub name: String,
    /// The project directory (the first file's directory), absolute.
    pub working_dir: PathBuf,
    /// The files merged, absolute, in order.
    pub config_files: Vec<PathBuf>,
    pub services: BTreeMap<String, Service>,
    /// By key: the declared networks, and `default` when a service uses it.
    pub networks: BTreeMap<String, Network>,
    /// By key: the declared named volumes.
    pub volumes: BTreeMap<String, Volume>,
    /// What in the files is ignored or not supported; show these to the user.
    pub warnings: Vec<Diagnostic>,
    /// Information that is not a problem (how a `runtime:` is honoured).
    pub notes: Vec<Diagnostic>,
}

/// Loads, interpolates, merges, parses and validates a project.
pub fn load(options: &LoadOptions) -> Result<Project> {
    let working_dir = if options.working_dir.is_absolute() {
        options.working_dir.clone()
    } else {
        let cwd = std::env::current_dir().map_err(|source| ComposeError::Read {
            what: "the current directory",
            path: PathBuf::from("."),
            source,
        })?;
        files::clean_join(&cwd, &options.working_dir)
    };
    let mut warnings = Vec::new();
    let config_files =
        files::config_files(&options.files, &working_dir, &options.env, &mut warnings)?;
    let project_dir = config_files[0]
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);

    let env = project_env(&project_dir, &options.env)?;

    let mut merged: Option<Value> = None;
    let mut unset_warned = BTreeSet::new();
    for file in &config_files {
        let mut value = read_compose_file(file)?;
        interpolate_tree(&mut value, "", file, &env, &mut unset_warned, &mut warnings)?;
        merged = Some(match merged {
            None => merge::strip_tags(value, "")?.unwrap_or(Value::Null),
            Some(base) => merge::merge_files(base, value)?,
        });
    }
    let merged = merged.expect("config_files is never empty");

    let mut parser = parse::Parser {
        project_dir: &project_dir,
        env: &env,
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let parsed = parser.project(&merged)?;
    warnings.append(&mut parser.warnings);
    let notes = parser.notes;

    let name = files::project_name(
        options.project_name.as_deref(),
        &env,
        parsed.name.as_deref(),
        &project_dir,
    )?;
    if parsed.services.is_empty() {
        return Err(ComposeError::NoServices {
            files: config_files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }

    let mut networks: BTreeMap<String, Network> = parsed
        .networks
        .into_iter()
        .map(|(key, def)| {
            let name = resolved_name(&name, &key, def.name, def.external);
            let network = Network {
                name,
                driver: def.driver,
                external: def.external,
                internal: def.internal,
                subnets: def.subnets,
                labels: def.labels,
            };
            (key, network)
        })
        .collect();
    let default_used = parsed
        .services
        .values()
        .any(|s| s.networks.contains_key("default"));
    if default_used && !networks.contains_key("default") {
        networks.insert(
            "default".to_string(),
            Network {
                name: format!("{name}_default"),
                driver: None,
                external: false,
                internal: false,
                subnets: Vec::new(),
                labels: BTreeMap::new(),
            },
        );
    }
    let volumes = parsed
        .volumes
        .into_iter()
        .map(|(key, def)| {
            let volume = Volume {
                name: resolved_name(&name, &key, def.name, def.external),
                driver: def.driver,
                external: def.external,
                labels: def.labels,
            };
            (key, volume)
        })
        .collect();

    let mut project = Project {
        name,
        working_dir: project_dir,
        config_files,
        services: parsed.services,
        networks,
        volumes,
        warnings,
        notes,
    };
    validate(&mut project)?;
    Ok(project)
}

/// `<project>_<key>` unless the file gave a `name:` or it is external (then
/// the key is the engine's name, as Compose has it).
fn resolved_name(project: &str, key: &str, name: Option<String>, external: bool) -> String {
    match name {
        Some(name) => name,
        None if external => key.to_string(),
        None => format!("{project}_{key}"),
    }
}

/// `.env` from the project directory (interpolated against the process
/// environment), with the process environment on top.
fn project_env(
    project_dir: &Path,
    process: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let dotenv = project_dir.join(".env");
    let mut env = if dotenv.is_file() {
        let text = std::fs::read_to_string(&dotenv).map_err(|source| ComposeError::Read {
            what: "the .env file",
            path: dotenv.clone(),
            source,
        })?;
        env::parse_env_file(&text, &dotenv, &|k| process.get(k).cloned())?
    } else {
        BTreeMap::new()
    };
    env.extend(process.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

fn read_compose_file(file: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(file).map_err(|source| ComposeError::Read {
        what: "Compose file",
        path: file.to_path_buf(),
        source,
    })?;
    let mut value: Value = serde_norway::from_str(&text).map_err(|e| yaml_error(file, &e))?;
    if value.is_null() {
        return Err(ComposeError::File {
            file: file.to_path_buf(),
            message: "the file is empty; a Compose file needs at least a `services:` section"
                .to_string(),
        });
    }
    value.apply_merge().map_err(|e| yaml_error(file, &e))?;
    if !value.is_mapping() {
        return Err(ComposeError::File {
            file: file.to_path_buf(),
            message: "the top level must be a mapping of sections (`services:`, `networks:`, \
                      `volumes:`)"
                .to_string(),
        });
    }
    Ok(value)
}

fn yaml_error(file: &Path, error: &serde_norway::Error) -> ComposeError {
    let text = error.to_string();
    match error.location() {
        Some(at) => {
            // The library appends the location to its message; it is
            // reported in our own words instead.
            let suffix = format!(" at line {} column {}", at.line(), at.column());
            let message = match text.find(&suffix) {
                Some(pos) => format!("{}{}", &text[..pos], &text[pos + suffix.len()..]),
                None => text,
            };
            ComposeError::Syntax {
                file: file.to_path_buf(),
                line: at.line(),
                column: at.column(),
                message,
            }
        }
        None => ComposeError::File {
            file: file.to_path_buf(),
            message: text,
        },
    }
}

/// Interpolates every string value (keys are left alone, as in Compose),
/// warning once per variable that is not set.
fn interpolate_tree(
    value: &mut Value,
    path: &str,
    file: &Path,
    env: &BTreeMap<String, String>,
    unset_warned: &mut BTreeSet<String>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<()> {
    match value {
        Value::String(s) => {
            if !s.contains('$') {
                return Ok(());
            }
            let result = env::interpolate(s, &|k| env.get(k).cloned()).map_err(|message| {
                ComposeError::Interpolation {
                    file: file.to_path_buf(),
                    path: path.to_string(),
                    message,
                }
            })?;
            for var in result.unset {
                if unset_warned.insert(var.clone()) {
                    warnings.push(Diagnostic {
                        path: path.to_string(),
                        message: format!(
                            "variable {var:?} is not set, substituting an empty string"
                        ),
                    });
                }
            }
            *s = result.value;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(
                    item,
                    &format!("{path}[{i}]"),
                    file,
                    env,
                    unset_warned,
                    warnings,
                )?;
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = match key {
                    Value::String(k) => k.clone(),
                    other => serde_norway::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                interpolate_tree(item, &child, file, env, unset_warned, warnings)?;
            }
        }
        Value::Tagged(tagged) => {
            interpolate_tree(&mut tagged.value, path, file, env, unset_warned, warnings)?
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// The checks that need the whole project: images, references between
/// services, networks and volumes, and dependency cycles.
fn validate(project: &mut Project) -> Result<()> {
    let names: BTreeSet<String> = project.services.keys().cloned().collect();
    for service in project.services.values_mut() {
        if service.image.is_none() && service.build.is_none() {
            return Err(ComposeError::NoImage {
                service: service.name.clone(),
            });
        }
        for network in service.networks.keys() {
            if !project.networks.contains_key(network) {
                return Err(ComposeError::UndefinedNetwork {
                    service: service.name.clone(),
                    network: network.clone(),
                });
            }
        }
        for mount in &service.volumes {
            if let (MountKind::Volume, Some(volume)) = (mount.kind, &mount.source) {
                if !project.volumes.contains_key(volume) {
                    return Err(ComposeError::UndefinedVolume {
                        service: service.name.clone(),
                        volume: volume.clone(),
                    });
                }
            }
        }
        let mut dropped = Vec::new();
        for (dep, dependency) in &service.depends_on {
            if names.contains(dep) {
                continue;
            }
            if dependency.required {
                return Err(ComposeError::UnknownDependency {
                    service: service.name.clone(),
                    dependency: dep.clone(),
                });
            }
            dropped.push(dep.clone());
        }
        for dep in dropped {
            service.depends_on.remove(&dep);
            project.warnings.push(Diagnostic {
                path: format!("services.{}.depends_on.{dep}", service.name),
                message: "no such service; the optional dependency (required: false) is skipped"
                    .to_string(),
            });
        }
    }
    order::check_cycles(&project.services)
}

impl Project {
    /// The container's name: `container_name`, else `<project>-<service>-1`.
    pub fn container_name(&self, service: &Service) -> String {
        service
            .container_name
            .clone()
            .unwrap_or_else(|| format!("{}-{}-1", self.name, service.name))
    }

    /// The labels a service's container gets: the service's own `labels`,
    /// then Compose's (which win): project, service, container number,
    /// oneoff, project directory and config files.
    pub fn container_labels(&self, service: &Service) -> BTreeMap<String, String> {
        let mut out = service.labels.clone();
        let files: Vec<String> = self
            .config_files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        for (key, value) in [
            (labels::PROJECT, self.name.clone()),
            (labels::SERVICE, service.name.clone()),
            (labels::CONTAINER_NUMBER, "1".to_string()),
            (labels::ONEOFF, "False".to_string()),
            (labels::WORKING_DIR, self.working_dir.display().to_string()),
            (labels::CONFIG_FILES, files.join(",")),
        ] {
            out.insert(key.to_string(), value);
        }
        out
    }

    /// Labels for the network with this key: its own, then project and key.
    pub fn network_labels(&self, key: &str) -> BTreeMap<String, String> {
        let mut out = self
            .networks
            .get(key)
            .map(|n| n.labels.clone())
            .unwrap_or_default();
        out.insert(labels::PROJECT.to_string(), self.name.clone());
        out.insert(labels::NETWORK.to_string(), key.to_string());
        out
    }

    /// Labels for the named volume with this key: its own, then project and key.
    pub fn volume_labels(&self, key: &str) -> BTreeMap<String, String> {
        let mut out = self
            .volumes
            .get(key)
            .map(|v| v.labels.clone())
            .unwrap_or_default();
        out.insert(labels::PROJECT.to_string(), self.name.clone());
        out.insert(labels::VOLUME.to_string(), key.to_string());
        out
    }

    /// The DNS names a service has on one of its networks: its service name,
    /// then the file's `aliases` (Compose adds the service name itself).
    pub fn network_aliases(&self, service: &Service, network: &str) -> Vec<String> {
        let mut out = vec![service.name.clone()];
        if let Some(attachment) = service.networks.get(network) {
            for alias in &attachment.aliases {
                if !out.contains(alias) {
                    out.push(alias.clone());
                }
            }
        }
        out
    }

    /// Every service, each after the ones it depends on; ties by name.
    pub fn start_order(&self) -> Vec<&str> {
        order::start_order(&self.services)
    }

    /// [`Project::start_order`] reversed: dependents stop first.
    pub fn stop_order(&self) -> Vec<&str> {
        let mut order = self.start_order();
        order.reverse();
        order
    }

    /// For `up SERVICE...`: the named services and everything they depend
    /// on, in start order. No names selects every service.
    pub fn select<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<&str>> {
        if names.is_empty() {
            return Ok(self.start_order());
        }
        let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        let wanted = order::with_dependencies(&self.services, &names)?;
        Ok(self
            .start_order()
            .into_iter()
            .filter(|name| wanted.contains(name))
            .collect())
    }

    /// The resolved project as YAML, in the shape `docker compose config`
    /// prints: name first, long-form ports and volumes, environment as a
    /// map, absolute paths, resolved network and volume names.
    pub fn to_config_yaml(&self) -> String {
        #[derive(Serialize)]
        struct Config<'a> {
            name: &'a str,
            services: &'a BTreeMap<String, Service>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            networks: &'a BTreeMap<String, Network>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            volumes: &'a BTreeMap<String, Volume>,
        }
        serde_norway::to_string(&Config {
            name: &self.name,
            services: &self.services,
            networks: &self.networks,
            volumes: &self.volumes,
        })
        .expect("the model serialises: string keys and plain values only")
    }
}

#[cfg(test)]
mod tests;
