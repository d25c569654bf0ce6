//! The `linux` executor: a Linux container through wharf-linux (youki's
//! libcontainer underneath). The container's directory is its OCI bundle:
//! config.json, the overlay (upper/work/merged over the image snapshot) and
//! the /etc files the defaults write.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use wharf_linux::{LinuxOptions, Network, Seccomp, Stdio};

use crate::{Error, Result};

/// Docker's Linux-only `run` flags, as given.
#[derive(Debug, Default, Clone)]
pub struct LinuxFlags {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub read_only: bool,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub network: Option<String>,
    pub tmpfs: Vec<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
}

impl LinuxFlags {
    pub fn options(
        &self,
        memory: Option<u64>,
        tty: bool,
        default_hostname: &str,
    ) -> Result<LinuxOptions> {
        let mut opts = LinuxOptions {
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            read_only: self.read_only,
            memory,
            cpus: self.cpus,
            pids_limit: self.pids_limit,
            tmpfs: self.tmpfs.clone(),
            user: self.user.clone(),
            hostname: self
                .hostname
                .clone()
                .unwrap_or_else(|| default_hostname.to_string()),
            tty,
            ..LinuxOptions::default()
        };
        if let Some(c) = self.cpus.filter(|c| !(*c > 0.0 && c.is_finite())) {
            return Err(Error::InvalidArgument(format!(
                "invalid --cpus {c}: give a positive number such as 0.5 or 2"
            )));
        }
        opts.network = match self.network.as_deref() {
            None | Some("none") => Network::None,
            Some("host") => Network::Host,
            Some(other) => {
                return Err(Error::Unsupported(format!(
                    "--network {other} is not available: Wharf has no bridge networking yet; use --network none (the default: only loopback) or --network host"
                )))
            }
        };
        for opt in &self.security_opt {
            let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), "true"));
            match (key, value) {
                ("no-new-privileges", v) => {
                    opts.no_new_privileges = v.parse().map_err(|_| bad_security_opt(opt))?;
                }
                ("seccomp", "unconfined") => opts.seccomp = Seccomp::Unconfined,
                ("seccomp", file) => {
                    let path = std::fs::canonicalize(file).map_err(|e| {
                        Error::InvalidArgument(format!(
                            "--security-opt {opt}: cannot read the seccomp profile {file}: {e}"
                        ))
                    })?;
                    opts.seccomp = Seccomp::File(path);
                }
                _ => return Err(bad_security_opt(opt)),
            }
        }
        Ok(opts)
    }
}

fn bad_security_opt(opt: &str) -> Error {
    Error::InvalidArgument(format!(
        "invalid --security-opt \"{opt}\": supported are no-new-privileges[=true|false], seccomp=unconfined and seccomp=PROFILE.json"
    ))
}

/// Where libcontainer keeps its per-container state, and Wharf its shadow
/// bundles and compiled seccomp filters: runtime state that must not outlive
/// a boot, so on a tmpfs as Docker's /run/docker is, at
/// `wharf-<hash of the store>.run` under /run or /dev/shm (whichever is a
/// tmpfs first). Where neither is, or that directory is not ours alone, it is
/// `<root>/run`. Linux containers need root, so $XDG_RUNTIME_DIR plays no
/// part: the answer must not change with the caller's session.
pub fn state_root(root: &Path) -> PathBuf {
    crate::fsutil::tmpfs_dir_for(root, ".run", ["/run", "/dev/shm"].map(PathBuf::from))
        .filter(|dir| crate::fsutil::ensure_private_dir(dir))
        .unwrap_or_else(|| root.join("run"))
}

/// Says once per Wharf root (not on every run) that containers get a lower
/// open-files limit than Docker's because this process cannot raise it.
pub fn notice_rlimit_clamp(root: &Path) {
    if let Some((wanted, granted)) = wharf_linux::nofile_clamp() {
        let marker = root.join(".rlimit-notice");
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
            .is_ok()
        {
            eprintln!(
                "wharf: containers get RLIMIT_NOFILE {granted} instead of Docker's {wanted}: that is this process's hard limit, and raising it needs CAP_SYS_RESOURCE (said once; delete {} to see it again)",
                marker.display()
            );
        }
    }
}

/// Mounts the container's overlay over `lower` and completes the spec with
/// Docker's defaults; the caller writes it to the bundle's config.json.
/// `ephemeral`: the container's changes are discarded when it ends (see
/// [`wharf_linux::mount_overlay`]).
pub fn prepare_bundle(
    dir: &Path,
    id: &str,
    spec: &mut Spec,
    lower: &Path,
    opts: &LinuxOptions,
    ephemeral: bool,
) -> Result<()> {
    let merged = wharf_linux::mount_overlay(lower, dir, ephemeral)?;
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_path(merged.clone());
    root.set_readonly(Some(opts.read_only));
    spec.set_root(Some(root));
    if let Err(e) = wharf_linux::apply_defaults(spec, id, &merged, dir, opts) {
        let _ = wharf_linux::unmount_overlay(dir);
        return Err(e.into());
    }
    Ok(())
}

/// Undoes everything a container left on the host: its libcontainer state
/// and cgroups, and its overlay mount. Safe to call more than once.
pub fn cleanup(root: &Path, dir: &Path, id: &str) {
    let _ = wharf_linux::delete(&state_root(root), id, true);
    let _ = wharf_linux::unmount_overlay(dir);
}

/// Stdio for a container process: this process's fds 0/1/2 (wharf-linux
/// keeps them usable when they point at /dev/null).
pub fn inherit_stdio(stdin: bool) -> Result<Stdio> {
    let dup = |fd: i32| -> Result<OwnedFd> {
        // SAFETY: fds 0-2 stay open for the life of the process.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        borrowed
            .try_clone_to_owned()
            .map_err(|e| Error::io("duplicating stdio", e))
    };
    Ok(Stdio {
        stdin: if stdin { Some(dup(0)?) } else { None },
        stdout: dup(1)?,
        stderr: dup(2)?,
    })
}
