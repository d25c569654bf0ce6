//! `wharf compose`: a loaded [`Project`] driven through the engine's public
//! API, the calls `wharf run`, `stop`, `rm`, `ps`, `logs`, `exec`, `build`,
//! `pull`, `network` and `volume` make. There is no daemon: every command
//! finds the project's containers again by their labels
//! (`com.docker.compose.project`, `.service`), and a container's
//! `com.docker.compose.config-hash` label tells whether it still matches
//! the file.
//!
//! - `up`: images (built when the service has `build` and the image is
//!   missing or `--build`; pulled when missing and the name has a
//!   registry), then networks (`<project>_default` and the declared ones,
//!   subnets chosen by the engine unless the file gives one) and named
//!   volumes, then each service in dependency order: its `depends_on`
//!   conditions are waited for, and its container is left alone when it
//!   runs with the same configuration and image, else (re)created, detached.
//!   Attached (no `-d`), the containers' logs are then followed with
//!   `service-1  | ` prefixes until they all end or Ctrl-C, which stops them.
//! - `service_healthy` probes the dependency's healthcheck from here (see
//!   the `health` module: exec for Linux containers, an HTTP GET for Wasm).
//! - `restart:` is not applied: no process outlives a container to restart
//!   it. `up` says so, and recreates exited containers when run again.

mod health;
mod output;
pub mod plan;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wharf_engine::images::BuildOptions;
use wharf_engine::registry::RegistryOptions;
use wharf_engine::{
    Container, ContainerFilter, ContainerSummary, Engine, ExecOptions, Platform, RunResult,
};

use crate::{labels, ComposeError, Condition, Project, Service};
pub use output::{catch_interrupts, interrupted};
use plan::{Plan, CONFIG_HASH};

/// Why a `wharf compose` command failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Engine(#[from] wharf_engine::Error),
    #[error(transparent)]
    Load(#[from] ComposeError),
    #[error(
        "service {service:?} depends on {dependency:?} {condition}, but {reason}; \
         see `wharf compose logs {dependency}`"
    )]
    Dependency {
        service: String,
        dependency: String,
        condition: &'static str,
        reason: String,
    },
    #[error("service {service:?} has no container; create it with `wharf compose up {service}`")]
    NoContainer { service: String },
    #[error("service {service:?} is not running; start it with `wharf compose up {service}`")]
    NotRunning { service: String },
    #[error(
        "image {image} of service {service:?} is not in the store: pull it (wharf pull \
         {image}), load it, or give the service a `build:` section"
    )]
    NoImage { service: String, image: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = DriverError> = std::result::Result<T, E>;

/// `up`'s flags.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Only these services (and what they depend on); empty: all.
    pub services: Vec<String>,
    /// `-d`: return once everything is started.
    pub detach: bool,
    /// `--build`: build services with `build:` even when their image exists.
    pub build: bool,
}

/// `down`'s flags.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// `-v`: also the named volumes the file declares (not external ones)
    /// and the anonymous volumes made for its services.
    pub volumes: bool,
    /// `--remove-orphans`: also containers of services no longer in the file.
    pub remove_orphans: bool,
}

/// `logs`'s flags.
#[derive(Debug, Clone)]
pub struct LogOptions {
    pub follow: bool,
    pub timestamps: bool,
    /// `service-1  | ` before each line (`--no-log-prefix` turns it off).
    pub prefix: bool,
}

/// One row of `compose ps`.
pub struct ServiceContainer {
    pub service: String,
    pub container: ContainerSummary,
}

/// A project and the engine it runs on.
pub struct Compose<'a> {
    engine: &'a Engine,
    project: &'a Project,
}

/// How `converge` treats a service's existing container.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Keep it when it runs with the same configuration; else recreate.
    Up,
    /// Keep it when it runs; recreate it when it has ended (the engine
    /// cannot start an ended container again); refuse when there is none.
    Start,
}

