//! Run one WebAssembly guest with an embedded wasmtime, deny-by-default.
//!
//! `wharf-wasm` knows nothing about images or namespaces. The caller hands
//! it bytes (or a file) and a [`Guest`] grant list, or an OCI runtime spec
//! that [`oci`] reads the grant list from (the Wasm executor's half of the
//! one container description); it compiles (or loads from the
//! compiled-code cache) and runs the guest:
//!
//! * WASI preview 1 core modules (`_start`) and WASI preview 2 components
//!   (`wasi:cli/command`) are both supported; [`binary_kind`] tells them apart.
//! * The guest sees nothing from the host except what [`Guest`] grants: its
//!   args, its env, an optional read-only root, explicit mounts and, when
//!   asked, stdin. stdout/stderr always go to the process's fds 1 and 2.
//! * Memory (`--memory`) is enforced by refusing `memory.grow`; an
//!   [`Interrupter`] stops a running guest at once (epoch interruption).
//!
//! Compiled code is cached under the `cache_dir` given to [`Runtime::new`] as
//! `<cache_dir>/<key>` (see [`Runtime::cache_key`]). Entries carry a SHA-256
//! trailer and are verified before use; anything that does not check out is
//! recompiled and rewritten atomically. The cache is always safe to delete.

mod cache;
pub mod oci;
mod run;
pub mod serve;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, Module};

/// Version of the embedded wasmtime; part of every cache key. Keep in sync
/// with the `=x.y.z` pin in the workspace `Cargo.toml`.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Bytes of each pooled memory and table a served instance leaves
/// resident for the next one (see [`Runtime::for_serving`]).
const KEEP_RESIDENT: usize = 2 << 20;

/// Bumped whenever the on-disk cache entry format or the engine settings
/// chosen in [`Runtime::config`] change: the key has no fingerprint of the
/// engine (that needs a compiler, see [`Runtime`]), so this names them.
/// Settings wasmtime checks itself (CPU features, tunables, its version)
/// make a stale entry fail to load, and it is compiled again.
const CACHE_FORMAT: &str =
    "wharf-wasm-cache-v2 epoch-interruption component-model no-backtrace-details";

/// Errors from preparing or starting a guest. A guest that *runs* and then
/// fails (trap, exit code, limit, interrupt) is not an error: see [`Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The wasmtime engine could not be configured on this host.
    #[error("cannot set up the WebAssembly engine on this host: {0}")]
    Engine(String),

    /// A wasm/wat file could not be read.
    #[error("cannot read WebAssembly file {path}: {source}; check the path and its permissions")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The bytes are neither a wasm binary nor WAT text.
    #[error("{what} is not WebAssembly: expected a binary starting with the \\0asm magic or .wat text; check the image's entrypoint/command")]
    NotWasm { what: String },

    /// The bytes start with `\0asm` but carry a version/layer this engine does not know.
    #[error("{what} has an unsupported WebAssembly version {version:02x?}: only core modules (version 1) and components (0x0d, layer 1) are supported; rebuild it with a current toolchain")]
    UnsupportedVersion { what: String, version: [u8; 4] },

    /// Validation or compilation failed.
    #[error("cannot compile the WebAssembly {kind}: {message}")]
    Compile { kind: BinaryKind, message: String },

    /// A mount or the root directory could not be preopened.
    #[error("cannot give the guest {host} at {guest}: {source}; check that the host directory exists and is a directory")]
    Preopen {
        host: PathBuf,
        guest: String,
        #[source]
        source: std::io::Error,
    },

    /// A mount's guest path is not usable.
    #[error("invalid guest path {0:?} for a mount: it must be an absolute path such as /data")]
    MountPath(String),

    /// A core module without a `_start` export (a reactor or a library).
    #[error("the module has no `_start` export, so it is not a WASI command (reactors and libraries cannot be run); build it as a command, e.g. `--target wasm32-wasip1` with a `main`")]
    NoStart,

    /// Linking/instantiation failed for a reason other than a guest trap,
    /// typically an import this engine does not provide.
    #[error("cannot start the WebAssembly {kind}: {message}; Wharf provides only WASI preview 1 (wasi_snapshot_preview1) to modules and WASI 0.2 (wasi:cli/command) to components")]
    Instantiate { kind: BinaryKind, message: String },

    /// The module args\[0\] names is not in the container's filesystem.
    #[error("the Wasm module {path} (args[0]) {why} in the image; check the image's ENTRYPOINT/CMD or the command you gave")]
    NoModule { path: String, why: &'static str },

    /// The port an HTTP component is to be served on cannot be listened on.
    #[error("cannot serve HTTP on port {port}: {source}; pick another port with -e WHARF_HTTP_PORT=PORT")]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },

    /// The runtime spec lacks what a Wasm guest needs.
    #[error("invalid runtime spec for a Wasm guest: {0}")]
    Spec(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a wasm binary is, read from its 8-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryKind {
    /// A core module (WASI preview 1).
    Module,
    /// A component (WASI preview 2 `wasi:cli/command`).
    Component,
}

impl fmt::Display for BinaryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinaryKind::Module => "module",
            BinaryKind::Component => "component",
        })
    }
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Module vs component from a binary header (at least 8 bytes): `\0asm`
/// followed by `01 00 00 00` is a core module, `\0asm` followed by
/// `0d 00 01 00` (component encoding, layer 1) a component. `None` otherwise.
pub fn binary_kind(header: &[u8]) -> Option<BinaryKind> {
    if header.len() < 8 || &header[..4] != WASM_MAGIC {
        return None;
    }
    match header[4..8] {
        [0x01, 0x00, 0x00, 0x00] => Some(BinaryKind::Module),
        [0x0d, 0x00, 0x01, 0x00] => Some(BinaryKind::Component),
        _ => None,
    }
}

