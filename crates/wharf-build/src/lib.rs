//! Dockerfile → OCI image in the Wharf content store.
//!
//! [`build`] parses the Dockerfile, applies each instruction to an in-memory
//! image state (layers, config, history), writes new layers (deterministic
//! tars, gzip-compressed) and finally the config and manifest blobs. It does
//! not tag: it returns the manifest descriptor, and the caller unpacks,
//! precompiles and tags.
//!
//! Builds are reproducible: tar entries are sorted, owned by 0:0 (unless a
//! numeric `--chown`), with mtime `SOURCE_DATE_EPOCH` (or 0), and the image
//! `created`/history timestamps use the same instant, so the same inputs
//! give the same manifest digest.

pub mod dockerfile;
pub mod ignore;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

use dockerfile::{Command, CommandForm, CopyFlags, Instruction};
use ignore::DockerIgnore;
pub use wharf_image::{Descriptor, ImageConfiguration, Platform, Store};

/// Build errors. Every message names the Dockerfile line (or file) and what
/// to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Dockerfile line {line}: {message}")]
    Parse { line: usize, message: String },
    #[error("Dockerfile line {line} ({instruction}): {message}")]
    Step {
        line: usize,
        instruction: String,
        message: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Image(#[from] wharf_image::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_err(context: impl Into<String>, source: io::Error) -> Error {
    Error::Io {
        context: context.into(),
        source,
    }
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// Default: `context/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    /// `--build-arg K=V`.
    pub build_args: Vec<(String, String)>,
    /// Default: the FROM image's platform, or the host's.
    pub platform: Option<Platform>,
    /// No progress output.
    pub quiet: bool,
}

/// Executes a RUN instruction in a container over the layers so far and
/// returns the layer diff (an uncompressed tar), or `None` when nothing
/// changed. The engine implements it for Linux.
pub trait RunStep {
    fn run(
        &mut self,
        base_layers: &[Descriptor],
        config: &ImageConfiguration,
        args: &[String],
    ) -> anyhow::Result<Option<Vec<u8>>>;
}

/// The result of a build: an untagged image in the store.
#[derive(Debug, Clone)]
pub struct Built {
    pub manifest: Descriptor,
    pub config_digest: String,
    pub platform: Platform,
    /// Warnings (also printed unless quiet), e.g. unused build args.
    pub warnings: Vec<String>,
}

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Build args that Docker accepts without an ARG and never warns about.
const PREDEFINED_ARGS: [&str; 9] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "SOURCE_DATE_EPOCH",
];

#[derive(Debug, Clone)]
struct Stage {
    alias: Option<String>,
    platform: Platform,
    layers: Vec<Descriptor>,
    diff_ids: Vec<String>,
    env: Vec<(String, String)>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    cmd_set_here: bool,
    workdir: String,
    user: String,
    labels: BTreeMap<String, String>,
    exposed: BTreeSet<String>,
    volumes: BTreeSet<String>,
    stop_signal: Option<String>,
    author: Option<String>,
    history: Vec<Value>,
    args: Vec<(String, String)>,
    shell: Vec<String>,
    /// Directories known to exist (path without leading '/', mode); loaded
    /// lazily from the base layers.
    dirs: Option<BTreeMap<String, u32>>,
}

impl Stage {
    fn scratch(platform: Platform, alias: Option<String>) -> Stage {
        Stage {
            alias,
            platform,
            layers: Vec::new(),
            diff_ids: Vec::new(),
            env: Vec::new(),
            entrypoint: None,
            cmd: None,
            cmd_set_here: false,
            workdir: String::new(),
            user: String::new(),
            labels: BTreeMap::new(),
            exposed: BTreeSet::new(),
            volumes: BTreeSet::new(),
            stop_signal: None,
            author: None,
            history: Vec::new(),
            args: Vec::new(),
            shell: DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
            dirs: Some(BTreeMap::new()),
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .or_else(|| self.args.iter().rev().find(|(k, _)| k == name))
            .map(|(_, v)| v.clone())
    }
}

struct Builder<'a> {
    store: &'a Store,
    opts: &'a BuildOptions,
    context: PathBuf,
    ignore: DockerIgnore,
    epoch: u64,
    created: String,
    meta_args: Vec<(String, String)>,
    consumed: HashSet<String>,
    stages: Vec<Stage>,
    stage: Option<Stage>,
    out: &'a mut dyn Write,
    warnings: Vec<String>,
}

