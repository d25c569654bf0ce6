//! `wharf-init`: the init `run --init` puts at /sbin/docker-init, Wharf's
//! tini. It runs `-- COMMAND [ARG]...` as its child, forwards every signal
//! it gets to that child, reaps every zombie reparented to it (it is PID 1),
//! and exits with the child's status (128+n when a signal ended it).
//!
//! It is linked statically (glibc, crt-static) by wharf-engine's build
//! script, with no crates, so it runs in any image, scratch ones included;
//! that is why it is not a mode of the `wharf` binary, which needs the
//! host's dynamic loader, libc and libseccomp.

use std::os::unix::process::CommandExt;
use std::process::Command;

#[repr(C)]
struct SigSet {
    bits: [u64; 16],
}

#[repr(C)]
struct SigInfo {
    signo: i32,
    rest: [i32; 31],
}

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn sigfillset(set: *mut SigSet) -> i32;
    fn sigdelset(set: *mut SigSet, sig: i32) -> i32;
    fn sigprocmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
    fn sigtimedwait(set: *const SigSet, info: *mut SigInfo, timeout: *const Timespec) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn sigemptyset(set: *mut SigSet) -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
}

const SIG_SETMASK: i32 = 2;
const WNOHANG: i32 = 1;
const SIGCHLD: i32 = 17;
const SIGPIPE: i32 = 13;
const SIG_DFL: usize = 0;
/// Signals about this process's own faults stay deliverable, as in tini.
const SYNCHRONOUS: [i32; 9] = [4, 5, 6, 7, 8, 11, 21, 22, 31];

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("docker-init (wharf): usage: docker-init -- COMMAND [ARG]...");
        std::process::exit(1);
    }
    let mut set = SigSet { bits: [0; 16] };
    // SAFETY: plain libc calls on a sigset we own.
    unsafe {
        sigfillset(&mut set);
        for sig in SYNCHRONOUS {
            sigdelset(&mut set, sig);
        }
        sigprocmask(SIG_SETMASK, &set, std::ptr::null_mut());
    }
    let mut command = Command::new(&args[0]);
    command.args(&args[1..]);
    // The command starts as it would without an init: nothing blocked
    // (the mask is inherited across exec) and SIGPIPE at its default.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut empty = SigSet { bits: [0; 16] };
            sigemptyset(&mut empty);
            sigprocmask(SIG_SETMASK, &empty, std::ptr::null_mut());
            signal(SIGPIPE, SIG_DFL);
            Ok(())
        });
    }
    let child = match command.spawn() {
        Ok(child) => child.id() as i32,
        Err(e) => {
            eprintln!("docker-init (wharf): cannot run {}: {e}", args[0]);
            std::process::exit(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
        }
    };
    loop {
        let mut info = SigInfo { signo: 0, rest: [0; 31] };
        let timeout = Timespec { sec: 1, nsec: 0 };
        // SAFETY: pointers to live locals.
        let sig = unsafe { sigtimedwait(&set, &mut info, &timeout) };
        if sig > 0 && sig != SIGCHLD {
            // SAFETY: kill(2) of our own child.
            unsafe { kill(child, sig) };
        }
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a local status word.
            let pid = unsafe { waitpid(-1, &mut status, WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == child {
                let code = if status & 0x7f == 0 {
                    (status >> 8) & 0xff
                } else {
                    128 + (status & 0x7f)
                };
                std::process::exit(code);
            }
        }
    }
}