/// Kind of `bytes` for compilation: binary header, or WAT text (a component
/// when its first form is `(component`).
fn source_kind(bytes: &[u8], what: &str) -> Result<BinaryKind> {
    if bytes.len() >= 4 && &bytes[..4] == WASM_MAGIC {
        return binary_kind(bytes).ok_or_else(|| {
            let mut version = [0u8; 4];
            let tail = &bytes[4..bytes.len().min(8)];
            version[..tail.len()].copy_from_slice(tail);
            Error::UnsupportedVersion {
                what: what.to_string(),
                version,
            }
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Error::NotWasm {
        what: what.to_string(),
    })?;
    let first = skip_wat_trivia(text);
    if let Some(rest) = first.strip_prefix('(') {
        let rest = skip_wat_trivia(rest);
        if rest.starts_with("component") {
            return Ok(BinaryKind::Component);
        }
        return Ok(BinaryKind::Module);
    }
    Err(Error::NotWasm {
        what: what.to_string(),
    })
}

/// Skips whitespace, `;; line` and `(; block ;)` comments.
fn skip_wat_trivia(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix(";;") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(mut rest) = s.strip_prefix("(;") {
            let mut depth = 1usize;
            while depth > 0 && !rest.is_empty() {
                if let Some(r) = rest.strip_prefix("(;") {
                    depth += 1;
                    rest = r;
                } else if let Some(r) = rest.strip_prefix(";)") {
                    depth -= 1;
                    rest = r;
                } else {
                    let mut chars = rest.chars();
                    chars.next();
                    rest = chars.as_str();
                }
            }
            s = rest;
        } else {
            return s;
        }
    }
}

/// A compiled guest, ready to [`Runtime::run`] (any number of times).
#[derive(Clone)]
pub struct Program {
    pub kind: BinaryKind,
    /// True when the compiled code came from the on-disk cache.
    pub from_cache: bool,
    compiled: Compiled,
    cache_warning: Option<String>,
}

#[derive(Clone)]
enum Compiled {
    Module(Module),
    Component(Component),
}

impl Program {
    /// The `wasi:http` world this program serves, if it is a component
    /// exporting an HTTP handler; such a program is served, not run.
    pub fn http_world(&self) -> Option<serve::HttpWorld> {
        match &self.compiled {
            Compiled::Component(c) => serve::http_world(c),
            Compiled::Module(_) => None,
        }
    }

    /// Why the compiled code could not be written to the cache, if it could
    /// not (the program is still usable; the next start compiles again).
    pub fn cache_warning(&self) -> Option<&str> {
        self.cache_warning.as_deref()
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("kind", &self.kind)
            .field("from_cache", &self.from_cache)
            .field("cache_warning", &self.cache_warning)
            .finish_non_exhaustive()
    }
}

/// A host directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    /// Absolute path inside the guest, e.g. `/data`.
    pub guest: String,
    pub read_only: bool,
}