/// Builds the Dockerfile of `opts` into `store`; returns the (untagged)
/// manifest. Progress goes to `out` unless `opts.quiet`.
pub fn build(
    store: &Store,
    opts: &BuildOptions,
    mut runner: Option<&mut dyn RunStep>,
    out: &mut dyn Write,
) -> Result<Built> {
    let df_path = opts
        .dockerfile
        .clone()
        .unwrap_or_else(|| opts.context.join("Dockerfile"));
    let text = fs::read_to_string(&df_path).map_err(|e| {
        io_err(
            format!(
                "cannot read the Dockerfile {}; create it or pass another with -f",
                df_path.display()
            ),
            e,
        )
    })?;
    let instructions = dockerfile::parse(&text)?;
    if !instructions
        .iter()
        .any(|i| matches!(i.command, Command::From { .. }))
    {
        return Err(Error::Parse {
            line: instructions.first().map(|i| i.line).unwrap_or(1),
            message: "the Dockerfile has no FROM instruction; start it with e.g. FROM scratch"
                .into(),
        });
    }
    let context = fs::canonicalize(&opts.context).map_err(|e| {
        io_err(
            format!(
                "build context {} is not an accessible directory",
                opts.context.display()
            ),
            e,
        )
    })?;
    let ignore = DockerIgnore::load(&context).map_err(|e| {
        io_err(
            format!("cannot read {}", context.join(".dockerignore").display()),
            e,
        )
    })?;
    let epoch = source_date_epoch(opts)?;
    let created = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch),
    )
    .to_string();
    let mut b = Builder {
        store,
        opts,
        context,
        ignore,
        epoch,
        created,
        meta_args: Vec::new(),
        consumed: HashSet::new(),
        stages: Vec::new(),
        stage: None,
        out,
        warnings: Vec::new(),
    };
    let total = instructions.len();
    for (n, ins) in instructions.iter().enumerate() {
        b.say(format!("Step {}/{} : {}", n + 1, total, ins.original));
        b.step(ins, runner.as_deref_mut())?;
        if let Some(stage) = &b.stage {
            let (bytes, _) = b.config_json(stage);
            let id = hex::encode(Sha256::digest(&bytes));
            b.say(format!(" ---> {}", &id[..12]));
        }
    }
    let unused: Vec<String> = opts
        .build_args
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !b.consumed.contains(k) && !PREDEFINED_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let w = format!(
            "[Warning] One or more build-args [{}] were not consumed; declare them with ARG in the Dockerfile or drop them",
            unused.join(" ")
        );
        b.say(w.clone());
        b.warnings.push(w);
    }
    let stage = b.stage.take().expect("a FROM was seen");
    let (config_bytes, _) = b.config_json(&stage);
    let (config_digest, config_size) = store.put_blob(&config_bytes)?;
    let layers: Vec<Value> = stage
        .layers
        .iter()
        .map(|d| canon(serde_json::to_value(d).unwrap_or(Value::Null)))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": wharf_image::media::OCI_MANIFEST,
        "config": {
            "mediaType": wharf_image::media::OCI_CONFIG,
            "digest": config_digest,
            "size": config_size,
        },
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&canon(manifest)).expect("serialising JSON");
    let (manifest_digest, manifest_size) = store.put_blob(&manifest_bytes)?;
    let manifest = Descriptor::new(
        oci_spec::image::MediaType::ImageManifest,
        manifest_size,
        oci_spec::image::Digest::from_str(&manifest_digest).map_err(|e| Error::Io {
            context: format!("manifest digest {manifest_digest}"),
            source: io::Error::other(e.to_string()),
        })?,
    );
    let short = config_digest
        .strip_prefix("sha256:")
        .unwrap_or(&config_digest)
        .chars()
        .take(12)
        .collect::<String>();
    b.say(format!("Successfully built {short}"));
    Ok(Built {
        manifest,
        config_digest,
        platform: stage.platform,
        warnings: b.warnings,
    })
}

fn source_date_epoch(opts: &BuildOptions) -> Result<u64> {
    let from_args = opts
        .build_args
        .iter()
        .rev()
        .find(|(k, _)| k == "SOURCE_DATE_EPOCH")
        .map(|(_, v)| v.clone());
    let raw = from_args.or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok());
    match raw {
        None => Ok(0),
        Some(s) if s.trim().is_empty() => Ok(0),
        Some(s) => s.trim().parse::<u64>().map_err(|_| Error::Io {
            context: format!(
                "SOURCE_DATE_EPOCH={s:?} is not a number of seconds since 1970; set it to e.g. $(git log -1 --format=%ct)"
            ),
            source: io::Error::from(io::ErrorKind::InvalidInput),
        }),
    }
}

/// Rebuilds objects with sorted keys so serialisation is deterministic
/// whatever serde_json's map implementation.
fn canon(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<String, Value> =
                m.into_iter().map(|(k, v)| (k, canon(v))).collect();
            let mut out = Map::new();
            for (k, v) in sorted {
                out.insert(k, v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canon).collect()),
        other => other,
    }
}

/// Lexically normalises an absolute image path; returns it without the
/// leading '/' ("" is the root).
fn normalize_image_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for s in p.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

enum Node {
    Dir { mode: u32 },
    File { src: PathBuf, mode: u32 },
    Symlink { target: PathBuf },
}

/// The content of a new layer, keyed by path (no leading '/').
struct LayerPlan {
    nodes: BTreeMap<String, Node>,
    uid: u64,
    gid: u64,
    chmod: Option<u32>,
}

