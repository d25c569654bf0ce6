//! Shared helpers for Wharf's end-to-end tests.
//!
//! Every test gets its own [`Wharf`]: a fresh temporary store (`--root`), so
//! tests in one binary can run in parallel threads. Guest programs come from
//! `examples/`, built by `scripts/setup.sh`; a missing artifact fails the test
//! (it never skips).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// The `wharf` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_wharf");

/// How long one wharf command may take before the test gives up on it.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(180);

/// The greeting of the Wasm build of examples/hello.
pub const WASM_GREETING: &str = "Hello from WebAssembly!";
/// The contents of examples/hello/greeting.txt (at /etc/greeting.txt in images).
pub const GREETING_FILE: &str = "Greetings from inside the image!\n";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn examples_dir() -> PathBuf {
    repo_root().join("examples")
}

/// Path of a built example artifact (relative to examples/), failing the test
/// with instructions when it has not been built.
pub fn artifact(rel: &str) -> PathBuf {
    let p = examples_dir().join(rel);
    assert!(
        p.is_file(),
        "missing example artifact {}: run `bash scripts/setup.sh` first \
         (it builds the example guests for wasm32-wasip1, wasm32-wasip2 and musl)",
        p.display()
    );
    p
}

/// The example hello directory, checked to hold the artifacts a build needs.
pub fn hello_context() -> PathBuf {
    artifact("hello/hello.wasm");
    artifact("hello/hello-p2.wasm");
    artifact("hello/hello");
    examples_dir().join("hello")
}

pub fn hello_wasm_bytes() -> Vec<u8> {
    std::fs::read(artifact("hello/hello.wasm")).unwrap()
}

