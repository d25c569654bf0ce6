//! Seccomp filters compiled once and loaded from a cache, as crun does.
//!
//! libcontainer compiles the spec's seccomp profile with libseccomp in every
//! container's init. For Docker's default profile (three architectures,
//! ~370 syscalls, argument rules) that costs more CPU than all the rest of a
//! container start. The BPF program libseccomp produces depends only on the
//! profile, the libseccomp version and the kernel it probes, so it is built
//! once, kept under the state root, and the init loads the stored program.
//!
//! Order matters. Without no_new_privs, loading a filter needs
//! CAP_SYS_ADMIN, which is why libcontainer loads it *before* dropping
//! capabilities. Here the filter leaves the spec, libcontainer is asked to
//! keep CAP_SYS_ADMIN (and CAP_SETPCAP, to drop the bounding set later) on
//! top of the container's capabilities, and the executor, last thing before
//! exec, loads the program and then drops to the container's real
//! capabilities with libcontainer's own `drop_privileges`. The end state is
//! what libcontainer would have made: same filter, same capabilities.
//!
//! A profile is only taken this way when that order is sound: no notify
//! actions (their fd has to travel to the runtime), no startContainer hooks
//! (they would run before the filter), and, unless no_new_privs is set, a
//! profile that lets the init drop its capabilities once filtered (`capget`,
//! `capset` and `prctl` allowed unconditionally, as Docker's profile does).
//! Anything else goes to libcontainer unchanged.

use std::collections::HashSet;
use std::io::{Read, Seek, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, Spec,
};
use sha2::{Digest, Sha256};

/// Bumped when the cache file layout or the compilation changes.
const FORMAT: &str = "wharf-seccomp-bpf-2";
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// A compiled filter and what the init must do around loading it.
#[derive(Clone)]
pub(crate) struct CachedFilter {
    program: Arc<Vec<libc::sock_filter>>,
    flags: libc::c_ulong,
    /// The container's capabilities, to drop to once the filter is loaded;
    /// None when libcontainer already dropped to them (no_new_privs).
    drop_to: Option<LinuxCapabilities>,
}

/// Moves the spec's seccomp profile into a [`CachedFilter`] (compiling it
/// into `cache_dir` on first use) when that is sound; otherwise, or if
/// libseccomp cannot compile the profile, leaves the spec alone so that
/// libcontainer loads the profile itself (and reports its error). A cache
/// that cannot be written only costs the compile.
pub(crate) fn take(spec: &mut Spec, cache_dir: &Path) -> Option<CachedFilter> {
    let seccomp = spec.linux().as_ref()?.seccomp().clone()?;
    let process = spec.process().as_ref()?;
    let has_start_hooks = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
        .is_some_and(|h| !h.is_empty());
    if has_start_hooks || uses_notify(&seccomp) {
        return None;
    }
    // libcontainer loads seccomp late (after dropping capabilities) whenever
    // noNewPrivileges is present; no_new_privs is then set.
    let late = process.no_new_privileges().is_some();
    let nnp = process.no_new_privileges() == Some(true);
    if late && !nnp {
        return None;
    }
    let caps = process.capabilities().clone();
    let keeps_admin = caps.as_ref().is_none_or(|c| {
        let has = |set: &Option<HashSet<Capability>>| {
            set.as_ref()
                .is_none_or(|s| s.contains(&Capability::SysAdmin))
        };
        has(c.effective()) && has(c.permitted()) && has(c.bounding())
    });
    let drop_to = if nnp || keeps_admin {
        None
    } else {
        if !["capget", "capset", "prctl"]
            .iter()
            .all(|name| allows(&seccomp, name))
        {
            return None;
        }
        caps
    };
    let program = load_or_compile(&seccomp, cache_dir).ok()?;

    if let Some(real) = &drop_to {
        let mut extended = real.clone();
        let widen = |set: &Option<HashSet<Capability>>| {
            set.clone().map(|mut s| {
                s.insert(Capability::SysAdmin);
                s.insert(Capability::Setpcap);
                s
            })
        };
        extended.set_bounding(widen(real.bounding()));
        extended.set_effective(widen(real.effective()));
        extended.set_permitted(widen(real.permitted()));
        if let Some(p) = spec.process_mut() {
            p.set_capabilities(Some(extended));
        }
    }
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(None);
    }
    Some(CachedFilter {
        program: Arc::new(program),
        flags: flags(&seccomp),
        drop_to,
    })
}