/// Everything the guest is granted. Anything not listed here is denied.
#[derive(Debug, Clone, Default)]
pub struct Guest {
    /// argv, argv\[0\] included.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Working directory. WASI p2/p3: `initial-cwd`. WASI p1 has no cwd,
    /// and wasi-libc ignores `initial-cwd`, so a directory other than `/`
    /// is also exported as `PWD` (Go's wasip1 convention) unless `env`
    /// sets it; at `/` the environment is exactly `env`.
    pub cwd: Option<String>,
    /// The container's tree, preopened at `/` (the one `/` preopen).
    pub root: Option<PathBuf>,
    /// Whether the guest may change its tree (a container layer under it);
    /// else `/` is preopened read-only.
    pub root_writable: bool,
    /// Extra directories preopened at their guest paths.
    pub mounts: Vec<Mount>,
    /// Inherit the process stdin (else the guest reads EOF).
    pub stdin: bool,
    /// Bytes of linear memory (all memories together) the guest may have.
    pub memory_limit: Option<u64>,
    /// CPU share in CPUs (`--cpus 0.5`): the guest's thread is paused at
    /// epoch checks whenever it has used more than this share of the time
    /// since it started. None: unlimited.
    pub cpus: Option<f64>,
    /// TCP, UDP and name lookup (wasi:sockets), in whatever network
    /// namespace the thread running the guest is in. Denied when false.
    pub network: bool,
}

/// How a guest run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Returned from main (0), `proc_exit(n)` or `wasi:cli/exit`.
    Exited(i32),
    /// The guest trapped (unreachable, stack overflow, out-of-bounds, ...).
    Trapped { message: String },
    /// A memory grow was refused by the memory limit and the guest then
    /// trapped (or could not even be instantiated).
    MemoryLimit { limit: u64, message: String },
    /// The [`Interrupter`] fired.
    Interrupted { signal: i32 },
}

impl Outcome {
    /// Process exit status for this outcome: `Exited(n)` gives n, a trap 134
    /// (like an abort), a memory-limit kill 137 (like the OOM killer), an
    /// interrupt by signal s 128+s.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Exited(n) => *n,
            Outcome::Trapped { .. } => 134,
            Outcome::MemoryLimit { .. } => 137,
            Outcome::Interrupted { signal } => 128 + signal,
        }
    }
}

/// Stops a running guest from any thread (or a signal handler: it only
/// does atomic stores). The stop is sticky: a guest started after
/// `interrupt` is stopped before it runs any code.
#[derive(Clone)]
pub struct Interrupter {
    engine: Engine,
    state: Arc<InterruptState>,
}

#[derive(Default)]
struct InterruptState {
    fired: AtomicBool,
    signal: AtomicI32,
}

impl InterruptState {
    fn signal(&self) -> Option<i32> {
        self.fired
            .load(Ordering::SeqCst)
            .then(|| self.signal.load(Ordering::SeqCst))
    }
}

impl Interrupter {
    /// Records `signal` and bumps the engine epoch so a guest running wasm
    /// code traps at its next epoch check (loop headers, function entries).
    /// A guest blocked inside a host call (e.g. reading stdin) stops when
    /// that call returns.
    pub fn interrupt(&self, signal: i32) {
        self.state.signal.store(signal, Ordering::SeqCst);
        self.state.fired.store(true, Ordering::SeqCst);
        // Pairs with the fence in `run::arm`: whoever sees the new epoch
        // also sees the flag.
        std::sync::atomic::fence(Ordering::SeqCst);
        self.engine.increment_epoch();
    }

    /// The signal recorded by [`interrupt`](Self::interrupt), if it fired.
    pub fn signal(&self) -> Option<i32> {
        self.state.signal()
    }
}