/// Human-readable dump of a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `cmd` to completion, feeding `input` on stdin, killing it and failing
/// the test after `timeout`. Also fails when the command exits but something
/// it started (a detached monitor, say) keeps its stdout/stderr pipe open.
pub fn run_with_timeout(mut cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Output {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let out_rx = drain(child.stdout.take().unwrap());
    let err_rx = drain(child.stderr.take().unwrap());
    let status = wait_timeout(&mut child, timeout)
        .unwrap_or_else(|| panic!("{shown} did not finish within {timeout:?}"));
    // Once the process is gone its pipes should close promptly.
    let grace = Duration::from_secs(10);
    let out = out_rx.recv_timeout(grace).unwrap_or_else(|_| {
        panic!("{shown} exited ({status:?}) but its stdout stayed open: a process it started kept the pipe")
    });
    let err = err_rx.recv_timeout(grace).unwrap_or_else(|_| {
        panic!("{shown} exited ({status:?}) but its stderr stayed open: a process it started kept the pipe")
    });
    Output {
        status,
        stdout: out,
        stderr: err,
    }
}

fn drain(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Waits for `child` up to `timeout`; on timeout kills it and returns None.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` every 50 ms until it returns Some or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

pub fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// One Wharf store in a temporary directory, and the commands run against it.
pub struct Wharf {
    /// The store (`--root`).
    pub dir: TempDir,
    /// Scratch space for volumes, contexts and archives.
    pub work: TempDir,
}

impl Default for Wharf {
    fn default() -> Self {
        Self::new()
    }
}

impl Wharf {
    pub fn new() -> Wharf {
        let dir = tempfile::Builder::new()
            .prefix("wharf-e2e-")
            .tempdir()
            .unwrap();
        let work = tempfile::Builder::new()
            .prefix("wharf-e2e-work-")
            .tempdir()
            .unwrap();
        Wharf { dir, work }
    }

    /// The store directory passed as `--root`.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Where this store's Linux containers keep their runtime state.
    pub fn state_root(&self) -> PathBuf {
        wharf_engine::Engine::runtime_dir(self.root())
    }

    pub fn root_str(&self) -> &str {
        self.root().to_str().unwrap()
    }

    /// A scratch directory outside the store, for volumes, contexts etc.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.work.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// `wharf --root <root> ARGS` (WHARF_ROOT removed from its environment).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.env_remove("WHARF_ROOT")
            .arg("--root")
            .arg(self.root())
            .args(args);
        c
    }

    /// Runs a command and returns its output, whatever the exit status.
    pub fn cmd(&self, args: &[&str]) -> Output {
        run_with_timeout(self.command(args), None, CMD_TIMEOUT)
    }

    /// Like [`Wharf::cmd`] with data on stdin.
    pub fn cmd_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_with_timeout(self.command(args), Some(input), CMD_TIMEOUT)
    }

    /// Like [`Wharf::cmd`] with extra environment variables for wharf itself.
    pub fn cmd_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = self.command(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        run_with_timeout(c, None, CMD_TIMEOUT)
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "`wharf {}` failed\n{}",
            args.join(" "),
            describe(&out)
        );
        stdout(&out)
    }

    /// Runs a command that must fail the Wharf way: non-zero exit and an
    /// `Error: ` message on stderr. Returns the output.
    pub fn fails(&self, args: &[&str]) -> Output {
        let out = self.cmd(args);
        assert_error(&out, &format!("wharf {}", args.join(" ")));
        out
    }

    /// `wharf build --platform wasi/wasm -t TAG examples/hello`.
    pub fn build_hello_as(&self, tag: &str) -> String {
        let ctx = hello_context();
        self.ok(&[
            "build",
            "--platform",
            "wasi/wasm",
            "-t",
            tag,
            ctx.to_str().unwrap(),
        ])
    }

    /// Builds examples/hello for Wasm as `hello:1`.
    pub fn build_hello(&self) -> String {
        self.build_hello_as("hello:1")
    }

    /// Builds `dockerfile` (its text) in a fresh context holding hello.wasm
    /// and greeting.txt. Returns the output, whatever the status.
    pub fn build_text(&self, dockerfile: &str, extra: &[&str]) -> Output {
        let ctx = self.context_with_hello(dockerfile);
        let mut args = vec!["build"];
        args.extend_from_slice(extra);
        args.push(ctx.to_str().unwrap());
        self.cmd(&args)
    }

    /// A fresh build context with `Dockerfile`, `hello.wasm` and `greeting.txt`.
    pub fn context_with_hello(&self, dockerfile: &str) -> PathBuf {
        let ctx = tempfile::Builder::new()
            .prefix("ctx-")
            .tempdir_in(self.scratch("contexts"))
            .unwrap()
            .keep();
        std::fs::copy(artifact("hello/hello.wasm"), ctx.join("hello.wasm")).unwrap();
        std::fs::write(ctx.join("greeting.txt"), GREETING_FILE).unwrap();
        std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        ctx
    }

    /// This store's default network (`bridge`): its subnet's first three
    /// octets with the dot ("10.123.45."), and its gateway. Each store has a
    /// /24 of its own (the host's default store has 10.88.0.0/16).
    pub fn default_net(&self) -> (String, String) {
        let v: Value = serde_json::from_str(&self.ok(&["network", "inspect", "bridge"])).unwrap();
        let config = &v[0]["IPAM"]["Config"][0];
        let subnet = config["Subnet"].as_str().unwrap();
        let prefix = subnet.rsplit_once('.').unwrap().0.to_string() + ".";
        (prefix, config["Gateway"].as_str().unwrap().to_string())
    }

    /// `wharf images --format json` without the one field that changes
    /// by itself (CreatedSince, "5 seconds ago"), for before/after checks.
    pub fn images_json(&self) -> String {
        let out = self.ok(&["images", "--format", "json"]);
        json_lines(&out)
            .into_iter()
            .map(|mut v| {
                if let Some(o) = v.as_object_mut() {
                    o.remove("CreatedSince");
                }
                format!("{v}\n")
            })
            .collect()
    }

    /// `wharf images --format json`, parsed (one object per line).
    pub fn images(&self) -> Vec<Value> {
        json_lines(&self.images_json())
    }

    /// `wharf ps -a --format json`, parsed (one object per line).
    pub fn ps_all(&self) -> Vec<Value> {
        json_lines(&self.ok(&["ps", "-a", "--format", "json"]))
    }

    /// The single object `wharf inspect NAME` describes.
    pub fn inspect(&self, name: &str) -> Value {
        let out = self.ok(&["inspect", name]);
        let v: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("inspect output is not JSON ({e}):\n{out}"));
        let arr = v.as_array().expect("inspect prints a JSON array");
        assert_eq!(arr.len(), 1, "inspect {name}: {out}");
        arr[0].clone()
    }

    /// Waits until container `name` is no longer running; returns its inspect.
    pub fn wait_exited(&self, name: &str, timeout: Duration) -> Value {
        let mut last = Value::Null;
        poll(timeout, || {
            last = self.inspect(name);
            (last["State"]["Running"] == json!(false)).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("container {name} still running after {timeout:?}: {last:#}"))
    }

    /// Loads an archive file; returns stdout.
    pub fn load(&self, archive: &Path) -> String {
        self.ok(&["load", "-i", archive.to_str().unwrap()])
    }

    /// Writes `bytes` to a scratch file and returns its path.
    pub fn scratch_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.scratch("files").join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Wharf {
    /// Best effort: no container of this test outlives it (a `spin` left
    /// behind would burn a core).
    fn drop(&mut self) {
        let mut c = self.command(&["ps", "-a", "-q"]);
        c.stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null());
        let Ok(mut child) = c.spawn() else { return };
        let mut ids = String::new();
        if let Some(mut so) = child.stdout.take() {
            let _ = so.read_to_string(&mut ids);
        }
        if wait_timeout(&mut child, Duration::from_secs(20)).is_none() {
            return;
        }
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let mut c = self.command(&args);
            c.stdout(Stdio::null())
                .stderr(Stdio::null())
                .stdin(Stdio::null());
            if let Ok(mut child) = c.spawn() {
                let _ = wait_timeout(&mut child, Duration::from_secs(20));
            }
        }
        // Spare network namespaces (wharf-net's pool) go with their
        // networks, before the state that describes them.
        let mut c = self.command(&["network", "prune", "-f"]);
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .stdin(Stdio::null());
        if let Ok(mut child) = c.spawn() {
            let _ = wait_timeout(&mut child, Duration::from_secs(20));
        }
        // The runtime state of the store lives on a tmpfs outside it.
        let state = self.state_root();
        if !state.starts_with(self.root()) {
            let _ = std::fs::remove_dir_all(state);
        }
    }
}

/// Asserts the Wharf error convention: failure, `Error: ` on stderr.
pub fn assert_error(out: &Output, what: &str) {
    assert!(
        !out.status.success(),
        "`{what}` should have failed\n{}",
        describe(out)
    );
    assert!(
        out.status.code().is_some(),
        "`{what}` died from a signal instead of exiting with an error\n{}",
        describe(out)
    );
    assert!(
        stderr(out).contains("Error: "),
        "`{what}`: expected an `Error: ` message on stderr\n{}",
        describe(out)
    );
}

/// Parses output holding one JSON object per line.
pub fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// Output lines, trailing whitespace trimmed.
pub fn lines(s: &str) -> Vec<String> {
    s.lines().map(|l| l.trim_end().to_string()).collect()
}

// ---------------------------------------------------------------------------
// Hand-made OCI archives, for load tests.

pub const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MT_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MT_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MT_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MT_WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const MT_WASM_LAYER: &str = "application/wasm";

/// An image to pack as an OCI layout / archive.
pub struct OciImage {
    pub config_media_type: String,
    pub config: Vec<u8>,
    /// (media type, blob bytes)
    pub layers: Vec<(String, Vec<u8>)>,
    /// org.opencontainers.image.ref.name of the manifest in index.json.
    pub ref_name: String,
}

/// The files of an OCI image layout holding `img`: path -> bytes. Tests
/// tamper with this map before packing it with [`tar_of`].
pub struct Layout {
    pub files: BTreeMap<String, Vec<u8>>,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
}

impl Layout {
    pub fn blob_path(hex: &str) -> String {
        format!("blobs/sha256/{hex}")
    }

    /// Packs the layout as an OCI archive (a tar of the layout directory).
    pub fn archive(&self) -> Vec<u8> {
        tar_of(&self.files)
    }
}

pub fn layout(img: &OciImage) -> Layout {
    let mut files = BTreeMap::new();
    files.insert(
        "oci-layout".to_string(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    );
    let config_digest = sha256_hex(&img.config);
    files.insert(Layout::blob_path(&config_digest), img.config.clone());
    let mut layer_descs = Vec::new();
    let mut layer_digests = Vec::new();
    for (mt, data) in &img.layers {
        let d = sha256_hex(data);
        files.insert(Layout::blob_path(&d), data.clone());
        layer_descs.push(json!({
            "mediaType": mt,
            "digest": format!("sha256:{d}"),
            "size": data.len(),
        }));
        layer_digests.push(d);
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {
            "mediaType": img.config_media_type,
            "digest": format!("sha256:{config_digest}"),
            "size": img.config.len(),
        },
        "layers": layer_descs,
    }))
    .unwrap();
    let manifest_digest = sha256_hex(&manifest);
    files.insert(Layout::blob_path(&manifest_digest), manifest.clone());
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [{
            "mediaType": MT_MANIFEST,
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": img.ref_name},
        }],
    }))
    .unwrap();
    files.insert("index.json".to_string(), index);
    Layout {
        files,
        manifest_digest,
        config_digest,
        layer_digests,
    }
}

/// A tar holding `files` (path -> bytes), with parent directory entries.
pub fn tar_of(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for path in files.keys() {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            acc.push_str(part);
            acc.push('/');
            if dirs.insert(acc.clone()) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(0);
                b.append_data(&mut h, &acc, std::io::empty()).unwrap();
            }
        }
        let data = &files[path];
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(if path.ends_with(".wasm") || !path.contains('.') {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, path, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// A layer tar holding /hello.wasm (the example module) and /etc/greeting.txt.
pub fn hello_layer_tar() -> Vec<u8> {
    let mut files = BTreeMap::new();
    files.insert("hello.wasm".to_string(), hello_wasm_bytes());
    files.insert(
        "etc/greeting.txt".to_string(),
        GREETING_FILE.as_bytes().to_vec(),
    );
    tar_of(&files)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd_compress(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// An image config for a WASI p1 image whose layers have the given
/// uncompressed tars (for diff_ids), with ENTRYPOINT ["/hello.wasm"].
pub fn wasm_config(uncompressed_layers: &[&[u8]]) -> Vec<u8> {
    let diff_ids: Vec<String> = uncompressed_layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "wasm",
        "os": "wasip1",
        "config": {"Entrypoint": ["/hello.wasm"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "e2e test"}],
    }))
    .unwrap()
}

/// A Wasm image with one layer: `layer_tar` stored with media type `mt`
/// (compressed to match it).
pub fn wasm_image(layer_tar: Vec<u8>, mt: &str, ref_name: &str) -> OciImage {
    let blob = match mt {
        MT_LAYER_GZIP => gzip(&layer_tar),
        MT_LAYER_ZSTD => zstd_compress(&layer_tar),
        _ => layer_tar.clone(),
    };
    OciImage {
        config_media_type: MT_CONFIG.to_string(),
        config: wasm_config(&[&layer_tar]),
        layers: vec![(mt.to_string(), blob)],
        ref_name: ref_name.to_string(),
    }
}

/// The image `hello_layer_tar` makes: a known-good baseline for load tests.
pub fn good_image(ref_name: &str) -> OciImage {
    wasm_image(hello_layer_tar(), MT_LAYER_TAR, ref_name)
}

/// Appends a raw tar entry, bypassing the tar crate's path checks (so tests
/// can make hostile layers). `name`/`link` go into the header verbatim.
pub fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    link: Option<&str>,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    {
        let old = h.as_old_mut();
        assert!(name.len() < old.name.len());
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            assert!(link.len() < old.linkname.len());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    if kind == tar::EntryType::Char {
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// A layer tar with the hello files plus raw hostile `extra` entries
/// appended: (name, kind, link target, data).
pub fn hostile_layer(extra: &[(&str, tar::EntryType, Option<&str>, &[u8])]) -> Vec<u8> {
    let good = hello_layer_tar();
    // Re-append the good entries, then the hostile ones, in one archive.
    let mut b = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(&good[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        b.append(&h, &data[..]).unwrap();
    }
    for (name, kind, link, data) in extra {
        raw_entry(&mut b, name, *kind, *link, data);
    }
    b.into_inner().unwrap()
}

/// A busybox image built the way users build: `FROM scratch`, `COPY`, and
/// `RUN` steps (exec and shell form) executed in Linux containers, with
/// `extra` (more Dockerfile lines) after the install. Tagged `tag`.
pub fn build_busybox(w: &Wharf, tag: &str, extra: &str) {
    assert!(
        std::path::Path::new("/bin/busybox").exists(),
        "/bin/busybox is missing: run scripts/setup.sh (installs busybox-static)"
    );
    let ctx = w.scratch(&format!("bb-ctx-{}", tag.replace(':', "-")));
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n{extra}"
        ),
    )
    .unwrap();
    // Its RUN needs no network: the store's default network is left for
    // the tests to set up (several compare the host before and after).
    w.ok(&[
        "build",
        "-q",
        "--network",
        "none",
        "--platform",
        "linux/amd64",
        "-t",
        tag,
        ctx.to_str().unwrap(),
    ]);
}

/// What a test must leave as it found it: links, mounts, firewall rules.
/// netavark's shared, empty chains and its ip_forward stay after the last
/// network goes (as with Podman), so rules are compared by what they name:
/// any rule mentioning the test's subnets or bridges counts.
pub fn host_state(marks: &[&str]) -> BTreeSet<String> {
    let run = |cmd: &str, args: &[&str]| {
        String::from_utf8_lossy(&Command::new(cmd).args(args).output().unwrap().stdout).into_owned()
    };
    let mut state = BTreeSet::new();
    for l in run("ip", &["-o", "link"]).lines() {
        // "3: name@if2: <...>": the name, without indexes that change.
        if let Some(name) = l.split(':').nth(1) {
            state.insert(format!("link {}", name.trim()));
        }
    }
    for l in std::fs::read_to_string("/proc/mounts").unwrap().lines() {
        state.insert(format!("mount {l}"));
    }
    for l in run("iptables-save", &[]).lines() {
        if marks.iter().any(|m| l.contains(m)) {
            state.insert(format!("rule {l}"));
        }
    }
    state
}

pub fn assert_same_host(before: &BTreeSet<String>, marks: &[&str]) {
    let after = host_state(marks);
    let gone: Vec<_> = before.difference(&after).collect();
    let left: Vec<_> = after.difference(before).collect();
    assert!(
        gone.is_empty() && left.is_empty(),
        "the host changed\n  left behind: {left:#?}\n  gone: {gone:#?}"
    );
}

/// examples/http as `web:wasm` (the wasi:http component) and `web:linux`
/// (the same routes as a native server).
pub fn build_http_example(w: &Wharf) {
    let ctx = build_component_example(w, "http", "http-hello.wasm", "web:wasm");
    assert!(
        Path::new(&ctx).join("http-hello").exists(),
        "examples/http/http-hello is missing: run scripts/setup.sh"
    );
    let linux = format!("{ctx}/Dockerfile.linux");
    w.ok(&[
        "build",
        "-q",
        "-f",
        &linux,
        "--platform",
        "linux/amd64",
        "-t",
        "web:linux",
        &ctx,
    ]);
}

/// `wharf build -q --platform wasip2/wasm -t TAG examples/DIR`, after
/// checking that scripts/setup.sh built its component `artifact`. Returns
/// the build context.
pub fn build_component_example(w: &Wharf, dir: &str, artifact: &str, tag: &str) -> String {
    let ctx = examples_dir().join(dir);
    assert!(
        ctx.join(artifact).exists(),
        "examples/{dir}/{artifact} is missing: run scripts/setup.sh"
    );
    let ctx = ctx.to_str().unwrap().to_string();
    w.ok(&["build", "-q", "--platform", "wasip2/wasm", "-t", tag, &ctx]);
    ctx
}

/// A gzip tar holding one file `name` of `size` zero bytes, made with the
/// system's gzip (fast where the test's debug flate2 is not), and its
/// diff_id.
pub fn zeros_layer(dir: &Path, name: &str, size: u64) -> (Vec<u8>, String) {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(size);
    h.set_cksum();
    let hdr = dir.join(format!("{name}.hdr"));
    std::fs::write(&hdr, h.as_bytes()).unwrap();
    // Header, the zeros (a multiple of 512), the end-of-archive blocks.
    let tar = format!(
        "{{ cat '{}'; head -c {} /dev/zero; }}",
        hdr.display(),
        size + 1024
    );
    let run = |pipe: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{tar} | {pipe}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        out.stdout
    };
    let gz = run("gzip -9 -c");
    let sum = String::from_utf8(run("sha256sum")).unwrap();
    (gz, format!("sha256:{}", &sum[..64]))
}
