//! Signals for the process that owns a container (foreground `wharf run` or
//! a detached container's monitor): `stop`, `kill` and Ctrl-C arrive here.
//! For Wasm they become an epoch interruption, which stops even a guest
//! spinning in compiled code; for Linux they are passed to the container's
//! init.
//!
//! Real handlers that write the signal number to a pipe, rather than blocking
//! the signals and waiting for them: a blocked mask is inherited through
//! fork and exec, so a Linux container started by this process would never
//! see its SIGTERM. Handled signals revert to their defaults on exec.

use std::io::Read;
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// Write end of the pipe the handler writes to (-1 before `forward`).
static PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal_handler(sig: libc::c_int) {
    let fd = PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

/// The signal thread, once started.
pub struct SignalThread(std::sync::mpsc::Receiver<()>);

impl SignalThread {
    /// Waits until the thread is in its read loop. A container that runs as
    /// processes of its own is made by cloning this process without glibc's
    /// fork handlers, so it must not happen while the thread is still
    /// starting: a lock it holds then (the allocator's) would be inherited
    /// locked, and the child would hang on its first allocation.
    pub fn wait_started(&self) {
        let _ = self.0.recv();
    }
}

/// Hands the forwarded signals to `on_signal` on a dedicated thread.
pub fn forward(on_signal: impl Fn(i32) + Send + 'static) -> crate::Result<SignalThread> {
    let (mut read, write) =
        std::io::pipe().map_err(|e| crate::Error::io("creating the signal pipe", e))?;
    PIPE.store(write.into_raw_fd(), Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(on_signal_handler),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in wharf_linux::FORWARDED_SIGNALS {
        let s = Signal::try_from(s).expect("the forwarded signals are standard ones");
        // SAFETY: the handler only calls write(2).
        unsafe { signal::sigaction(s, &action) }.map_err(|e| {
            crate::Error::io(
                "installing signal handlers",
                std::io::Error::from_raw_os_error(e as i32),
            )
        })?;
    }
    let (started, is_started) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("wharf-signals".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            let _ = started.send(());
            drop(started);
            while read.read_exact(&mut byte).is_ok() {
                on_signal(byte[0] as i32);
            }
        })
        .map_err(|e| crate::Error::io("starting the signal thread", e))?;
    Ok(SignalThread(is_started))
}
