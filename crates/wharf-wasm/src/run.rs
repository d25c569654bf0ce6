//! Building the WASI context from a [`Guest`] grant list and running it.

use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::OnceLock;

use wasmtime::component::ResourceTable;
use wasmtime::{Linker, ResourceLimiter, Store, Trap, WasmBacktrace};
use wasmtime_wasi::cli::{InputFile, OutputFile};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::{BinaryKind, Compiled, Error, Guest, Outcome, Program, Result, Runtime};

/// Linkers are built once per runtime, on first use of each kind.
#[derive(Default)]
pub(crate) struct Linkers {
    p1: OnceLock<Linker<P1Host>>,
    p2: OnceLock<wasmtime::component::Linker<P2Host>>,
    /// WASI 0.3 commands: p3 and (async) p2, since a Rust guest's std
    /// still imports p2 interfaces.
    p3: OnceLock<wasmtime::component::Linker<P2Host>>,
}

/// Store data for a WASI p1 core module.
struct P1Host {
    wasi: WasiP1Ctx,
    limits: Limits,
}

/// Store data for a WASI p2 component.
struct P2Host {
    ctx: WasiCtx,
    table: ResourceTable,
    limits: Limits,
}

impl WasiView for P2Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Memory limit over all linear memories of the store. Refusing a grow
/// makes `memory.grow` return -1; the refusal is remembered so a later trap
/// is reported as a memory-limit kill.
pub(crate) struct Limits {
    limit: Option<u64>,
    total: u64,
    /// (current, desired) of the last allowed grow, undone if it then fails.
    last: (u64, u64),
    refused: bool,
}

impl Limits {
    pub(crate) fn new(limit: Option<u64>) -> Limits {
        Limits {
            limit,
            total: 0,
            last: (0, 0),
            refused: false,
        }
    }
}

/// What one table element costs the host (a pointer), for the memory limit.
const TABLE_ELEMENT_BYTES: u64 = 8;

impl Limits {
    /// Whether a memory or table may grow from `current` to `desired`
    /// bytes under the limit; a refusal is remembered.
    fn grow(&mut self, current: u64, desired: u64) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if total > limit {
            self.refused = true;
            return false;
        }
        self.total = total;
        self.last = (current, desired);
        true
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current as u64, desired as u64))
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        let (current, desired) = self.last;
        self.total = self.total.saturating_sub(desired).saturating_add(current);
        Ok(())
    }

    /// Tables count against the same limit: each element is a host
    /// pointer (8 bytes here), so a guest growing a table to millions of
    /// entries uses as much memory as one growing its linear memory.
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = |elements: usize| (elements as u64).saturating_mul(TABLE_ELEMENT_BYTES);
        Ok(self.grow(bytes(current), bytes(desired)))
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_grow_failed(error)
    }
}

/// Duplicates `fd` (close-on-exec) so the guest's stream owns its own
/// descriptor; writes go straight to the same open file, unbuffered.
fn dup_fd(fd: RawFd) -> Option<File> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on any fd number is memory-safe; a
    // non-negative result is a fresh descriptor we own.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    // SAFETY: `new` is a just-created, open descriptor owned by nobody else.
    (new >= 0).then(|| unsafe { File::from_raw_fd(new) })
}

fn wasi_builder(guest: &Guest, p1: bool) -> Result<WasiCtxBuilder> {
    let mut b = WasiCtxBuilder::new();
    // File operations run inline on this thread (no tokio blocking pool).
    b.allow_blocking_current_thread(true);
    if guest.stdin {
        if let Some(f) = dup_fd(0) {
            b.stdin(InputFile::new(f));
        }
    }
    match dup_fd(1) {
        Some(f) => b.stdout(OutputFile::new(f)),
        None => b.stdout(std::io::empty()),
    };
    match dup_fd(2) {
        Some(f) => b.stderr(OutputFile::new(f)),
        None => b.stderr(std::io::empty()),
    };
    grant(&mut b, guest, p1)?;
    Ok(b)
}

