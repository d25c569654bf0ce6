use std::path::PathBuf;

use crate::log::Logger;
use crate::{Cli, Result};

#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Bundle directory (holds config.json).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's init pid to this file.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (process.terminal).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Pass this many extra fds (from 3) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    /// Do not use pivot_root (for a rootfs on ramfs).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for runc compatibility (no session keyring is created).
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    pub id: String,
}

/// Shared by create and run: loads the bundle, decides Linux or Wasm and
/// creates the container. Returns its pid and, for a terminal without a
/// console socket, the pty master; and the bundle's spec.
pub fn create(
    cli: &Cli,
    log: &Logger,
    a: &Args,
    own_console: bool,
) -> Result<(wharf_linux::Started, oci_spec::runtime::Spec)> {
    super::check_id(&a.id)?;
    let (bundle, spec) = wharf_linux::load_bundle(&a.bundle).map_err(super::linux_err)?;
    let entrypoint = crate::wasm::entrypoint(&spec)?;
    log.debug(&format!(
        "create {}: bundle {}, {}",
        a.id,
        bundle.display(),
        if entrypoint.is_some() {
            "wasm"
        } else {
            "linux"
        }
    ));
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && a.console_socket.is_none() && !own_console {
        return Err(crate::Failure::from(
            "cannot allocate a tty without --console-socket: the spec sets process.terminal",
        ));
    }
    if !terminal && a.console_socket.is_some() {
        return Err(crate::Failure::from(
            "--console-socket needs process.terminal: true in config.json",
        ));
    }
    let opts = wharf_linux::CreateOptions {
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        no_pivot: a.no_pivot,
        systemd_cgroup: cli.systemd_cgroup,
        stdio: None,
        entrypoint,
        runc_spec: true,
        // containerd's shim outlives `create`: the container is not ours.
        die_with_parent: false,
    };
    let started =
        wharf_linux::create(&cli.root, &a.id, &bundle, &spec, opts).map_err(super::linux_err)?;
    Ok((started, spec))
}

pub fn run(cli: &Cli, log: &Logger, a: &Args) -> Result<i32> {
    create(cli, log, a, false)?;
    Ok(0)
}
