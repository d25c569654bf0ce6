//! The stdio of a container's process, as handed to libcontainer: the
//! caller's descriptors, the caller's own fds 0-2, or a pseudo terminal
//! whose master comes back over a console socket (the caller's, or one of
//! ours when the caller wants the master returned).

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use crate::container::map_lc;
use crate::{Error, Result, Stdio};

/// Duplicates `fd` above stdio with close-on-exec, so neither libcontainer's
/// `dup2(fd, n); close(fd)` nor a concurrent fork elsewhere can clobber it.
fn dup_high(fd: &impl AsRawFd) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd we own.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        return Err(Error::io(
            "duplicating stdio descriptor",
            format!("fd {}", fd.as_raw_fd()),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `n` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

fn dev_null() -> Result<OwnedFd> {
    std::fs::File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| Error::io("opening", "/dev/null", e))
}

/// Whether `fd` is the host's /dev/null.
fn is_dev_null(fd: RawFd) -> bool {
    let Ok(null) = nix::sys::stat::stat("/dev/null") else {
        return false;
    };
    // SAFETY: fstat fills a stat buffer we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && st.st_rdev == null.st_rdev
    }
}

/// /dev/zero opened for writing: it discards writes like /dev/null.
fn dev_zero_for_writing() -> Result<OwnedFd> {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/zero")
        .map(OwnedFd::from)
        .map_err(|e| Error::io("opening", "/dev/zero", e))
}

/// An output descriptor for the container. libcontainer 0.7 re-opens one
/// that points at the host's /dev/null as the container's /dev/null
/// read-only, and the container's writes then fail; /dev/zero discards
/// writes the same way and is left alone.
fn container_output(fd: &OwnedFd) -> Result<OwnedFd> {
    if is_dev_null(fd.as_raw_fd()) {
        dup_high(&dev_zero_for_writing()?)
    } else {
        dup_high(fd)
    }
}

fn with_stdio(b: ContainerBuilder, stdio: Stdio) -> Result<ContainerBuilder> {
    let stdin = match stdio.stdin {
        Some(fd) => dup_high(&fd)?,
        None => dup_high(&dev_null()?)?,
    };
    Ok(b.with_stdin(stdin)
        .with_stdout(container_output(&stdio.stdout)?)
        .with_stderr(container_output(&stdio.stderr)?))
}

/// With no explicit stdio the container inherits this process's fds 1 and
/// 2: move them off /dev/null for the reason given at [`container_output`].
fn stdio_off_dev_null() {
    for fd in [1, 2] {
        if is_dev_null(fd) {
            if let Ok(zero) = dev_zero_for_writing() {
                // SAFETY: dup2 onto a stdio descriptor of this process.
                unsafe { libc::dup2(zero.as_raw_fd(), fd) };
            }
        }
    }
}

/// runc's flags for the I/O of a container's process (its init or an
/// exec'd one): all of [`crate::ExecOptions`], part of
/// [`crate::CreateOptions`].
#[derive(Debug, Default)]
pub struct ProcessIo {
    /// Write the process's host pid here.
    pub pid_file: Option<PathBuf>,
    /// Send the pty master here (`process.terminal`); None with a
    /// terminal: it is returned in [`crate::Started::pty_master`].
    pub console_socket: Option<PathBuf>,
    /// Pass fds 3..3+n to the process.
    pub preserve_fds: i32,
    /// None: the process inherits the caller's fds 0-2. Unused with a
    /// terminal.
    pub stdio: Option<Stdio>,
}

/// A libcontainer builder for a process of container `id` with `io`, and
/// the [`OwnConsole`] to receive its pty master on when it has a terminal
/// (`terminal`) and no console socket was given. Without a terminal the
/// process gets `io.stdio`, or this process's fds 0-2 when that is None.
/// `action` names the operation in errors.
pub(crate) fn process_builder(
    state_root: &Path,
    id: &str,
    action: &'static str,
    terminal: bool,
    io: ProcessIo,
) -> Result<(ContainerBuilder, Option<OwnConsole>)> {
    let builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(state_root)
        .map_err(map_lc(action, id))?
        .with_pid_file(io.pid_file.as_ref())
        .map_err(map_lc(action, id))?
        .with_preserved_fds(io.preserve_fds);
    if terminal {
        return Ok(match io.console_socket {
            Some(path) => (builder.with_console_socket(Some(path)), None),
            None => {
                let own = OwnConsole::bind(state_root)?;
                (builder.with_console_socket(Some(&own.path)), Some(own))
            }
        });
    }
    let builder = builder.with_console_socket(io.console_socket);
    let builder = match io.stdio {
        Some(stdio) => with_stdio(builder, stdio)?,
        None => {
            stdio_off_dev_null();
            builder
        }
    };
    Ok((builder, None))
}