impl CachedFilter {
    /// Loads the filter into the calling thread, then drops to the
    /// container's capabilities. Runs in the container's init.
    fn install(&self) -> std::io::Result<()> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prog points at a live, correctly sized sock_filter array.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if let Some(caps) = &self.drop_to {
            let syscall = libcontainer::syscall::syscall::create_syscall();
            libcontainer::capabilities::drop_privileges(caps, syscall.as_ref())
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        Ok(())
    }
}

/// Wraps the executor that runs the container's process: the filter from
/// the cache, if any, goes in right before it.
#[derive(Clone)]
pub(crate) struct FilteringExecutor {
    filter: Option<CachedFilter>,
    /// See `CreateOptions::die_with_parent`.
    die_with_parent: bool,
    inner: Box<dyn Executor>,
}

/// The executor for a container: `inner` (libcontainer's default when
/// None) behind `filter`.
pub(crate) fn executor(
    filter: Option<CachedFilter>,
    inner: Option<Box<dyn Executor>>,
    die_with_parent: bool,
) -> FilteringExecutor {
    FilteringExecutor {
        filter,
        die_with_parent,
        inner: inner.unwrap_or_else(libcontainer::workload::default::get_executor),
    }
}

impl Executor for FilteringExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        // Before the seccomp filter, which may not allow prctl. The init is
        // a child of the creating process (libcontainer clones it as the
        // intermediate's sibling), so its parent's death is the caller's.
        if self.die_with_parent {
            // SAFETY: prctl with integer arguments only.
            if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } != 0 {
                return Err(ExecutorError::Other(format!(
                    "setting the parent-death signal: {}",
                    std::io::Error::last_os_error()
                )));
            }
        }
        if let Some(filter) = &self.filter {
            filter
                .install()
                .map_err(|e| ExecutorError::Other(format!("loading the seccomp filter: {e}")))?;
        }
        self.inner.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        self.inner.validate(spec)
    }

    fn setup_envs(
        &self,
        envs: std::collections::HashMap<String, String>,
    ) -> Result<(), ExecutorSetEnvsError> {
        self.inner.setup_envs(envs)
    }
}

fn uses_notify(seccomp: &LinuxSeccomp) -> bool {
    seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
        || seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Whether the profile lets `name` through whatever its arguments.
fn allows(seccomp: &LinuxSeccomp, name: &str) -> bool {
    let mut allowed = seccomp.default_action() == LinuxSeccompAction::ScmpActAllow;
    for rule in seccomp.syscalls().iter().flatten() {
        if !rule.names().iter().any(|n| n == name) {
            continue;
        }
        let unconditional = rule.args().as_ref().is_none_or(|a| a.is_empty());
        if rule.action() == LinuxSeccompAction::ScmpActAllow && unconditional {
            allowed = true;
        } else if rule.action() != LinuxSeccompAction::ScmpActAllow {
            return false;
        }
    }
    allowed
}

fn flags(seccomp: &LinuxSeccomp) -> libc::c_ulong {
    seccomp
        .flags()
        .iter()
        .flatten()
        .map(|f| match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 32,
        })
        .fold(0, |a, b| a | b)
}

/// The cache key: the profile and everything else libseccomp's output
/// depends on.
fn key(seccomp: &LinuxSeccomp) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT);
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        h.update(format!("{}.{}.{}", v.major, v.minor, v.micro));
    }
    h.update(libseccomp::get_api().to_string());
    // SAFETY: uname fills the struct it is given.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } == 0 {
        for field in [&uts.release[..], &uts.machine[..]] {
            let bytes: Vec<u8> = field
                .iter()
                .take_while(|c| **c != 0)
                .map(|c| *c as u8)
                .collect();
            h.update(&bytes);
        }
    }
    h.update(serde_json::to_vec(seccomp).unwrap_or_default());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored program (verified against its trailing sha256), or a fresh