/// Puts what `guest` is granted (network, args, env, working directory,
/// directories) into `b`; everything else stays denied. Standard streams
/// are the caller's choice.
pub(crate) fn grant(b: &mut WasiCtxBuilder, guest: &Guest, p1: bool) -> Result<()> {
    // The network is a grant: explicitly all or nothing, whatever the
    // defaults are. Granted, it is the network of the namespace this
    // thread runs in (the container's own, made for it).
    let net = guest.network;
    b.allow_tcp(net)
        .allow_udp(net)
        .allow_ip_name_lookup(net)
        .socket_addr_check(move |_, _| Box::pin(async move { net }));

    b.args(&guest.args);
    b.envs(&guest.env);
    // At `/` (where every guest starts anyway) nothing is said, as under
    // `wasmtime run`: no initial-cwd, nothing added to the environment.
    if let Some(cwd) = guest
        .cwd
        .as_ref()
        .filter(|c| !c.trim_end_matches('/').is_empty())
    {
        if !p1 {
            b.initial_cwd(cwd);
        }
        // The guest's libc starts in `/` whatever the host says (p1 has no
        // cwd; wasi-libc ignores p2's initial-cwd): the directory is also
        // exported as PWD, which Go's wasip1 runtime and Wharf's examples
        // honour.
        if !guest.env.iter().any(|(k, _)| k == "PWD") {
            b.env("PWD", cwd);
        }
    }

    // A mount at `/` replaces the image's root, as on Linux: one `/`
    // preopen, never two (a guest takes the first it finds).
    let root = guest.root.as_ref().filter(|_| {
        !guest
            .mounts
            .iter()
            .any(|m| m.guest.trim_end_matches('/').is_empty())
    });
    if let Some(root) = root {
        let perms = if guest.root_writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        b.preopened_dir(root, "/", perms)
            .map_err(|e| Error::Preopen {
                host: root.clone(),
                guest: "/".into(),
                source: to_io(e),
            })?;
    }
    for m in &guest.mounts {
        if !m.guest.starts_with('/') || m.guest.split('/').any(|c| c == "..") {
            return Err(Error::MountPath(m.guest.clone()));
        }
        let perms = if m.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        b.preopened_dir(&m.host, &m.guest, perms)
            .map_err(|e| Error::Preopen {
                host: m.host.clone(),
                guest: m.guest.clone(),
                source: to_io(e),
            })?;
    }
    Ok(())
}

fn to_io(e: wasmtime::Error) -> std::io::Error {
    match e.downcast::<std::io::Error>() {
        Ok(io) => io,
        Err(e) => std::io::Error::other(format!("{e:#}")),
    }
}

pub(crate) fn run(rt: &Runtime, program: &Program, guest: &Guest) -> Result<Outcome> {
    // wasmtime-wasi runs the futures behind synchronous WASI calls on the
    // current tokio runtime, else on a global one with a worker per core
    // (sized after reading the cgroup's CPU quota). One guest needs one worker.
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .enable_io()
        .build()
        .map_err(|e| Error::Engine(format!("cannot start the WASI I/O runtime: {e}")))?;
    let outcome = match &program.compiled {
        Compiled::Component(c) if is_p3_command(c) => {
            tokio.block_on(run_component_p3(rt, c, guest))
        }
        _ => {
            let _entered = tokio.enter();
            run_program(rt, program, guest)
        }
    };
    // Nothing is left to wait for once the guest has returned.
    tokio.shutdown_background();
    outcome
}

fn run_program(rt: &Runtime, program: &Program, guest: &Guest) -> Result<Outcome> {
    match &program.compiled {
        Compiled::Module(module) => run_module(rt, module, guest),
        Compiled::Component(component) => run_component(rt, component, guest),
    }
}

/// Arms the store for interruption (and, with a CPU share, for pacing);
/// `Some` if an interrupt already fired. The returned ticker paces the
/// guest while it lives.
fn arm<T>(
    rt: &Runtime,
    store: &mut Store<T>,
    cpus: Option<f64>,
) -> (Option<Outcome>, Option<Ticker>) {
    // One epoch increment traps the guest. The deadline is set before the
    // flag is read, so an interrupt racing with this either bumps the epoch
    // past the deadline or is seen here.
    store.set_epoch_deadline(1);
    let ticker = match cpus {
        None => {
            store.epoch_deadline_trap();
            None
        }
        Some(share) => {
            // Every epoch tick (the ticker's, or an interrupt's) lands here:
            // an interrupt traps, a tick pauses the guest if it is ahead.
            let interrupt = rt.interrupt.clone();
            let mut pace = Pace::new(share);
            store.epoch_deadline_callback(move |_| {
                if interrupt.signal().is_some() {
                    return Err(Trap::Interrupt.into());
                }
                pace.wait();
                Ok(wasmtime::UpdateDeadline::Continue(1))
            });
            Some(Ticker::start(rt.engine.clone()))
        }
    };
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    let fired = rt
        .interrupt
        .signal()
        .map(|signal| Outcome::Interrupted { signal });
    (fired, ticker)
}