/// Runs `build`, which makes the process that sends its pty master to
/// `console` when there is one, and returns what it built with that
/// master. The master is received on a helper thread meanwhile: a
/// tenant's (exec's) init connects and sends before `build` returns.
pub(crate) fn build_receiving_pty<T>(
    console: Option<OwnConsole>,
    build: impl FnOnce() -> Result<T>,
) -> Result<(T, Option<OwnedFd>)> {
    let Some(console) = console else {
        return Ok((build()?, None));
    };
    let listener = console
        .listener
        .try_clone()
        .map_err(|e| Error::io("creating console socket", &console.path, e))?;
    let receiver = std::thread::spawn(move || receive_pty(&listener));
    let built = build();
    if built.is_err() {
        // Unblock the accept() so the thread ends.
        let _ = UnixStream::connect(&console.short);
    }
    let received = receiver
        .join()
        .unwrap_or_else(|_| Err(Error::Spec("console receiver panicked".into())));
    Ok((built?, Some(received?)))
}

/// A console socket of ours in the state root, on which the process's init
/// sends its pty master; the file is removed when this is dropped.
///
/// Its path can be longer than a socket address holds (108 bytes: the
/// engine's state root and a 64-hex id already make 114), so it is bound
/// and connected to through `/proc/self/fd/<state root fd>/<name>`, which
/// always fits. libcontainer connects to its own short symlink to it.
pub(crate) struct OwnConsole {
    listener: UnixListener,
    /// The socket file, for libcontainer and for removal.
    path: PathBuf,
    /// The state root, held open for the short path below.
    _dir: OwnedFd,
    /// `path` through `/proc/self/fd`, short enough for a socket address.
    short: PathBuf,
}

impl OwnConsole {
    fn bind(state_root: &Path) -> Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            ".console-{}-{}.sock",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let path = state_root.join(&name);
        let dir = std::fs::File::options()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(state_root)
            .map(OwnedFd::from)
            .map_err(|e| Error::io("creating console socket", &path, e))?;
        let short = PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&short)
            .map_err(|e| Error::io("creating console socket", &path, e))?;
        Ok(OwnConsole {
            listener,
            path,
            _dir: dir,
            short,
        })
    }
}

impl Drop for OwnConsole {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Receives the pty master the container's init sends over the console socket.
fn receive_pty(listener: &UnixListener) -> Result<OwnedFd> {
    let (conn, _) = listener
        .accept()
        .map_err(|e| Error::io("accepting console socket", "console socket", e))?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::io("receiving pty from", "console socket", e.into()))?;
    for c in msg
        .cmsgs()
        .map_err(|e| Error::io("receiving pty from", "console socket", e.into()))?
    {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: SCM_RIGHTS just installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(Error::io(
        "receiving pty from",
        "console socket",
        std::io::Error::other("the container sent no terminal descriptor"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A console socket in a state root whose own path is already longer
    /// than a socket address can hold.
    #[test]
    fn own_console_fits_under_a_long_state_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("r".repeat(120));
        std::fs::create_dir_all(&root).unwrap();
        let console = OwnConsole::bind(&root).unwrap();
        let path = console.path.clone();
        assert!(path.as_os_str().len() > 108, "{}", path.display());
        assert!(path.exists());
        // Someone connecting through the full path (as libcontainer does,
        // through a symlink) is accepted.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let sender = std::thread::spawn(move || {
            let conn = UnixStream::connect(&link).unwrap();
            let null = std::fs::File::open("/dev/null").unwrap();
            let fds = [null.as_raw_fd()];
            let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
            let iov = [std::io::IoSlice::new(b"pty")];
            nix::sys::socket::sendmsg::<()>(
                conn.as_raw_fd(),
                &iov,
                &cmsg,
                nix::sys::socket::MsgFlags::empty(),
                None,
            )
            .unwrap();
        });
        let (built, fd) = build_receiving_pty(Some(console), || {
            sender.join().unwrap();
            Ok(7)
        })
        .unwrap();
        assert_eq!(built, 7);
        assert!(is_dev_null(fd.unwrap().as_raw_fd()));
        assert!(!path.exists(), "the socket file is removed");
    }

    #[test]
    fn a_failed_build_ends_the_receiver() {
        let tmp = tempfile::tempdir().unwrap();
        let console = OwnConsole::bind(tmp.path()).unwrap();
        let err = build_receiving_pty(Some(console), || -> Result<()> {
            Err(Error::Spec("no".into()))
        })
        .unwrap_err();
        assert!(matches!(err, Error::Spec(_)), "{err}");
    }
}