impl fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupter")
            .field("signal", &self.signal())
            .finish()
    }
}

/// A wasmtime engine plus the compiled-code cache directory.
///
/// The engine that runs guests has no compiler: making one (Cranelift's
/// ISA, with host CPU features probed through `cpuid`, which traps to the
/// hypervisor in a VM) was a tenth of a warm start, and a warm start only
/// maps cached code. A compiling engine with the same settings is made the
/// first time something must be compiled; its output is cached, then loaded
/// into the running engine like any other cache entry.
pub struct Runtime {
    engine: Engine,
    config: Config,
    compiler: OnceLock<std::result::Result<Engine, String>>,
    cache_dir: PathBuf,
    interrupt: Arc<InterruptState>,
    linkers: run::Linkers,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Sets up the engine. Cheap: no config files, no directory scans, no
    /// thread pools; the cache directory is created on first write.
    pub fn new(cache_dir: PathBuf) -> Result<Runtime> {
        Runtime::with_config(cache_dir, Runtime::config(), Arc::default())
    }

    /// The engine settings every Wharf engine shares; [`CACHE_FORMAT`]
    /// names them in the code cache's key.
    fn config() -> Config {
        let mut config = Config::new();
        // Interruption by epoch changes the compiled code (checks at loop
        // headers and function entries), so it is always on.
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        // Do not let a WASMTIME_BACKTRACE_DETAILS in the host env change
        // behaviour: traps carry function names/offsets, no DWARF parsing.
        config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
        // Default max_wasm_stack (512 KiB): deep recursion is a clean trap.
        config
    }

    fn with_config(
        cache_dir: PathBuf,
        config: Config,
        interrupt: Arc<InterruptState>,
    ) -> Result<Runtime> {
        let mut running = config.clone();
        running.enable_compiler(false);
        let engine = Engine::new(&running).map_err(|e| Error::Engine(format!("{e:#}")))?;
        Ok(Runtime {
            engine,
            config,
            compiler: OnceLock::new(),
            cache_dir,
            interrupt,
            linkers: run::Linkers::default(),
        })
    }

    /// A runtime for serving HTTP: the same engine settings (so the same
    /// cached code) on the pooling allocator, which keeps instance slots
    /// and copy-on-write memory images ready, so an instance per request
    /// costs microseconds. It shares this runtime's interrupter.
    ///
    /// Where the kernel has `PAGEMAP_SCAN` (Linux 6.7+), a freed slot's
    /// memory is reset by rewriting just the pages the instance touched
    /// (up to [`KEEP_RESIDENT`] bytes) instead of `madvise`: no TLB
    /// shootdowns and no page faults on the next request (measured here:
    /// 5 page faults and ~100 µs of CPU per request down to 0 and ~75 µs).
    /// Without it the pool resets with `madvise`; without the address
    /// space for a pool, instances are allocated on demand.
    pub fn for_serving(&self) -> Result<Runtime> {
        let pooled = |pagemap: bool| {
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            if pagemap {
                pool.pagemap_scan(wasmtime::Enabled::Yes)
                    .linear_memory_keep_resident(KEEP_RESIDENT)
                    .table_keep_resident(KEEP_RESIDENT);
            }
            let mut config = Runtime::config();
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
            config
        };
        let make =
            |config| Runtime::with_config(self.cache_dir.clone(), config, self.interrupt.clone());
        make(pooled(true))
            .or_else(|_| make(pooled(false)))
            .or_else(|_| make(Runtime::config()))
    }

    /// The directory compiled code is cached in.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The engine that compiles: this runtime's settings with Cranelift,
    /// made on first use.
    fn compiler(&self) -> Result<&Engine> {
        self.compiler
            .get_or_init(|| Engine::new(&self.config).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| Error::Engine(e.clone()))
    }