/// How often a paced guest is checked.
const PACE_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Bumps the engine's epoch every [`PACE_TICK`] until dropped.
pub(crate) struct Ticker(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Ticker {
    fn start(engine: wasmtime::Engine) -> Ticker {
        Ticker::start_every(engine, PACE_TICK)
    }

    pub(crate) fn start_every(engine: wasmtime::Engine, period: std::time::Duration) -> Ticker {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(period);
                engine.increment_epoch();
            }
        });
        Ticker(stop)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Keeps the guest's thread at `share` of one CPU: the CPU time it used
/// since it started against the wall time times the share.
struct Pace {
    share: f64,
    started: std::time::Instant,
    cpu_at_start: std::time::Duration,
}

impl Pace {
    fn new(share: f64) -> Pace {
        Pace {
            share,
            started: std::time::Instant::now(),
            cpu_at_start: thread_cpu_time(),
        }
    }

    /// Sleeps until the share allows the CPU time used so far.
    fn wait(&mut self) {
        let used = thread_cpu_time().saturating_sub(self.cpu_at_start);
        let due = used.div_f64(self.share);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn run_module(rt: &Runtime, module: &wasmtime::Module, guest: &Guest) -> Result<Outcome> {
    let linker = match rt.linkers.p1.get() {
        Some(l) => l,
        None => {
            let mut l = Linker::new(&rt.engine);
            wasmtime_wasi::p1::add_to_linker_sync(&mut l, |h: &mut P1Host| &mut h.wasi)
                .map_err(|e| Error::Engine(format!("cannot provide WASI preview 1: {e:#}")))?;
            let _ = rt.linkers.p1.set(l);
            rt.linkers.p1.get().expect("just set")
        }
    };
    let wasi = wasi_builder(guest, true)?.build_p1();
    let mut store = Store::new(
        &rt.engine,
        P1Host {
            wasi,
            limits: Limits::new(guest.memory_limit),
        },
    );
    store.limiter(|h| &mut h.limits);
    let (fired, _ticker) = arm(rt, &mut store, guest.cpus);
    if let Some(outcome) = fired {
        return Ok(outcome);
    }
    let instance = match linker.instantiate(&mut store, module) {
        Ok(i) => i,
        Err(e) => {
            let limits = &store.data().limits;
            return instantiate_failure(rt, e, limits, BinaryKind::Module);
        }
    };
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|_| Error::NoStart)?;
    let result = start.call(&mut store, ());
    Ok(finish(rt, result, &store.data().limits))
}

fn run_component(
    rt: &Runtime,
    component: &wasmtime::component::Component,
    guest: &Guest,
) -> Result<Outcome> {
    let linker = component_linker(rt, &rt.linkers.p2, "WASI preview 2", |l| {
        wasmtime_wasi::p2::add_to_linker_sync(l)
    })?;
    let mut store = component_store(rt, guest)?;
    let (fired, _ticker) = arm(rt, &mut store, guest.cpus);
    if let Some(outcome) = fired {
        return Ok(outcome);
    }
    let command = match Command::instantiate(&mut store, component, linker) {
        Ok(c) => c,
        Err(e) => {
            let limits = &store.data().limits;
            return instantiate_failure(rt, e, limits, BinaryKind::Component);
        }
    };
    let result = command.wasi_cli_run().call_run(&mut store);
    let result = match result {
        Ok(Ok(())) => Ok(()),
        // `run` returned `err`: the command failed without an explicit code.
        Ok(Err(())) => return Ok(Outcome::Exited(1)),
        Err(e) => Err(e),
    };
    Ok(finish(rt, result, &store.data().limits))
}

/// The component linker kept in `cell`, made by `add` on its first use.
fn component_linker<'a>(
    rt: &Runtime,
    cell: &'a OnceLock<wasmtime::component::Linker<P2Host>>,
    what: &str,
    add: impl FnOnce(&mut wasmtime::component::Linker<P2Host>) -> wasmtime::Result<()>,
) -> Result<&'a wasmtime::component::Linker<P2Host>> {
    if let Some(linker) = cell.get() {
        return Ok(linker);
    }
    let mut linker = wasmtime::component::Linker::new(&rt.engine);
    add(&mut linker).map_err(|e| Error::Engine(format!("cannot provide {what}: {e:#}")))?;
    Ok(cell.get_or_init(|| linker))
}

/// A store for a component guest: its WASI context from the grants, and
/// the memory limit.
fn component_store(rt: &Runtime, guest: &Guest) -> Result<Store<P2Host>> {
    let ctx = wasi_builder(guest, false)?.build();
    let mut store = Store::new(
        &rt.engine,
        P2Host {
            ctx,
            table: ResourceTable::new(),
            limits: Limits::new(guest.memory_limit),
        },
    );
    store.limiter(|h| &mut h.limits);
    Ok(store)
}