/// compile written to the cache through a temp file and a rename.
fn load_or_compile(
    seccomp: &LinuxSeccomp,
    cache_dir: &Path,
) -> std::io::Result<Vec<libc::sock_filter>> {
    let path = cache_dir.join(key(seccomp));
    if let Ok(data) = std::fs::read(&path) {
        if let Some(program) = verified(&data) {
            return Ok(program);
        }
    }
    let bpf = compile(seccomp)?;
    let program =
        decode(&bpf).ok_or_else(|| std::io::Error::other("libseccomp wrote a partial program"))?;
    // Unique per process and call: threads of one process may compile at once.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = cache_dir.join(format!(".tmp-{}-{seq}", std::process::id()));
    let written = (|| {
        std::fs::create_dir_all(cache_dir)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bpf)?;
        f.write_all(&Sha256::digest(&bpf))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    // The cache only saves work: a program that could not be stored still serves.
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(program)
}

fn verified(data: &[u8]) -> Option<Vec<libc::sock_filter>> {
    let (bpf, sum) = data.split_at_checked(data.len().checked_sub(32)?)?;
    (Sha256::digest(bpf).as_slice() == sum).then(|| decode(bpf))?
}

fn decode(bpf: &[u8]) -> Option<Vec<libc::sock_filter>> {
    if bpf.is_empty() || !bpf.len().is_multiple_of(8) || bpf.len() / 8 > u16::MAX as usize {
        return None;
    }
    Some(
        bpf.chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

/// libseccomp's BPF for the profile, built the way libcontainer 0.7's
/// `initialize_seccomp` builds its filter (same rules, same skips), so the
/// program is the one libcontainer would have loaded.
fn compile(seccomp: &LinuxSeccomp) -> std::io::Result<Vec<u8>> {
    let err = |e: libseccomp::error::SeccompError| std::io::Error::other(e.to_string());
    let default = action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(err)?;
    for arch in seccomp.architectures().iter().flatten() {
        let arch: ScmpArch = scmp_name(arch).parse().map_err(err)?;
        ctx.add_arch(arch).map_err(err)?;
    }
    ctx.set_ctl_nnp(false).map_err(err)?;
    // The syscall checks as a binary tree instead of one long chain (as the
    // vendored libcontainer does too). The filter means the same, but the
    // kernel loads it about four times faster (Docker's default profile:
    // 0.21 ms instead of 0.88 ms a `seccomp(2)` here, which every init
    // pays): its JIT converges in a few passes over short jumps where a
    // chain of far jumps needs many. libseccomp < 2.5 refuses the attribute;
    // the chain then serves as before.
    let _ = ctx.set_ctl_optimize(2);
    for rule in seccomp.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let args = rule.args().clone().unwrap_or_default();
        let comparators = args
            .iter()
            .map(|a| {
                let op = match a.op() {
                    LinuxSeccompOperator::ScmpCmpMaskedEq => {
                        ScmpCompareOp::MaskedEqual(a.value_two().unwrap_or(0))
                    }
                    op => scmp_name(&op).parse().map_err(err)?,
                };
                Ok(ScmpArgCompare::new(a.index() as u32, op, a.value()))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut seen = HashSet::new();
        let duplicate_index = !args.iter().all(|a| seen.insert(a.index()));
        for sc_name in rule.names() {
            // Unknown to libseccomp: the kernel lacks it; libcontainer skips it too.
            let Ok(sc) = ScmpSyscall::from_name(sc_name) else {
                continue;
            };
            if comparators.is_empty() {
                ctx.add_rule(act, sc).map_err(err)?;
            } else if duplicate_index {
                for c in &comparators {
                    ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                        .map_err(err)?;
                }
            } else {
                ctx.add_rule_conditional(act, sc, &comparators)
                    .map_err(err)?;
            }
        }
    }
    // libseccomp 2.5 exports to an fd only: an anonymous memory file.
    // SAFETY: memfd_create takes a NUL-terminated name and flags.
    let fd = unsafe { libc::memfd_create(c"wharf-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor owned by nothing else.
    let mut out = unsafe { std::fs::File::from_raw_fd(fd) };
    ctx.export_bpf(&out).map_err(err)?;
    let mut bpf = Vec::new();
    out.seek(std::io::SeekFrom::Start(0))?;
    out.read_to_end(&mut bpf)?;
    Ok(bpf)
}

/// libcontainer's reading of an action: the errno defaults to EPERM.
fn action(action: LinuxSeccompAction, errno: Option<u32>) -> std::io::Result<ScmpAction> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    ScmpAction::from_str(&scmp_name(&action), Some(errno))
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The `SCMP_*` name a spec enum serializes to, which libseccomp parses.
fn scmp_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxCapabilitiesBuilder, ProcessBuilder, SpecBuilder};

    fn docker_caps() -> Vec<String> {
        crate::caps::tweak(&[], &[]).unwrap()
    }

    fn spec_with(seccomp: LinuxSeccomp, nnp: Option<bool>) -> Spec {
        let caps: HashSet<Capability> = docker_caps()
            .iter()
            .map(|c| serde_json::from_value(c.as_str().into()).unwrap())
            .collect();
        let mut process = ProcessBuilder::default()
            .args(vec!["/hello".to_string()])
            .capabilities(
                LinuxCapabilitiesBuilder::default()
                    .bounding(caps.clone())
                    .effective(caps.clone())
                    .permitted(caps)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        process.set_no_new_privileges(nnp);
        SpecBuilder::default()
            .process(process)
            .linux(LinuxBuilder::default().seccomp(seccomp).build().unwrap())
            .build()
            .unwrap()
    }

    fn docker_profile() -> LinuxSeccomp {
        crate::seccomp::docker_default(&docker_caps()).unwrap()
    }

    #[test]
    fn docker_profile_is_taken_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = spec_with(docker_profile(), None);
        let filter = take(&mut spec, dir.path()).expect("Docker's profile is cacheable");
        assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
        // The init keeps CAP_SYS_ADMIN and CAP_SETPCAP until the filter is in.
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            let set = set.as_ref().unwrap();
            assert!(set.contains(&Capability::SysAdmin) && set.contains(&Capability::Setpcap));
        }
        let real = filter.drop_to.clone().expect("drops to the real set");
        assert!(!real
            .effective()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysAdmin));
        // Docker's profile for amd64 covers x86_64, x86 and x32: a large program.
        assert!(
            filter.program.len() > 500,
            "{} instructions",
            filter.program.len()
        );

        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "one cache entry, no temp files");
        let again = take(&mut spec_with(docker_profile(), None), dir.path()).unwrap();
        assert_eq!(again.program.len(), filter.program.len());
    }

    #[test]
    fn a_corrupt_entry_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let first = take(&mut spec_with(docker_profile(), None), dir.path()).unwrap();
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&entry).unwrap();
        bytes[100] ^= 0xff;
        std::fs::write(&entry, &bytes).unwrap();
        assert!(verified(&bytes).is_none());
        let second = take(&mut spec_with(docker_profile(), None), dir.path()).unwrap();
        assert_eq!(second.program.len(), first.program.len());
        assert!(verified(&std::fs::read(&entry).unwrap()).is_some());
    }

    #[test]
    fn unsound_orders_are_left_to_libcontainer() {
        let dir = tempfile::tempdir().unwrap();
        // noNewPrivileges: false makes libcontainer load late without no_new_privs.
        let mut spec = spec_with(docker_profile(), Some(false));
        assert!(take(&mut spec, dir.path()).is_none());
        assert!(spec.linux().as_ref().unwrap().seccomp().is_some());

        // A profile that blocks capset: the init could not drop its capabilities.
        let mut value = serde_json::to_value(docker_profile()).unwrap();
        for rule in value["syscalls"].as_array_mut().unwrap() {
            if let Some(names) = rule["names"].as_array_mut() {
                names.retain(|n| n != "capset");
            }
        }
        let blocked: LinuxSeccomp = serde_json::from_value(value).unwrap();
        assert!(!allows(&blocked, "capset"));
        assert!(take(&mut spec_with(blocked.clone(), None), dir.path()).is_none());
        // ...which is fine with no_new_privs: nothing is dropped after the filter.
        let nnp = take(&mut spec_with(blocked, Some(true)), dir.path()).unwrap();
        assert!(nnp.drop_to.is_none());
    }
}