    /// Cache file name for a module digest: hex SHA-256 over the digest, the
    /// wasmtime version, the architecture and [`CACHE_FORMAT`].
    pub fn cache_key(&self, module_digest: &str) -> String {
        let mut h = Sha256::new();
        for part in [
            CACHE_FORMAT.as_bytes(),
            module_digest.as_bytes(),
            WASMTIME_VERSION.as_bytes(),
            std::env::consts::ARCH.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        hex::encode(h.finalize())
    }

    /// Compiled code for `wasm` (binary or WAT text) whose content digest is
    /// `module_digest`. A verified cache entry is deserialized; otherwise the
    /// bytes are compiled and the cache entry (re)written atomically.
    pub fn prepare(&self, wasm: &[u8], module_digest: &str) -> Result<Program> {
        let key = self.cache_key(module_digest);
        if let Some(program) = self.load_cached(&key) {
            return Ok(program);
        }
        self.compile_and_store(wasm, "the WebAssembly input", &key)
    }

    /// Makes the compiled code cached for `module_digest` also the entry of
    /// `also` (another name for the same bytes), with a hard link: entries
    /// are never changed in place. False when there is no such entry.
    pub fn alias(&self, module_digest: &str, also: &str) -> bool {
        let from = self.cache_dir.join(self.cache_key(module_digest));
        let to = self.cache_dir.join(self.cache_key(also));
        to.exists() || std::fs::hard_link(from, &to).is_ok()
    }

    /// Like [`prepare`](Self::prepare) for a file (`.wasm` or `.wat`). With a
    /// digest, a cache hit does not read the file at all; without one the
    /// digest is `sha256:<hex>` of the file's bytes.
    pub fn prepare_file(&self, path: &Path, module_digest: Option<&str>) -> Result<Program> {
        let read = || {
            std::fs::read(path).map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let what = path.display().to_string();
        match module_digest {
            Some(digest) => {
                let key = self.cache_key(digest);
                if let Some(program) = self.load_cached(&key) {
                    return Ok(program);
                }
                self.compile_and_store(&read()?, &what, &key)
            }
            None => {
                let bytes = read()?;
                let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
                let key = self.cache_key(&digest);
                if let Some(program) = self.load_cached(&key) {
                    return Ok(program);
                }
                self.compile_and_store(&bytes, &what, &key)
            }
        }
    }

    fn load_cached(&self, key: &str) -> Option<Program> {
        let (kind, compiled) = cache::load(&self.engine, &self.cache_dir.join(key))?;
        Some(Program {
            kind,
            from_cache: true,
            compiled,
            cache_warning: None,
        })
    }

    fn compile_and_store(&self, wasm: &[u8], what: &str, key: &str) -> Result<Program> {
        let kind = source_kind(wasm, what)?;
        let compile_err = |e: wasmtime::Error| Error::Compile {
            kind,
            message: format!("{e:#}"),
        };
        let compiler = self.compiler()?;
        let serialized = match kind {
            BinaryKind::Module => Module::new(compiler, wasm).and_then(|m| m.serialize()),
            BinaryKind::Component => Component::new(compiler, wasm).and_then(|c| c.serialize()),
        }
        .map_err(compile_err)?;
        // SAFETY: the bytes are wasmtime's own output of a moment ago, from
        // an engine with the same settings as the one loading them.
        let compiled = match kind {
            BinaryKind::Module => {
                unsafe { Module::deserialize(&self.engine, &serialized) }.map(Compiled::Module)
            }
            BinaryKind::Component => unsafe { Component::deserialize(&self.engine, &serialized) }
                .map(Compiled::Component),
        }
        .map_err(|e| Error::Engine(format!("cannot load freshly compiled code: {e:#}")))?;
        let cache_warning = cache::store(&self.cache_dir, key, kind, serialized)
            .err()
            .map(|e| {
                format!(
                    "could not cache compiled code in {}: {e}; the guest will be compiled again next time",
                    self.cache_dir.display()
                )
            });
        Ok(Program {
            kind,
            from_cache: false,
            compiled,
            cache_warning,
        })
    }

    /// A handle that stops guests run by this runtime, from any thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter {
            engine: self.engine.clone(),
            state: self.interrupt.clone(),
        }
    }

    /// Runs `program` to completion with the grants in `guest`.
    pub fn run(&self, program: &Program, guest: &Guest) -> Result<Outcome> {
        run::run(self, program, guest)
    }
}
