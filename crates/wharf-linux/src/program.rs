//! What the container's program is, checked before its init is made: a
//! WebAssembly module or a binary for another architecture fails at
//! `execve` inside the started container, where the kernel's ENOEXEC
//! becomes a silent exit 255. Told here, it is Docker's "exec format error"
//! with the reason (exit 126).

use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use wharf_snapshot::resolve_in_root;

use crate::{Error, Result};

/// ELF `e_machine` of the architecture this build runs on.
#[cfg(target_arch = "x86_64")]
const HOST_MACHINE: u16 = 62;
#[cfg(target_arch = "aarch64")]
const HOST_MACHINE: u16 = 183;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const HOST_MACHINE: u16 = 0;

/// Refuses a program this host cannot execute: a Wasm module, or an ELF
/// binary for another machine. One that cannot be found is left to
/// libcontainer, which says so itself.
pub fn check_program(spec: &Spec, rootfs: &Path) -> Result<()> {
    let Some(process) = spec.process() else {
        return Ok(());
    };
    let Some(arg0) = process.args().as_ref().and_then(|a| a.first()) else {
        return Ok(());
    };
    let env = process.env().as_deref().unwrap_or_default();
    check_command(rootfs, arg0, env, process.cwd())
}

/// [`check_program`] for a command given by parts: args\[0\], the process's
/// environment (for PATH) and its working directory.
pub fn check_command(rootfs: &Path, arg0: &str, env: &[String], cwd: &Path) -> Result<()> {
    let Some(path) = find(rootfs, arg0, env, cwd) else {
        return Ok(());
    };
    let mut head = [0u8; 20];
    let Ok(n) = std::fs::File::open(&path).and_then(|mut f| f.read(&mut head)) else {
        return Ok(());
    };
    let head = &head[..n];
    let reason = if head.starts_with(b"\0asm") {
        "exec format error: it is a WebAssembly module; run it from a Wasm image (wharf build --platform wasi/wasm)".to_string()
    } else if head.starts_with(b"\x7fELF") && head.len() >= 20 && HOST_MACHINE != 0 {
        let machine = if head[5] == 1 {
            u16::from_le_bytes([head[18], head[19]])
        } else {
            u16::from_be_bytes([head[18], head[19]])
        };
        if machine == HOST_MACHINE {
            return Ok(());
        }
        format!("exec format error: it is a binary for another architecture (ELF machine {machine}); use an image for this host's platform")
    } else {
        return Ok(());
    };
    Err(Error::CannotExecute {
        program: arg0.to_string(),
        reason,
    })
}

/// Where args\[0\] is in the root: a path as given (relative to the working
/// directory), or a bare name looked up in the process's PATH.
fn find(rootfs: &Path, arg0: &str, env: &[String], cwd: &Path) -> Option<PathBuf> {
    if arg0.contains('/') {
        return resolve_in_root(rootfs, cwd.join(arg0)).filter(|p| p.is_file());
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter(|dir| dir.starts_with('/'))
        .find_map(|dir| resolve_in_root(rootfs, Path::new(dir).join(arg0)).filter(|p| p.is_file()))
}
