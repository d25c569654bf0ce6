//! RUN in Linux builds: each step runs in a throwaway Linux container over
//! the layers so far, through the same executor and lifecycle as `wharf
//! run`, and the overlay's upper directory — the step's changes, deletions
//! as whiteouts — becomes the new layer.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use wharf_build::RunStep;
use wharf_image::{Descriptor, ImageConfiguration};
use wharf_linux::{LinuxOptions, Network};

use crate::executor::{Bundle, Executor, PrepareInput, LINUX};
use crate::spec::{self, SpecInput};
use crate::{fsutil, Engine};

pub struct LinuxRunStep<'a> {
    pub engine: &'a Engine,
    /// Where RUN steps' containers are networked (`build --network`).
    pub network: StepNetwork,
}

/// `wharf build --network`: Docker's choices for RUN steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepNetwork {
    /// The default network `bridge` (outbound NAT; the host's own
    /// services on 127.0.0.1 are out of reach), as `docker build`.
    Bridge,
    /// The host's network.
    Host,
    /// Loopback only.
    None,
}

impl StepNetwork {
    pub fn parse(flag: Option<&str>) -> crate::Result<StepNetwork> {
        match flag {
            None | Some("default") | Some("bridge") => Ok(StepNetwork::Bridge),
            Some("host") => Ok(StepNetwork::Host),
            Some("none") => Ok(StepNetwork::None),
            Some(other) => Err(crate::Error::InvalidArgument(format!(
                "invalid build --network {other:?}: RUN steps run on default (bridge), host or none"
            ))),
        }
    }
}

impl RunStep for LinuxRunStep<'_> {
    fn run(
        &mut self,
        base_layers: &[Descriptor],
        config: &ImageConfiguration,
        args: &[String],
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let engine = self.engine;
        let layers: Vec<&Descriptor> = base_layers.iter().collect();
        let lower = engine.unpack_layers(&layers, config.rootfs().diff_ids())?;
        let id = format!("build-{}", &fsutil::random_hex_id()[..16]);
        let steps = engine.root.join("build");
        std::fs::create_dir_all(&steps)?;
        // Held while the step exists: a lock that can be taken is a dead
        // build's, whose step the next command reaps (see below). Made
        // before the step's directory, so no step is ever without one.
        let lock = lock_file(&steps.join(format!("{id}.lock")))?;
        let dir = steps.join(&id);
        std::fs::create_dir_all(&dir)?;
        let bundle = Bundle { id: &id, dir: &dir };
        let result = run_step(engine, bundle, &lower, config, args, self.network);
        LINUX.delete(engine, bundle);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(steps.join(format!("{id}.lock")));
        drop(lock);
        result
    }

    fn rootfs(&mut self, layers: &[Descriptor], diff_ids: &[String]) -> anyhow::Result<PathBuf> {
        let layers: Vec<&Descriptor> = layers.iter().collect();
        Ok(self.engine.unpack_layers(&layers, diff_ids)?)
    }

    fn fetch(&mut self, url: &str, dest: &mut std::fs::File) -> anyhow::Result<()> {
        wharf_registry::download(url, dest)?;
        Ok(())
    }
}

/// Creates `path` and takes an exclusive flock on it (not waiting).
fn lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    // SAFETY: flock on a valid, owned descriptor.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(f)
}

impl Engine {
    /// Removes the RUN step containers of builds that are gone (killed):
    /// the container (its processes killed, if its parent-death signal did
    /// not already), its cgroups and runtime state, its overlay mount and
    /// directory. A step whose lock is held belongs to a live build. Called
    /// by every command that takes the store lock (through collect_garbage).
    pub(crate) fn reap_dead_build_steps(&self) {
        let steps = self.root.join("build");
        let Ok(rd) = std::fs::read_dir(&steps) else {
            return;
        };
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".lock") else {
                continue;
            };
            if !id.starts_with("build-") {
                continue;
            }
            let lock_path = entry.path();
            let Ok(lock) = lock_file(&lock_path) else {
                continue;
            };
            let dir = steps.join(id);
            LINUX.delete(self, Bundle { id, dir: &dir });
            // Its network, when it had one (a step on the default network).
            if let Ok(networks) = self.networks() {
                let _ = networks.detach(id);
            }
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(&lock_path);
            drop(lock);
        }
    }
}