impl<'a> Compose<'a> {
    pub fn new(engine: &'a Engine, project: &'a Project) -> Compose<'a> {
        Compose { engine, project }
    }

    pub fn project(&self) -> &Project {
        self.project
    }

    /// `up`: returns the exit code (130 when an attached `up` was stopped by Ctrl-C).
    pub fn up(&self, opts: &UpOptions) -> Result<i32> {
        let selected = self.project.select(&opts.services)?;
        self.warn_not_applied(&selected);
        self.warn_orphans()?;
        for name in &selected {
            self.ensure_image(&self.project.services[*name], opts.build)?;
        }
        self.ensure_networks(&selected)?;
        self.ensure_volumes(&selected)?;
        if !opts.detach {
            catch_interrupts().map_err(|source| DriverError::Io {
                context: "catching Ctrl-C".into(),
                source,
            })?;
        }
        match self.start_services(&selected, Mode::Up) {
            Ok(()) if opts.detach => Ok(0),
            Ok(()) => self.attach(&selected),
            Err(DriverError::Interrupted) => {
                self.stop_services(&selected)?;
                Ok(130)
            }
            Err(e) => Err(e),
        }
    }

    /// `start`: the services' containers running again; an ended one is
    /// recreated from the file (the engine starts a container only once).
    pub fn start(&self, services: &[String]) -> Result<()> {
        let selected = self.named_or_all(services)?;
        self.start_services(&selected, Mode::Start)
    }

    /// `stop`: dependents first.
    pub fn stop(&self, services: &[String]) -> Result<()> {
        let selected = self.named_or_all(services)?;
        self.stop_services(&selected)
    }

    /// `restart`: stop, then start (which recreates the stopped containers).
    pub fn restart(&self, services: &[String]) -> Result<()> {
        let selected = self.named_or_all(services)?;
        self.stop_services(&selected)?;
        self.start_services(&selected, Mode::Start)
    }

    /// `down`: the project's containers stopped and removed (dependents
    /// first), then its networks, and with `-v` its volumes.
    pub fn down(&self, opts: &DownOptions) -> Result<()> {
        let services = self.project.start_order();
        self.stop_services(&services)?;
        let order: Vec<&str> = self.project.stop_order();
        let mut containers = self.project_containers()?;
        containers.sort_by_key(|c| {
            let service = service_of(c).unwrap_or_default();
            order
                .iter()
                .position(|s| *s == service)
                .unwrap_or(usize::MAX)
        });
        let mut orphans = Vec::new();
        for c in containers {
            let service = service_of(&c).and_then(|s| self.project.services.get(s));
            if service.is_none() && !opts.remove_orphans {
                orphans.push(c.state.name.clone());
                continue;
            }
            self.stop_container(&c, service)?;
            self.engine.remove(c.id(), true)?;
            event("Container", &c.state.name, "Removed");
        }
        if !orphans.is_empty() {
            eprintln!(
                "warning: found containers of services no longer in the file ({}): remove them \
                 with `wharf compose down --remove-orphans`",
                orphans.join(", ")
            );
        }
        let mut failed = Vec::new();
        for network in self.project.networks.values().filter(|n| !n.external) {
            if self.engine.network_inspect(&network.name).is_err() {
                continue;
            }
            match self.engine.network_remove(&network.name) {
                Ok(()) => event("Network", &network.name, "Removed"),
                Err(e) => failed.push(format!("network {}: {e}", network.name)),
            }
        }
        if opts.volumes {
            let mut names: Vec<String> = self
                .project
                .volumes
                .values()
                .filter(|v| !v.external)
                .map(|v| v.name.clone())
                .collect();
            for v in self.engine.volume_list()? {
                let ours = v.labels.get(labels::PROJECT) == Some(&self.project.name);
                if ours && v.labels.contains_key(plan::ANONYMOUS_VOLUME) {
                    names.push(v.name);
                }
            }
            for name in names {
                if self.engine.volume(&name).is_err() {
                    continue;
                }
                match self.engine.volume_remove(&name, false) {
                    Ok(()) => event("Volume", &name, "Removed"),
                    Err(e) => failed.push(format!("volume {name}: {e}")),
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(DriverError::Invalid(format!(
                "could not remove {}",
                failed.join("; ")
            )))
        }
    }

    /// `ps`: the project's containers (running ones, or all), by name.
    pub fn ps(&self, all: bool) -> Result<Vec<ServiceContainer>> {
        let filters = [ContainerFilter::label(labels::PROJECT, &self.project.name)];
        let mut rows: Vec<ServiceContainer> = self
            .engine
            .ps(all, &filters)?
            .into_iter()
            .map(|c| ServiceContainer {
                service: c.labels.get(labels::SERVICE).cloned().unwrap_or_default(),
                container: c,
            })
            .collect();
        rows.sort_by(|a, b| a.container.name.cmp(&b.container.name));
        Ok(rows)
    }

    /// `logs`: the services' containers' logs (all services when none are
    /// named) to `out`, stdout and stderr alike, each line prefixed with
    /// the container's short name. Following, they are read at once until
    /// every container has ended.
    pub fn logs<W: Write + Send>(
        &self,
        services: &[String],
        opts: &LogOptions,
        out: &Mutex<W>,
    ) -> Result<()> {
        let selected = self.named_or_all(services)?;
        let containers = self.containers_of(&selected)?;
        self.print_logs(&containers, opts, out, false);
        Ok(())
    }

    /// `exec`: `opts` run in the service's running container (its
    /// `container` field is filled in here).
    pub fn exec(&self, service: &str, mut opts: ExecOptions) -> Result<i32> {
        self.project.select(&[service])?;
        let running = self
            .containers_of(&[service])?
            .into_iter()
            .find(Container::is_running)
            .ok_or_else(|| DriverError::NotRunning {
                service: service.to_string(),
            })?;
        opts.container = running.state.id;
        Ok(self.engine.exec(&opts)?)
    }

    /// `build`: every named service (all when none) that has `build:`;
    /// the builder's output goes to `out`.
    pub fn build(&self, services: &[String], out: &mut dyn Write) -> Result<()> {
        for name in self.named_or_all(services)? {
            let service = &self.project.services[name];
            match &service.build {
                Some(_) => self.build_service(service, out)?,
                None if !services.is_empty() => eprintln!(
                    "service {name:?} has no build section; nothing to build (it runs {})",
                    plan::image_name(self.project, service)
                ),
                None => {}
            }
        }
        Ok(())
    }

    /// `pull`: the image of every named service (all when none), except
    /// those built from the file.
    pub fn pull(&self, services: &[String]) -> Result<()> {
        for name in self.named_or_all(services)? {
            let service = &self.project.services[name];
            let image = plan::image_name(self.project, service);
            if service.build.is_some() {
                event(
                    "Image",
                    &image,
                    "Skipped (built from the file: wharf compose build)",
                );
                continue;
            }
            self.pull_image(service, &image)?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- up/start

    fn start_services(&self, selected: &[&str], mode: Mode) -> Result<()> {
        let mut healthy = BTreeSet::new();
        for name in selected {
            if interrupted() {
                return Err(DriverError::Interrupted);
            }
            let service = &self.project.services[*name];
            self.wait_dependencies(service, &mut healthy)?;
            self.converge(service, mode)?;
        }
        Ok(())
    }

    /// Makes the service's container the one the file describes, running.
    fn converge(&self, service: &Service, mode: Mode) -> Result<()> {
        let plan = plan::plan(self.project, service);
        let name = plan.run.name.clone().unwrap_or_default();
        let image_id = self.image_id(&plan);
        let existing = self.containers_of(&[service.name.as_str()])?;
        if mode == Mode::Start && existing.is_empty() {
            return Err(DriverError::NoContainer {
                service: service.name.clone(),
            });
        }
        let mut kept = false;
        let mut recreated = false;
        for c in existing {
            let fresh = c.state.labels.get(CONFIG_HASH) == Some(&plan.hash)
                && image_id.as_deref().is_none_or(|id| id == c.state.image_id)
                && c.state.name == name;
            let keep = !kept
                && c.is_running()
                && match mode {
                    Mode::Up => fresh,
                    Mode::Start => true,
                };
            if keep {
                kept = true;
                event("Container", &c.state.name, "Running");
                continue;
            }
            self.stop_container(&c, Some(service))?;
            self.engine.remove(c.id(), true)?;
            recreated = true;
        }
        if kept {
            return Ok(());
        }
        self.create(service, &plan)?;
        event(
            "Container",
            &name,
            if recreated {
                "Recreated, Started"
            } else {
                "Started"
            },
        );
        Ok(())
    }

    /// Runs the service's container detached, with what it needs made first.
    fn create(&self, service: &Service, plan: &Plan) -> Result<()> {
        for dir in &plan.create_host_paths {
            std::fs::create_dir_all(dir).map_err(|source| DriverError::Io {
                context: format!(
                    "creating {dir} for a bind mount of service {:?}",
                    service.name
                ),
                source,
            })?;
        }
        for (name, labels) in &plan.anonymous_volumes {
            self.engine.volume_create(Some(name), labels)?;
        }
        let RunResult::Detached(id) = self.engine.run(&plan.run)? else {
            return Ok(()); // run was asked to detach; it always does
        };
        if !plan.linux_only.is_empty() {
            let wasm = self
                .engine
                .container(&id)
                .is_ok_and(|c| c.state.kind == "wasm");
            if wasm {
                eprintln!(
                    "warning: service {:?} runs as a Wasm container; {} only apply to Linux \
                     containers (a Wasm guest has no users, capabilities or processes) and are ignored",
                    service.name,
                    plan.linux_only.join(", ")
                );
            }
        }
        Ok(())
    }

    /// Waits until each of the service's dependencies meets its condition.
    fn wait_dependencies(&self, service: &Service, healthy: &mut BTreeSet<String>) -> Result<()> {
        for (dep, dependency) in &service.depends_on {
            let Some(dep_service) = self.project.services.get(dep) else {
                continue; // an optional dependency the loader dropped
            };
            let failed = |condition: &'static str, reason: String| DriverError::Dependency {
                service: service.name.clone(),
                dependency: dep.clone(),
                condition,
                reason,
            };
            let container = || -> Result<Container> {
                self.containers_of(&[dep.as_str()])?
                    .into_iter()
                    .next()
                    .ok_or_else(|| DriverError::NoContainer {
                        service: dep.clone(),
                    })
            };
            match dependency.condition {
                Condition::ServiceStarted => {
                    container()?;
                }
                Condition::ServiceCompletedSuccessfully => {
                    const HOW: &str = "completing successfully";
                    let c = container()?;
                    let code = self.wait_exit(&c)?;
                    if code != 0 {
                        return Err(failed(HOW, format!("it exited with code {code}")));
                    }
                    event("Container", &c.state.name, "Exited (0)");
                }
                Condition::ServiceHealthy => {
                    const HOW: &str = "being healthy";
                    if healthy.contains(dep) {
                        continue;
                    }
                    let c = container()?;
                    let wasm = c.state.kind == "wasm";
                    let probe = health::probe_for(dep_service.healthcheck.as_ref(), wasm)
                        .map_err(|why| failed(HOW, why))?;
                    let timing = dep_service
                        .healthcheck
                        .as_ref()
                        .map(health::timing_of)
                        .expect("probe_for needs a healthcheck");
                    event("Container", &c.state.name, "Waiting");
                    let target = health::Target {
                        root: self.engine.root().to_path_buf(),
                        engine: self.engine,
                        id: c.state.id.clone(),
                        address: self.address(&c),
                    };
                    match health::wait_healthy(&target, &probe, timing) {
                        health::Outcome::Healthy => {
                            event("Container", &c.state.name, "Healthy");
                            healthy.insert(dep.clone());
                        }
                        health::Outcome::Unhealthy { failures, last } => {
                            return Err(failed(
                                HOW,
                                format!(
                                    "it is unhealthy: {failures} check(s) in a row failed, the last: {last}"
                                ),
                            ))
                        }
                        health::Outcome::Exited(code) => {
                            return Err(failed(
                                HOW,
                                format!("it exited (code {code}) before it became healthy"),
                            ))
                        }
                        health::Outcome::Interrupted => return Err(DriverError::Interrupted),
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits for a container to end; its exit code.
    fn wait_exit(&self, c: &Container) -> Result<i32> {
        loop {
            let now = self.engine.container(c.id())?;
            if !now.is_running() && now.state.status != wharf_engine::Status::Created {
                return Ok(now.state.exit_code);
            }
            if interrupted() {
                return Err(DriverError::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The container's address on its first network.
    fn address(&self, c: &Container) -> Option<std::net::Ipv4Addr> {
        self.engine.inspect_container(c)["NetworkSettings"]["IPAddress"]
            .as_str()?
            .parse()
            .ok()
    }

    /// Follows the containers' logs until they all end; Ctrl-C stops them.
    fn attach(&self, selected: &[&str]) -> Result<i32> {
        let containers = self.containers_of(selected)?;
        let opts = LogOptions {
            follow: true,
            timestamps: false,
            prefix: true,
        };
        let out = Mutex::new(std::io::stdout());
        let stopped = self.print_logs(&containers, &opts, &out, true);
        Ok(if stopped { 130 } else { 0 })
    }

    /// Prints the containers' logs; following, at once until all end. With
    /// `stop_on_interrupt` (an attached `up`), Ctrl-C stops the containers;
    /// says whether it did.
    fn print_logs<W: Write + Send>(
        &self,
        containers: &[Container],
        opts: &LogOptions,
        out: &Mutex<W>,
        stop_on_interrupt: bool,
    ) -> bool {
        let names: Vec<String> = containers.iter().map(|c| self.log_name(c)).collect();
        let width = names.iter().map(String::len).max().unwrap_or(0) + 1;
        let prefix = |name: &str| {
            if opts.prefix {
                output::log_prefix(name, width)
            } else {
                String::new()
            }
        };
        let print = |c: &Container, name: &str| {
            let mut lines = output::Prefixed::new(prefix(name), out);
            let mut err_lines = output::Prefixed::new(prefix(name), out);
            let log_options = wharf_engine::LogOptions {
                follow: opts.follow,
                timestamps: opts.timestamps,
                ..Default::default()
            };
            if let Err(e) = self
                .engine
                .logs(c.id(), &log_options, &mut lines, &mut err_lines)
            {
                eprintln!("Error: logs of {name}: {e}");
            }
        };
        if !opts.follow {
            for (c, name) in containers.iter().zip(&names) {
                print(c, name);
            }
            return false;
        }
        let mut stopped = false;
        std::thread::scope(|scope| {
            let followers: Vec<_> = containers
                .iter()
                .zip(&names)
                .map(|(c, name)| {
                    scope.spawn(move || {
                        print(c, name);
                        if let Ok(now) = self.engine.container(c.id()) {
                            if !now.is_running() && stop_on_interrupt {
                                let mut sink = out.lock().unwrap_or_else(|e| e.into_inner());
                                let _ = writeln!(
                                    sink,
                                    "{name} exited with code {}",
                                    now.state.exit_code
                                );
                            }
                        }
                    })
                })
                .collect();
            while !followers.iter().all(|f| f.is_finished()) {
                if stop_on_interrupt && interrupted() && !stopped {
                    stopped = true;
                    eprintln!("Gracefully stopping...");
                    let services: Vec<&str> = containers.iter().filter_map(service_of).collect();
                    if let Err(e) = self.stop_services(&services) {
                        eprintln!("Error: {e}");
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        stopped
    }

    /// `web-1` for a container with Compose's name, else its own name.
    fn log_name(&self, c: &Container) -> String {
        let service = service_of(c).unwrap_or_default();
        let number = c
            .state
            .labels
            .get(labels::CONTAINER_NUMBER)
            .map_or("1", String::as_str);
        if c.state.name == format!("{}-{service}-{number}", self.project.name) {
            format!("{service}-{number}")
        } else {
            c.state.name.clone()
        }
    }

    // ------------------------------------------------------------------ stop

    /// Stops the services' running containers, each once everything that
    /// depends on it has stopped; those that do not wait on each other
    /// stop at once (a container ignoring SIGTERM holds only its own
    /// dependencies back for its grace period).
    fn stop_services(&self, selected: &[&str]) -> Result<()> {
        let mut remaining: Vec<&str> = self
            .project
            .stop_order()
            .into_iter()
            .filter(|s| selected.contains(s))
            .collect();
        while !remaining.is_empty() {
            let (ready, waiting): (Vec<&str>, Vec<&str>) = remaining.iter().partition(|service| {
                !remaining.iter().any(|other| {
                    self.project.services[*other]
                        .depends_on
                        .contains_key(**service)
                })
            });
            let results: Vec<Result<()>> = std::thread::scope(|scope| {
                let stopping: Vec<_> = ready
                    .iter()
                    .map(|name| scope.spawn(move || self.stop_service(name)))
                    .collect();
                stopping
                    .into_iter()
                    .map(|s| {
                        s.join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })
                    .collect()
            });
            results.into_iter().collect::<Result<Vec<()>>>()?;
            remaining = waiting;
        }
        Ok(())
    }

    fn stop_service(&self, name: &str) -> Result<()> {
        let service = &self.project.services[name];
        for c in self.containers_of(&[name])? {
            if c.is_running() {
                self.stop_container(&c, Some(service))?;
                event("Container", &c.state.name, "Stopped");
            }
        }
        Ok(())
    }

    /// Stops with the service's `stop_signal` (default SIGTERM) and kills
    /// after its `stop_grace_period` (default 10s).
    fn stop_container(&self, c: &Container, service: Option<&Service>) -> Result<()> {
        if !c.is_running() {
            return Ok(());
        }
        let grace = service
            .and_then(|s| s.stop_grace_period)
            .unwrap_or(Duration::from_secs(10));
        let signal = service.and_then(|s| s.stop_signal.as_deref());
        let sigterm = signal.is_none_or(|s| {
            let s = s.trim_start_matches("SIG").trim_start_matches("sig");
            s.eq_ignore_ascii_case("TERM") || s == "15"
        });
        if sigterm {
            self.engine.stop(c.id(), Some(grace))?;
            return Ok(());
        }
        self.engine.kill(c.id(), signal.unwrap_or("TERM"))?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.engine.container(c.id())?.is_running() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        match self.engine.kill(c.id(), "KILL") {
            Ok(()) | Err(wharf_engine::Error::Conflict(_)) => Ok(()), // ended meanwhile
            Err(e) => Err(e.into()),
        }
    }

    // ------------------------------------------------------ images, networks, volumes

    fn ensure_image(&self, service: &Service, force_build: bool) -> Result<()> {
        let image = plan::image_name(self.project, service);
        let present = self.resolve(service, &image).is_some();
        if service.build.is_some() {
            if force_build || !present {
                self.build_service(service, &mut std::io::stderr())?;
            }
            return Ok(());
        }
        if present {
            return Ok(());
        }
        if wharf_engine::registry::names_registry(&image) {
            return self.pull_image(service, &image);
        }
        Err(DriverError::NoImage {
            service: service.name.clone(),
            image,
        })
    }

    fn build_service(&self, service: &Service, out: &mut dyn Write) -> Result<()> {
        let Some(build) = &service.build else {
            return Ok(());
        };
        if build.context.contains("://") || build.context.starts_with("git@") {
            return Err(DriverError::Invalid(format!(
                "service {:?} builds from the remote context {}, which Wharf cannot fetch; \
                 clone it and give the directory as build.context",
                service.name, build.context
            )));
        }
        let image = plan::image_name(self.project, service);
        let context = PathBuf::from(&build.context);
        let opts = BuildOptions {
            dockerfile: Some(context.join(&build.dockerfile)),
            context,
            build_args: build
                .args
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            platform: self.platform(service)?,
            quiet: false,
            target: build.target.clone(),
            no_cache: false,
        };
        event("Service", &service.name, "Building");
        self.engine
            .build(&opts, std::slice::from_ref(&image), out)?;
        event("Image", &image, "Built");
        Ok(())
    }

    fn pull_image(&self, service: &Service, image: &str) -> Result<()> {
        event("Image", image, "Pulling");
        let pulled = self.engine.pull(
            image,
            self.platform(service)?.as_ref(),
            false,
            &RegistryOptions::default(),
        )?;
        event("Image", image, &format!("Pulled ({})", pulled.digest));
        Ok(())
    }

    fn platform(&self, service: &Service) -> Result<Option<Platform>> {
        Ok(plan::platform(service)
            .map(|p| p.parse::<Platform>())
            .transpose()
            .map_err(wharf_engine::Error::from)?)
    }

    /// The image the service would run, if the store has it.
    fn resolve(&self, service: &Service, image: &str) -> Option<String> {
        let platform = self.platform(service).ok()?;
        let found = self.engine.store().resolve(image, platform.as_ref()).ok()?;
        Some(found.id())
    }

    fn image_id(&self, plan: &Plan) -> Option<String> {
        let platform = plan
            .run
            .platform
            .as_deref()
            .and_then(|p| p.parse::<Platform>().ok());
        let found = self
            .engine
            .store()
            .resolve(&plan.run.image, platform.as_ref())
            .ok()?;
        Some(found.id())
    }

    /// The networks the selected services join: made when missing (a
    /// subnet from the file, else the engine's next free one); external
    /// ones must exist.
    fn ensure_networks(&self, selected: &[&str]) -> Result<()> {
        let keys: BTreeSet<&str> = selected
            .iter()
            .flat_map(|s| self.project.services[*s].networks.keys())
            .map(String::as_str)
            .collect();
        for key in keys {
            let Some(network) = self.project.networks.get(key) else {
                continue;
            };
            if self.engine.network_inspect(&network.name).is_ok() {
                continue;
            }
            if network.external {
                return Err(DriverError::Invalid(format!(
                    "network {} is declared external but does not exist; create it with \
                     `wharf network create {}`",
                    network.name, network.name
                )));
            }
            if network.subnets.len() > 1 {
                eprintln!(
                    "warning: networks.{key}: Wharf gives a network one subnet; using {}",
                    network.subnets[0]
                );
            }
            self.engine.network_create(
                &network.name,
                network.subnets.first().map(String::as_str),
                None,
                network.internal,
            )?;
            event("Network", &network.name, "Created");
        }
        Ok(())
    }

    /// The named volumes the selected services mount: made when missing,
    /// with the project's labels; external ones must exist.
    fn ensure_volumes(&self, selected: &[&str]) -> Result<()> {
        let keys: BTreeSet<&str> = selected
            .iter()
            .flat_map(|s| self.project.services[*s].volumes.iter())
            .filter(|m| m.kind == crate::MountKind::Volume)
            .filter_map(|m| m.source.as_deref())
            .collect();
        for key in keys {
            let Some(volume) = self.project.volumes.get(key) else {
                continue;
            };
            match self.engine.volume(&volume.name) {
                Ok(existing) => {
                    let ours = existing.labels.get(labels::PROJECT) == Some(&self.project.name);
                    if !ours && !volume.external {
                        eprintln!(
                            "warning: volume {} already exists but was not made for project {}; \
                             using it (declare it `external: true` to say this is meant)",
                            volume.name, self.project.name
                        );
                    }
                }
                Err(_) if volume.external => {
                    return Err(DriverError::Invalid(format!(
                        "volume {} is declared external but does not exist; create it with \
                         `wharf volume create {}`",
                        volume.name, volume.name
                    )))
                }
                Err(_) => {
                    let labels: Vec<String> = self
                        .project
                        .volume_labels(key)
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    self.engine.volume_create(Some(&volume.name), &labels)?;
                    event("Volume", &volume.name, "Created");
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------- finding

    /// Every container labelled with this project, newest first.
    fn project_containers(&self) -> Result<Vec<Container>> {
        Ok(self
            .engine
            .containers(&[ContainerFilter::label(labels::PROJECT, &self.project.name)])?)
    }

    /// The containers of these services, in the order given.
    fn containers_of(&self, services: &[&str]) -> Result<Vec<Container>> {
        let all = self.project_containers()?;
        let mut out = Vec::new();
        for service in services {
            out.extend(
                all.iter()
                    .filter(|c| service_of(c) == Some(*service))
                    .cloned(),
            );
        }
        Ok(out)
    }

    /// The named services in start order (checked to exist), or all.
    fn named_or_all(&self, services: &[String]) -> Result<Vec<&'a str>> {
        let order = self.project.start_order();
        if services.is_empty() {
            return Ok(order);
        }
        for name in services {
            if !self.project.services.contains_key(name) {
                return Err(ComposeError::NoSuchService {
                    name: name.clone(),
                    known: self
                        .project
                        .services
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into());
            }
        }
        Ok(order
            .into_iter()
            .filter(|s| services.iter().any(|n| n == s))
            .collect())
    }

    // ------------------------------------------------------------ warnings

    /// What the file asks that `up` cannot do, said once.
    fn warn_not_applied(&self, selected: &[&str]) {
        let with_init: Vec<&str> = selected
            .iter()
            .copied()
            .filter(|s| self.project.services[*s].init == Some(true))
            .collect();
        if !with_init.is_empty() {
            eprintln!(
                "warning: init: true is not supported by Wharf ({}); the command runs as the \
                 container's first process",
                with_init.join(", ")
            );
        }
    }

    /// Compose's warning about containers of services the file lost.
    fn warn_orphans(&self) -> Result<()> {
        let orphans: Vec<String> = self
            .project_containers()?
            .into_iter()
            .filter(|c| service_of(c).is_none_or(|s| !self.project.services.contains_key(s)))
            .map(|c| c.state.name)
            .collect();
        if !orphans.is_empty() {
            eprintln!(
                "warning: found containers of services no longer in the file ({}); remove them \
                 with `wharf compose down --remove-orphans`",
                orphans.join(", ")
            );
        }
        Ok(())
    }
}

/// The service a container was made for (its label).
fn service_of(c: &Container) -> Option<&str> {
    c.state.labels.get(labels::SERVICE).map(String::as_str)
}

/// One progress line on stderr, Compose's shape: ` Container app-web-1  Started`.
fn event(kind: &str, name: &str, what: &str) {
    eprintln!(" {kind} {name}  {what}");
}