/// Whether `component` is a WASI 0.3 command (exports `wasi:cli/run@0.3`).
fn is_p3_command(component: &wasmtime::component::Component) -> bool {
    component
        .component_type()
        .exports(component.engine())
        .any(|(name, _)| name.starts_with("wasi:cli/run@0.3"))
}

/// A WASI 0.3 command: instantiated and run on the component model's
/// concurrent event loop, with the same grants and limits as a p2 one.
async fn run_component_p3(
    rt: &Runtime,
    component: &wasmtime::component::Component,
    guest: &Guest,
) -> Result<Outcome> {
    let linker = component_linker(rt, &rt.linkers.p3, "WASI 0.3", |l| {
        wasmtime_wasi::p2::add_to_linker_async(l)?;
        wasmtime_wasi::p3::add_to_linker(l)
    })?;
    let mut store = component_store(rt, guest)?;
    let (fired, _ticker) = arm(rt, &mut store, guest.cpus);
    if let Some(outcome) = fired {
        return Ok(outcome);
    }
    let command = match wasmtime_wasi::p3::bindings::Command::instantiate_async(
        &mut store, component, linker,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            let limits = &store.data().limits;
            return instantiate_failure(rt, e, limits, BinaryKind::Component);
        }
    };
    let result = store
        .run_concurrent(async |store| command.wasi_cli_run().call_run(store).await)
        .await
        .and_then(|r| r);
    let result = match result {
        Ok(Ok(())) => Ok(()),
        // `run` returned `err`: the command failed without an explicit code.
        Ok(Err(())) => return Ok(Outcome::Exited(1)),
        Err(e) => Err(e),
    };
    Ok(finish(rt, result, &store.data().limits))
}

/// Instantiation errors: a trap in a start function or a memory refusal is
/// an outcome; anything else (missing import, ...) is an error.
fn instantiate_failure(
    rt: &Runtime,
    e: wasmtime::Error,
    limits: &Limits,
    kind: BinaryKind,
) -> Result<Outcome> {
    if limits.refused || e.is::<Trap>() || e.is::<I32Exit>() {
        return Ok(finish(rt, Err(e), limits));
    }
    Err(Error::Instantiate {
        kind,
        message: format!("{e:#}"),
    })
}

/// Whether stdout or stderr is a pipe whose reading end is closed (the
/// kernel reports POLLERR on the writing end then).
fn output_closed() -> bool {
    [1, 2].into_iter().any(|fd| {
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: poll on one pollfd we own, no waiting.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        ready > 0 && poll.revents & libc::POLLERR != 0
    })
}

fn finish(rt: &Runtime, result: wasmtime::Result<()>, limits: &Limits) -> Outcome {
    let e = match result {
        Ok(()) => return Outcome::Exited(0),
        Err(e) => e,
    };
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return Outcome::Exited(exit.0);
    }
    if let Some(Trap::Interrupt) = e.downcast_ref::<Trap>() {
        if let Some(signal) = rt.interrupt.signal() {
            return Outcome::Interrupted { signal };
        }
    }
    if output_closed() {
        // The guest failed writing to a pipe nobody reads (`| head`): a
        // native process would have died of SIGPIPE there, quietly.
        return Outcome::Interrupted {
            signal: libc::SIGPIPE,
        };
    }
    let message = trap_message(&e);
    match (limits.refused, limits.limit) {
        (true, Some(limit)) => Outcome::MemoryLimit {
            limit,
            message: format!(
                "guest exceeded its memory limit of {} (--memory): {message}",
                human_bytes(limit)
            ),
        },
        _ => Outcome::Trapped { message },
    }
}

/// At most this many backtrace lines in a trap message (a stack overflow has
/// thousands of identical frames).
const MAX_BACKTRACE_LINES: usize = 24;

pub(crate) fn trap_message(e: &wasmtime::Error) -> String {
    let mut msg = match e.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => e.root_cause().to_string(),
    };
    if let Some(bt) = e.downcast_ref::<WasmBacktrace>() {
        let text = bt.to_string();
        let lines: Vec<&str> = text.lines().collect();
        for line in lines.iter().take(MAX_BACKTRACE_LINES) {
            msg.push('\n');
            msg.push_str(line);
        }
        if lines.len() > MAX_BACKTRACE_LINES {
            msg.push_str(&format!(
                "\n    ... {} more lines",
                lines.len() - MAX_BACKTRACE_LINES
            ));
        }
    }
    msg
}

fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    match n {
        n if n >= GIB && n % GIB == 0 => format!("{} GiB", n / GIB),
        n if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        n if n >= KIB && n % KIB == 0 => format!("{} KiB", n / KIB),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(128 << 10), "128 KiB");
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }
}