fn run_step(
    engine: &Engine,
    bundle: Bundle,
    lower: &Path,
    config: &ImageConfiguration,
    args: &[String],
    network: StepNetwork,
) -> anyhow::Result<Option<Vec<u8>>> {
    let image_config = config.config().clone().unwrap_or_default();
    let mut spec = spec::build(SpecInput {
        args: args.to_vec(),
        env: image_config.env().clone().unwrap_or_default(),
        cwd: image_config
            .working_dir()
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        rootfs: lower,
        volumes: &[],
        limits: spec::Limits::default(),
        read_only: false,
        hostname: "wharf-build".into(),
        terminal: false,
    })?;
    // A RUN step usually fetches something: like `docker build`, it is on
    // the default network (after the first step, the namespace the last
    // one left: wharf-net's pool), unless the build says host or none.
    let attached = match network {
        StepNetwork::Bridge => Some(attach_step(engine, bundle.id)?),
        StepNetwork::Host | StepNetwork::None => None,
    };
    let joined = match (network, attached) {
        (_, Some(a)) => crate::networks::NetworkMode::Bridges(Vec::new()).joined(Some(a)),
        (StepNetwork::Host, None) => Network::Host,
        _ => Network::None,
    };
    let linux = LinuxOptions {
        network: joined,
        user: image_config.user().clone().filter(|u| !u.is_empty()),
        ..LinuxOptions::default()
    };
    let ran = run_in(engine, bundle, lower, &mut spec, &linux, args);
    if network == StepNetwork::Bridge {
        if let Ok(networks) = engine.networks() {
            let _ = networks.detach(bundle.id);
        }
    }
    ran
}

/// The step's container on the default network.
fn attach_step(engine: &Engine, id: &str) -> crate::Result<wharf_net::Attached> {
    let networks = engine.networks()?;
    networks.ensure_default()?;
    Ok(networks.attach(&wharf_net::AttachRequest {
        container_id: id.to_string(),
        container_name: id.to_string(),
        networks: vec![wharf_net::NetworkRequest {
            name: wharf_net::DEFAULT_NETWORK.to_string(),
            aliases: Vec::new(),
            static_ip: None,
        }],
        ports: Vec::new(),
        poolable: true,
    })?)
}

/// Runs the step's container to its end; its changes as a layer.
fn run_in(
    engine: &Engine,
    bundle: Bundle,
    lower: &Path,
    spec: &mut oci_spec::runtime::Spec,
    linux: &LinuxOptions,
    args: &[String],
) -> anyhow::Result<Option<Vec<u8>>> {
    let input = PrepareInput {
        image: None,
        rootfs: lower,
        linux,
        // The step's upper dir is read into a layer and then deleted.
        ephemeral: true,
    };
    LINUX.prepare(engine, bundle, spec, &input)?;
    spec.save(bundle.dir.join("config.json"))?;
    // The step dies with its build: killed, the build leaves no process.
    let mut task = LINUX.create_owned(engine, bundle, spec, false, true)?;
    task.start()?;
    let exit = task.wait()?;
    if exit.code != 0 {
        anyhow::bail!(
            "`{}` returned a non-zero code: {}",
            args.join(" "),
            exit.code
        );
    }
    // The task unmounted the overlay, so nothing moves under the upper dir.
    let mut tar = Vec::new();
    wharf_linux::layer_from_upper(&bundle.dir.join("upper"), &mut tar)?;
    Ok(Some(tar))
}