impl LayerPlan {
    fn add_parents(&mut self, path: &str, known: &BTreeMap<String, u32>) {
        let mut cur = String::new();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for p in parts.iter().take(parts.len().saturating_sub(1)) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(p);
            if !self.nodes.contains_key(&cur) {
                let mode = known.get(&cur).copied().unwrap_or(0o755);
                self.nodes.insert(cur.clone(), Node::Dir { mode });
            }
        }
    }

    fn add(&mut self, path: String, node: Node, known: &BTreeMap<String, u32>) {
        if path.is_empty() {
            return;
        }
        self.add_parents(&path, known);
        self.nodes.insert(path, node);
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn is_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("http://")
        || l.starts_with("https://")
        || l.starts_with("git@")
        || l.starts_with("git://")
}

fn is_tarball(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".tzst"]
        .iter()
        .any(|s| l.ends_with(s))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl<'a> Builder<'a> {
    fn say(&mut self, line: String) {
        if !self.opts.quiet {
            let _ = writeln!(self.out, "{line}");
        }
    }

    fn fail(&self, ins: &Instruction, message: impl Into<String>) -> Error {
        Error::Step {
            line: ins.line,
            instruction: ins.keyword().to_string(),
            message: message.into(),
        }
    }

    fn build_arg(&mut self, name: &str) -> Option<String> {
        let v = self
            .opts
            .build_args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        if v.is_some() {
            self.consumed.insert(name.to_string());
        }
        v
    }

    fn subst(&self, ins: &Instruction, s: &str) -> Result<String> {
        let lookup = |k: &str| self.lookup(k);
        dockerfile::substitute(s, &lookup).map_err(|e| self.fail(ins, e))
    }

    fn subst_words(&self, ins: &Instruction, s: &str) -> Result<Vec<String>> {
        let lookup = |k: &str| self.lookup(k);
        dockerfile::substitute_words(s, &lookup).map_err(|e| self.fail(ins, e))
    }

    fn lookup(&self, k: &str) -> Option<String> {
        match &self.stage {
            Some(s) => s.lookup(k),
            None => self
                .meta_args
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone()),
        }
    }

    fn stage_mut(&mut self, ins: &Instruction) -> Result<&mut Stage> {
        match self.stage.as_mut() {
            Some(s) => Ok(s),
            None => Err(Error::Step {
                line: ins.line,
                instruction: ins.keyword().to_string(),
                message: "comes before the first FROM; only ARG may precede FROM".into(),
            }),
        }
    }

    fn history(&mut self, ins: &Instruction, empty_layer: bool) {
        let created = self.created.clone();
        if let Some(s) = self.stage.as_mut() {
            let mut h = json!({ "created": created, "created_by": ins.original });
            if empty_layer {
                h["empty_layer"] = Value::Bool(true);
            }
            s.history.push(h);
        }
    }

    fn step<'r>(
        &mut self,
        ins: &Instruction,
        runner: Option<&mut (dyn RunStep + 'r)>,
    ) -> Result<()> {
        match &ins.command {
            Command::From {
                image,
                alias,
                platform,
            } => return self.from(ins, image, alias.clone(), platform.as_deref()),
            Command::Arg(list) => {
                for (name, default) in list {
                    let value = match self.build_arg(name) {
                        Some(v) => Some(v),
                        None => match default {
                            Some(d) => Some(self.subst(ins, d)?),
                            None if self.stage.is_some() => self
                                .meta_args
                                .iter()
                                .rev()
                                .find(|(k, _)| k == name)
                                .map(|(_, v)| v.clone()),
                            None => None,
                        },
                    };
                    let value = value.unwrap_or_default();
                    match self.stage.as_mut() {
                        Some(s) => s.args.push((name.clone(), value)),
                        None => self.meta_args.push((name.clone(), value)),
                    }
                }
                if self.stage.is_some() {
                    self.history(ins, true);
                }
                return Ok(());
            }
            _ => {}
        }
        self.stage_mut(ins)?;
        let wasm = self.stage.as_ref().is_some_and(|s| s.platform.is_wasm());
        match &ins.command {
            Command::From { .. } | Command::Arg(_) => unreachable!("handled above"),
            Command::Env(pairs) => {
                let mut done = Vec::new();
                for (k, v) in pairs {
                    done.push((self.subst(ins, k)?, self.subst(ins, v)?));
                }
                let s = self.stage_mut(ins)?;
                for (k, v) in done {
                    s.env.retain(|(n, _)| *n != k);
                    s.env.push((k, v));
                }
                self.history(ins, true);
            }
            Command::Label(pairs) => {
                let mut done = Vec::new();
                for (k, v) in pairs {
                    done.push((self.subst(ins, k)?, self.subst(ins, v)?));
                }
                self.stage_mut(ins)?.labels.extend(done);
                self.history(ins, true);
            }
            Command::Workdir(raw) => {
                let p = self.subst(ins, raw)?;
                let s = self.stage_mut(ins)?;
                let joined = if p.starts_with('/') {
                    p
                } else {
                    format!("{}/{}", s.workdir, p)
                };
                let norm = normalize_image_path(&joined);
                s.workdir = format!("/{norm}");
                let exists = norm.is_empty() || self.known_dirs(ins)?.contains_key(&norm);
                if exists {
                    self.history(ins, true);
                } else {
                    let known = self.known_dirs(ins)?.clone();
                    let mut plan = LayerPlan {
                        nodes: BTreeMap::new(),
                        uid: 0,
                        gid: 0,
                        chmod: None,
                    };
                    plan.add(norm, Node::Dir { mode: 0o755 }, &known);
                    self.commit_layer(ins, plan)?;
                    self.history(ins, false);
                }
            }
            Command::User(raw) => {
                let u = self.subst(ins, raw)?;
                self.stage_mut(ins)?.user = u;
                self.history(ins, true);
            }
            Command::Expose(raw) => {
                let ports = self.subst_words(ins, raw)?;
                let mut done = Vec::new();
                for p in ports {
                    let (port, proto) = match p.split_once('/') {
                        Some((port, proto)) => (port.to_string(), proto.to_ascii_lowercase()),
                        None => (p.clone(), "tcp".to_string()),
                    };
                    let valid = !port.is_empty()
                        && port.split('-').all(|n| n.parse::<u16>().is_ok())
                        && matches!(proto.as_str(), "tcp" | "udp" | "sctp");
                    if !valid {
                        return Err(self.fail(
                            ins,
                            format!("'{p}' is not a port; write e.g. EXPOSE 8080 or EXPOSE 53/udp"),
                        ));
                    }
                    done.push(format!("{port}/{proto}"));
                }
                self.stage_mut(ins)?.exposed.extend(done);
                self.history(ins, true);
            }
            Command::Volume(raw) => {
                let vols = match serde_json::from_str::<Vec<String>>(raw) {
                    Ok(v) if raw.trim_start().starts_with('[') => v,
                    _ => self.subst_words(ins, raw)?,
                };
                self.stage_mut(ins)?.volumes.extend(vols);
                self.history(ins, true);
            }
            Command::StopSignal(raw) => {
                let s = self.subst(ins, raw)?;
                self.stage_mut(ins)?.stop_signal = Some(s);
                self.history(ins, true);
            }
            Command::Maintainer(m) => {
                let m = m.clone();
                self.stage_mut(ins)?.author = Some(m);
                self.history(ins, true);
            }
            Command::Shell(v) => {
                let v = v.clone();
                self.stage_mut(ins)?.shell = v;
                self.history(ins, true);
            }
            Command::Entrypoint(form) | Command::Cmd(form) => {
                let args = match form {
                    CommandForm::Exec(v) => v.clone(),
                    CommandForm::Shell(_) if wasm => {
                        return Err(self.fail(
                            ins,
                            format!(
                                "the shell form '{}' cannot be used: Wasm images have no shell: use the exec form, e.g. ENTRYPOINT [\"/app.wasm\"]",
                                ins.original
                            ),
                        ))
                    }
                    CommandForm::Shell(s) => {
                        let mut v = self.stage_mut(ins)?.shell.clone();
                        v.push(s.clone());
                        v
                    }
                };
                let s = self.stage_mut(ins)?;
                if matches!(ins.command, Command::Entrypoint(_)) {
                    s.entrypoint = Some(args);
                    if !s.cmd_set_here {
                        s.cmd = None;
                    }
                } else {
                    s.cmd = Some(args);
                    s.cmd_set_here = true;
                }
                self.history(ins, true);
            }
            Command::Run(form) => {
                if wasm {
                    return Err(self.fail(
                        ins,
                        "RUN cannot run in a Wasm image build: there is no shell or OS to run commands; build the module outside and COPY it in",
                    ));
                }
                let Some(runner) = runner else {
                    return Err(self.fail(
                        ins,
                        "RUN in Linux builds needs the Linux executor (not available in this build yet); build the files outside and COPY them in",
                    ));
                };
                let stage = self.stage.as_ref().expect("checked");
                let args = match form {
                    CommandForm::Exec(v) => v.clone(),
                    CommandForm::Shell(s) => {
                        let mut v = stage.shell.clone();
                        v.push(s.clone());
                        v
                    }
                };
                // Build args are visible to RUN as environment variables.
                let mut run_stage = stage.clone();
                for (k, v) in &stage.args {
                    if !run_stage.env.iter().any(|(n, _)| n == k) {
                        run_stage.env.push((k.clone(), v.clone()));
                    }
                }
                let (bytes, _) = self.config_json(&run_stage);
                let config: ImageConfiguration = serde_json::from_slice(&bytes)
                    .map_err(|e| self.fail(ins, format!("internal error: image config: {e}")))?;
                let layers = stage.layers.clone();
                let diff = runner
                    .run(&layers, &config, &args)
                    .map_err(|e| self.fail(ins, format!("RUN failed: {e:#}")))?;
                match diff {
                    Some(tar) => {
                        self.commit_tar(ins, &mut &tar[..])?;
                        if let Some(s) = self.stage.as_mut() {
                            if let Some(d) = s.dirs.as_mut() {
                                scan_dirs(&mut &tar[..], d);
                            }
                        }
                        self.history(ins, false);
                    }
                    None => self.history(ins, true),
                }
            }
            Command::Copy {
                flags,
                sources,
                dest,
            } => self.copy(ins, flags, sources, dest, false)?,
            Command::Add {
                flags,
                sources,
                dest,
            } => self.copy(ins, flags, sources, dest, true)?,
        }
        Ok(())
    }

    fn from(
        &mut self,
        ins: &Instruction,
        image: &str,
        alias: Option<String>,
        platform: Option<&str>,
    ) -> Result<()> {
        if let Some(prev) = self.stage.take() {
            self.stages.push(prev);
        }
        let image = self.subst(ins, image)?;
        let platform = match platform {
            Some(p) => {
                let p = self.subst(ins, p)?;
                Some(Platform::from_str(&p).map_err(|e| self.fail(ins, e.to_string()))?)
            }
            None => self.opts.platform.clone(),
        };
        if image.eq_ignore_ascii_case("scratch") {
            let platform = platform.unwrap_or_else(Platform::host);
            self.stage = Some(Stage::scratch(platform, alias));
            self.history(ins, true);
            // FROM scratch has no history entry in Docker; drop it.
            if let Some(s) = self.stage.as_mut() {
                s.history.clear();
            }
            return Ok(());
        }
        if let Some(prev) = self
            .stages
            .iter()
            .rev()
            .find(|s| s.alias.as_deref() == Some(image.to_ascii_lowercase().as_str()))
        {
            let mut s = prev.clone();
            s.alias = alias;
            s.args.clear();
            s.cmd_set_here = false;
            self.stage = Some(s);
            return Ok(());
        }
        let img = self
            .store
            .resolve(&image, platform.as_ref())
            .map_err(|e| self.fail(ins, format!("base image '{image}': {e}")))?;
        let Some(config) = img.config.clone() else {
            return Err(self.fail(
                ins,
                format!(
                    "base image '{image}' has a {} config, not an OCI image config (it is a Wasm artifact); it cannot be built upon: COPY its module into FROM scratch instead",
                    img.config_media_type
                ),
            ));
        };
        let platform = platform
            .or_else(|| img.platform())
            .unwrap_or_else(Platform::host);
        let mut s = Stage::scratch(platform, alias);
        s.dirs = None;
        s.layers = img.manifest.layers().clone();
        s.diff_ids = config.rootfs().diff_ids().clone();
        if s.layers.len() != s.diff_ids.len() {
            return Err(self.fail(
                ins,
                format!(
                    "base image '{image}' is inconsistent: {} layers but {} diff_ids; re-pull or rebuild it",
                    s.layers.len(),
                    s.diff_ids.len()
                ),
            ));
        }
        if let Some(c) = config.config() {
            s.user = c.user().clone().unwrap_or_default();
            s.workdir = c.working_dir().clone().unwrap_or_default();
            s.entrypoint = c.entrypoint().clone();
            s.cmd = c.cmd().clone();
            s.stop_signal = c.stop_signal().clone();
            for e in c.env().clone().unwrap_or_default() {
                let (k, v) = e.split_once('=').unwrap_or((&e, ""));
                s.env.push((k.to_string(), v.to_string()));
            }
            s.labels = c.labels().clone().unwrap_or_default().into_iter().collect();
            s.exposed = c
                .exposed_ports()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            s.volumes = c
                .volumes()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
        }
        s.author = config.author().clone();
        s.history = config
            .history()
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|h| canon(serde_json::to_value(h).unwrap_or(Value::Null)))
            .collect();
        self.stage = Some(s);
        Ok(())
    }

    /// Directories of the current stage's tree (lazily read from the base
    /// layers' tar headers).
    fn known_dirs(&mut self, ins: &Instruction) -> Result<&BTreeMap<String, u32>> {
        let store = self.store;
        let s = self.stage.as_mut().expect("inside a stage");
        if s.dirs.is_none() {
            let mut dirs = BTreeMap::new();
            for l in &s.layers {
                let digest = l.digest().to_string();
                let path = store.blob_path(&digest)?;
                let f = File::open(&path).map_err(|e| Error::Step {
                    line: ins.line,
                    instruction: ins.keyword().to_string(),
                    message: format!(
                        "cannot read base layer {digest} ({}): {e}; re-pull the base image",
                        path.display()
                    ),
                })?;
                let mut r = wharf_snapshot::decompress(f, None)
                    .map_err(|e| io_err(format!("reading base layer {digest}"), e))?;
                scan_dirs(&mut r, &mut dirs);
            }
            s.dirs = Some(dirs);
        }
        Ok(s.dirs.as_ref().expect("just set"))
    }

    fn copy(
        &mut self,
        ins: &Instruction,
        flags: &CopyFlags,
        sources: &[String],
        dest: &str,
        add: bool,
    ) -> Result<()> {
        let kw = ins.keyword();
        if flags.from.is_some() {
            return Err(self.fail(
                ins,
                format!("{kw} --from is not supported by wharf build yet; copy the files into the build context instead"),
            ));
        }
        let chmod = match &flags.chmod {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        self.fail(
                            ins,
                            format!("--chmod={m} is not an octal mode; write e.g. --chmod=0755"),
                        )
                    })?,
            ),
            None => None,
        };
        let (uid, gid) = match &flags.chown {
            None => (0, 0),
            Some(c) => {
                let c = self.subst(ins, c)?;
                let (u, g) = match c.split_once(':') {
                    Some((u, g)) => (u.to_string(), Some(g.to_string())),
                    None => (c.clone(), None),
                };
                match (u.parse::<u64>(), g.as_deref().map(str::parse::<u64>)) {
                    (Ok(u), None) => (u, u),
                    (Ok(u), Some(Ok(g))) => (u, g),
                    _ => {
                        self.say(format!(
                            "note: {kw} --chown={c} ignored: user and group names cannot be resolved without the image's /etc/passwd; files are owned by 0:0 (use numeric ids, e.g. --chown=1000:1000)"
                        ));
                        (0, 0)
                    }
                }
            }
        };
        let mut srcs = Vec::new();
        for raw in sources {
            srcs.extend(self.subst_words(ins, raw)?);
        }
        let dest_raw = self.subst(ins, dest)?;
        let workdir = self.stage_mut(ins)?.workdir.clone();
        let joined = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!("{workdir}/{dest_raw}")
        };
        let dest_norm = normalize_image_path(&joined);
        let known = self.known_dirs(ins)?.clone();

        // Resolve sources in the context.
        let mut resolved: Vec<(PathBuf, String)> = Vec::new();
        let mut from_glob = false;
        for s in &srcs {
            if is_url(s) {
                return Err(self.fail(
                    ins,
                    format!(
                        "{kw} of a URL ({s}) is not supported here: remote ADD isn't supported; download the file and COPY it"
                    ),
                ));
            }
            let rel = self.context_rel(ins, s)?;
            if has_glob(&rel) {
                from_glob = true;
                let pattern = format!(
                    "{}/{}",
                    glob::Pattern::escape(&self.context.to_string_lossy()),
                    rel
                );
                let opts = glob::MatchOptions {
                    case_sensitive: true,
                    require_literal_separator: true,
                    require_literal_leading_dot: false,
                };
                let mut any = false;
                let matches = glob::glob_with(&pattern, opts)
                    .map_err(|e| self.fail(ins, format!("bad pattern '{s}': {e}")))?;
                for m in matches.flatten() {
                    let r = m
                        .strip_prefix(&self.context)
                        .unwrap_or(&m)
                        .to_string_lossy()
                        .into_owned();
                    if self.ignore.is_excluded(&r) {
                        continue;
                    }
                    self.check_inside(ins, &m, s)?;
                    any = true;
                    resolved.push((m, r));
                }
                if !any {
                    return Err(self.fail(
                        ins,
                        format!(
                            "no files in the build context {} match '{s}' (after .dockerignore)",
                            self.context.display()
                        ),
                    ));
                }
            } else {
                let path = self.context.join(&rel);
                if !rel.is_empty() && self.ignore.is_excluded(&rel) {
                    return Err(self.fail(
                        ins,
                        format!("source '{s}' is excluded by .dockerignore; remove the pattern or the source"),
                    ));
                }
                if fs::symlink_metadata(&path).is_err() {
                    return Err(self.fail(
                        ins,
                        format!(
                            "source '{s}' not found in the build context {}",
                            self.context.display()
                        ),
                    ));
                }
                self.check_inside(ins, &path, s)?;
                resolved.push((path, rel));
            }
        }
        let dest_is_dir = dest_raw.ends_with('/')
            || dest_norm.is_empty()
            || known.contains_key(&dest_norm)
            || resolved.len() > 1
            || from_glob;
        if resolved.len() > 1
            && !dest_raw.ends_with('/')
            && !known.contains_key(&dest_norm)
            && !dest_norm.is_empty()
        {
            return Err(self.fail(
                ins,
                format!(
                    "with more than one source the destination must be a directory ending in '/', e.g. {kw} a b {dest_raw}/"
                ),
            ));
        }

        let mut plan = LayerPlan {
            nodes: BTreeMap::new(),
            uid,
            gid,
            chmod,
        };
        let mut extracted: Vec<TempDir> = Vec::new();
        if dest_is_dir && !dest_norm.is_empty() {
            let mode = known.get(&dest_norm).copied().unwrap_or(0o755);
            plan.add(dest_norm.clone(), Node::Dir { mode }, &known);
        }
        for (abs, rel) in &resolved {
            let meta = fs::metadata(abs)
                .map_err(|e| self.fail(ins, format!("cannot read source '{rel}': {e}")))?;
            let name = abs
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if meta.is_dir() {
                let target = dest_norm.clone();
                if !dest_is_dir && !target.is_empty() {
                    plan.add(target.clone(), Node::Dir { mode: 0o755 }, &known);
                }
                self.add_tree(ins, &mut plan, abs, rel, &target, true, &known)?;
            } else if add && is_tarball(&name) {
                let tmp = tempfile::tempdir()
                    .map_err(|e| io_err("creating a temporary directory for ADD", e))?;
                let f = File::open(abs)
                    .map_err(|e| self.fail(ins, format!("cannot open archive '{rel}': {e}")))?;
                wharf_snapshot::extract_layer_labeled(f, tmp.path(), &format!("archive {rel}"))
                    .map_err(|e| self.fail(ins, format!("cannot extract '{rel}': {e}")))?;
                let target = dest_norm.clone();
                if !target.is_empty() {
                    plan.add(target.clone(), Node::Dir { mode: 0o755 }, &known);
                }
                self.add_tree(ins, &mut plan, tmp.path(), "", &target, false, &known)?;
                extracted.push(tmp);
            } else {
                let target = if dest_is_dir {
                    if dest_norm.is_empty() {
                        name.clone()
                    } else {
                        format!("{dest_norm}/{name}")
                    }
                } else {
                    dest_norm.clone()
                };
                if target.is_empty() {
                    return Err(self.fail(ins, "cannot replace the root directory with a file"));
                }
                let mode = chmod.unwrap_or(meta.permissions().mode() & 0o7777);
                plan.add(
                    target,
                    Node::File {
                        src: abs.clone(),
                        mode,
                    },
                    &known,
                );
            }
        }
        self.commit_layer(ins, plan)?;
        drop(extracted);
        self.history(ins, false);
        Ok(())
    }

    /// A source path relative to the context root ("" is the root); refuses
    /// anything that leaves the context.
    fn context_rel(&self, ins: &Instruction, s: &str) -> Result<String> {
        let mut out: Vec<String> = Vec::new();
        for c in Path::new(s).components() {
            match c {
                Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
                Component::ParentDir if out.pop().is_none() => {
                    return Err(self.fail(
                        ins,
                        format!(
                            "source '{s}' is outside the build context {}; move it into the context or build from a parent directory",
                            self.context.display()
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(out.join("/"))
    }

    /// Refuses sources that reach outside the context through symlinks.
    fn check_inside(&self, ins: &Instruction, path: &Path, s: &str) -> Result<()> {
        let real = fs::canonicalize(path)
            .map_err(|e| self.fail(ins, format!("cannot resolve source '{s}': {e}")))?;
        if !real.starts_with(&self.context) {
            return Err(self.fail(
                ins,
                format!(
                    "source '{s}' resolves (through a symlink) to {}, outside the build context {}; copy the file into the context",
                    real.display(),
                    self.context.display()
                ),
            ));
        }
        Ok(())
    }

    /// Adds the contents of directory `abs` below `target` (image path).
    #[allow(clippy::too_many_arguments)]
    fn add_tree(
        &self,
        ins: &Instruction,
        plan: &mut LayerPlan,
        abs: &Path,
        rel: &str,
        target: &str,
        use_ignore: bool,
        known: &BTreeMap<String, u32>,
    ) -> Result<()> {
        let rd = fs::read_dir(abs).map_err(|e| {
            self.fail(
                ins,
                format!("cannot read directory '{}': {e}", abs.display()),
            )
        })?;
        let mut children: Vec<_> = rd.flatten().collect();
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let name = child.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let child_target = if target.is_empty() {
                name.clone()
            } else {
                format!("{target}/{name}")
            };
            let excluded = use_ignore && self.ignore.is_excluded(&child_rel);
            let path = child.path();
            let meta = fs::symlink_metadata(&path)
                .map_err(|e| self.fail(ins, format!("cannot read '{child_rel}': {e}")))?;
            let ft = meta.file_type();
            if ft.is_dir() {
                if !excluded {
                    let mode = plan.chmod.unwrap_or(meta.permissions().mode() & 0o7777);
                    plan.add(child_target.clone(), Node::Dir { mode }, known);
                }
                self.add_tree(
                    ins,
                    plan,
                    &path,
                    &child_rel,
                    &child_target,
                    use_ignore,
                    known,
                )?;
            } else if excluded {
                continue;
            } else if ft.is_symlink() {
                let t = fs::read_link(&path)
                    .map_err(|e| self.fail(ins, format!("cannot read link '{child_rel}': {e}")))?;
                plan.add(child_target, Node::Symlink { target: t }, known);
            } else if ft.is_file() {
                let mode = plan.chmod.unwrap_or(meta.permissions().mode() & 0o7777);
                plan.add(child_target, Node::File { src: path, mode }, known);
            }
            // FIFOs, sockets and devices in the context are skipped, like
            // Docker does.
        }
        Ok(())
    }

    /// Writes `plan` as a deterministic tar layer and adds it.
    fn commit_layer(&mut self, ins: &Instruction, plan: LayerPlan) -> Result<()> {
        let tmp = tempfile::tempfile().map_err(|e| io_err("creating a temporary layer file", e))?;
        let mut b = tar::Builder::new(tmp);
        b.mode(tar::HeaderMode::Deterministic);
        for (path, node) in &plan.nodes {
            let mut h = tar::Header::new_gnu();
            h.set_uid(plan.uid);
            h.set_gid(plan.gid);
            h.set_mtime(self.epoch);
            let r = match node {
                Node::Dir { mode } => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{path}/"), io::empty())
                }
                Node::Symlink { target } => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, path, target)
                }
                Node::File { src, mode } => {
                    let f = File::open(src).map_err(|e| {
                        self.fail(
                            ins,
                            format!("cannot read source file {}: {e}", src.display()),
                        )
                    })?;
                    let len = f
                        .metadata()
                        .map_err(|e| io_err(format!("reading {}", src.display()), e))?
                        .len();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(len);
                    b.append_data(&mut h, path, f.take(len))
                }
            };
            r.map_err(|e| self.fail(ins, format!("writing layer entry '/{path}': {e}")))?;
        }
        let mut f = b
            .into_inner()
            .map_err(|e| io_err("finishing the layer tar", e))?;
        f.rewind()
            .map_err(|e| io_err("rewinding the layer tar", e))?;
        self.commit_tar(ins, &mut f)?;
        if let Some(d) = self.stage.as_mut().and_then(|s| s.dirs.as_mut()) {
            for (path, node) in &plan.nodes {
                if let Node::Dir { mode } = node {
                    d.insert(path.clone(), *mode);
                }
            }
        }
        Ok(())
    }

    /// Hashes an uncompressed layer tar (diff_id), stores it gzip-compressed
    /// and appends it to the stage.
    fn commit_tar(&mut self, ins: &Instruction, tar: &mut dyn Read) -> Result<()> {
        let writer = self.store.blob_writer()?;
        let gz = flate2::GzBuilder::new().write(writer, flate2::Compression::default());
        let mut hw = HashingWriter {
            inner: gz,
            hasher: Sha256::new(),
        };
        io::copy(tar, &mut hw).map_err(|e| self.fail(ins, format!("writing the layer: {e}")))?;
        let diff_id = format!("sha256:{}", hex::encode(hw.hasher.finalize()));
        let writer = hw
            .inner
            .finish()
            .map_err(|e| io_err("compressing the layer", e))?;
        let (digest, size) = writer.commit(None)?;
        let desc = Descriptor::new(
            oci_spec::image::MediaType::ImageLayerGzip,
            size,
            oci_spec::image::Digest::from_str(&digest)
                .map_err(|e| self.fail(ins, format!("internal error: digest {digest}: {e}")))?,
        );
        let s = self.stage_mut(ins)?;
        s.layers.push(desc);
        s.diff_ids.push(diff_id);
        Ok(())
    }

    /// The config JSON of a stage (bytes, and the value).
    fn config_json(&self, s: &Stage) -> (Vec<u8>, Value) {
        let mut c = Map::new();
        if !s.user.is_empty() {
            c.insert("User".into(), json!(s.user));
        }
        if !s.exposed.is_empty() {
            let m: BTreeMap<&String, Value> = s.exposed.iter().map(|p| (p, json!({}))).collect();
            c.insert("ExposedPorts".into(), json!(m));
        }
        if !s.env.is_empty() {
            let env: Vec<String> = s.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            c.insert("Env".into(), json!(env));
        }
        if let Some(e) = &s.entrypoint {
            c.insert("Entrypoint".into(), json!(e));
        }
        if let Some(cmd) = &s.cmd {
            c.insert("Cmd".into(), json!(cmd));
        }
        if !s.volumes.is_empty() {
            let m: BTreeMap<&String, Value> = s.volumes.iter().map(|p| (p, json!({}))).collect();
            c.insert("Volumes".into(), json!(m));
        }
        if !s.workdir.is_empty() {
            c.insert("WorkingDir".into(), json!(s.workdir));
        }
        if !s.labels.is_empty() {
            c.insert("Labels".into(), json!(s.labels));
        }
        if let Some(sig) = &s.stop_signal {
            c.insert("StopSignal".into(), json!(sig));
        }
        let mut v = json!({
            "created": self.created,
            "architecture": s.platform.architecture,
            "os": s.platform.os,
            "config": Value::Object(c),
            "rootfs": { "type": "layers", "diff_ids": s.diff_ids },
            "history": s.history,
        });
        if let Some(var) = &s.platform.variant {
            v["variant"] = json!(var);
        }
        if let Some(a) = &s.author {
            v["author"] = json!(a);
        }
        let v = canon(v);
        (serde_json::to_vec(&v).expect("serialising JSON"), v)
    }
}

/// Records the directories of a layer tar (path without leading '/' → mode).
fn scan_dirs(r: &mut dyn Read, dirs: &mut BTreeMap<String, u32>) {
    let mut a = tar::Archive::new(r);
    let Ok(entries) = a.entries() else { return };
    for e in entries.flatten() {
        if e.header().entry_type() == tar::EntryType::Directory {
            if let Ok(p) = e.path() {
                let p = normalize_image_path(&p.to_string_lossy());
                if !p.is_empty() {
                    dirs.insert(p, e.header().mode().unwrap_or(0o755) & 0o7777);
                }
            }
        }
    }
}
