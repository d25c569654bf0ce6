//! The build driver: reads the Dockerfile, sets up the [`Builder`] (context,
//! .dockerignore, timestamps), runs the instructions one step at a time with
//! progress output, and finishes by warning about unused build args and
//! committing the final stage as an image.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::dockerfile::{self, Command, Instruction};
use crate::error::{io_err, step_err, Error, Result};
use crate::ignore::DockerIgnore;
use crate::image;
use crate::stage::{last_value, Stage};
use crate::{BuildOptions, Built, Platform, RunStep, Store, StoreLock};

/// A stage of the Dockerfile before it is built.
struct PlannedStage<'i> {
    alias: Option<String>,
    /// Its FROM and the instructions up to the next FROM.
    instructions: &'i [Instruction],
    /// The earlier stages it reads (FROM, COPY --from).
    deps: Vec<usize>,
    needed: bool,
}

/// The earlier stage `name` means: the last one of that alias, or for
/// `COPY --from` also its index.
fn stage_named(stages: &[PlannedStage], name: &str, by_index: bool) -> Option<usize> {
    if let Some(k) = stages
        .iter()
        .rposition(|s| s.alias.as_deref() == Some(name))
    {
        return Some(k);
    }
    if by_index {
        return name.parse::<usize>().ok().filter(|&k| k < stages.len());
    }
    None
}

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

/// The state of one build: its inputs, the stages so far and the progress
/// output. The instruction handlers are `impl Builder` blocks in their own
/// modules.
pub(crate) struct Builder<'a> {
    pub(crate) store: &'a Store,
    pub(crate) opts: &'a BuildOptions,
    /// The canonical build context directory.
    pub(crate) context: PathBuf,
    pub(crate) ignore: DockerIgnore,
    /// Seconds since 1970 of every layer entry (`SOURCE_DATE_EPOCH`, else 0).
    pub(crate) epoch: u64,
    /// When this build's steps happened, in RFC 3339 (`SOURCE_DATE_EPOCH`
    /// if set, else now), for the history entries it writes.
    pub(crate) created: String,
    /// `SOURCE_DATE_EPOCH`, part of every cache key: the times a step
    /// records depend on it.
    pub(crate) source_date: Option<u64>,
    /// ARGs declared before the first FROM.
    pub(crate) meta_args: Vec<(String, String)>,
    /// Build args some ARG used; the others are warned about.
    pub(crate) consumed: HashSet<String>,
    /// Finished stages by index (`None`: not needed by the target), for
    /// `FROM <alias>` and `COPY --from`.
    pub(crate) built: Vec<Option<Stage>>,
    /// The index of the stage being built.
    pub(crate) stage_index: usize,
    /// The stage being built; `None` before the first FROM.
    pub(crate) stage: Option<Stage>,
    /// The index of the stage that becomes the image.
    target: Option<usize>,
    /// The build cache index as loaded, plus this build's new entries.
    pub(crate) cache: wharf_image::BuildCache,
    /// Whether `cache` has new entries to save.
    pub(crate) cache_changed: bool,
    /// The cache key of the current step, when a layer step computed it
    /// before doing its work.
    pub(crate) step_key: Option<String>,
    /// Whether the current step was a cache hit.
    pub(crate) step_hit: bool,
    out: &'a mut dyn Write,
    warnings: Vec<String>,
}

/// Reads and parses the Dockerfile of `opts`; refuses one without FROM.
pub(crate) fn read_dockerfile(opts: &BuildOptions) -> Result<Vec<Instruction>> {
    let df_path = opts.dockerfile_path();
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
    Ok(instructions)
}

impl<'a> Builder<'a> {
    /// Opens the build context (and its .dockerignore) of `opts`.
    pub(crate) fn new(
        store: &'a Store,
        opts: &'a BuildOptions,
        out: &'a mut dyn Write,
    ) -> Result<Builder<'a>> {
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
        let source_date = opts.source_date_epoch()?;
        // Layer entries always carry a fixed mtime, so a layer's digest
        // depends on content only (and COPY's cache key with it).
        let epoch = source_date.unwrap_or(0);
        let created = match source_date {
            Some(secs) => humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            )
            .to_string(),
            None => wharf_image::fsutil::rfc3339_nano(std::time::SystemTime::now()),
        };
        Ok(Builder {
            store,
            opts,
            context,
            ignore,
            epoch,
            created,
            source_date,
            meta_args: Vec::new(),
            consumed: HashSet::new(),
            built: Vec::new(),
            stage_index: 0,
            stage: None,
            target: None,
            cache: store.build_cache(),
            cache_changed: false,
            step_key: None,
            step_hit: false,
            out,
            warnings: Vec::new(),
        })
    }

    /// Runs the ARGs before the first FROM, then every stage the target
    /// depends on (and only those), printing each step and the resulting
    /// config id like Docker does.
    pub(crate) fn run_steps(
        &mut self,
        instructions: &[Instruction],
        mut runner: Option<&mut dyn RunStep>,
    ) -> Result<()> {
        let first_from = instructions
            .iter()
            .position(|i| matches!(i.command, Command::From { .. }))
            .expect("read_dockerfile checked there is a FROM");
        self.platform_args();
        // The global ARGs first: FROM lines and --from values may use them.
        for ins in &instructions[..first_from] {
            self.step(ins, runner.as_deref_mut())?;
        }
        let stages = self.plan_stages(&instructions[first_from..])?;
        let total = first_from
            + stages
                .iter()
                .filter(|s| s.needed)
                .map(|s| s.instructions.len())
                .sum::<usize>();
        for (n, ins) in instructions[..first_from].iter().enumerate() {
            self.say(format!("Step {}/{} : {}", n + 1, total, ins.original));
        }
        let mut n = first_from;
        self.built = vec![None; stages.len()];
        for (index, planned) in stages.iter().enumerate() {
            if !planned.needed {
                continue;
            }
            self.stage_index = index;
            for ins in planned.instructions {
                n += 1;
                self.say(format!("Step {}/{} : {}", n, total, ins.original));
                self.run_one(ins, runner.as_deref_mut())?;
                if matches!(ins.command, Command::From { .. }) {
                    self.run_triggers(ins, runner.as_deref_mut())?;
                }
            }
            self.built[index] = self.stage.take();
        }
        self.target = stages.iter().rposition(|s| s.needed);
        Ok(())
    }

    /// One step: the instruction, the build cache, the id line.
    fn run_one<'r>(
        &mut self,
        ins: &Instruction,
        runner: Option<&mut (dyn RunStep + 'r)>,
    ) -> Result<()> {
        let (history, layers) = self
            .stage
            .as_ref()
            .map(|s| (s.history.len(), s.layers.len()))
            .unwrap_or_default();
        self.step(ins, runner)?;
        if self.settle_cache(ins, history, layers)? {
            self.say(" ---> Using cache".into());
        }
        self.print_id();
        Ok(())
    }

    /// The base image's ONBUILD triggers, as steps right after its FROM
    /// (Docker's order); errors name the FROM line.
    fn run_triggers<'r>(
        &mut self,
        from: &Instruction,
        mut runner: Option<&mut (dyn RunStep + 'r)>,
    ) -> Result<()> {
        let triggers = match self.stage.as_mut() {
            Some(s) => std::mem::take(&mut s.triggers),
            None => return Ok(()),
        };
        if triggers.is_empty() {
            return Ok(());
        }
        let n = triggers.len();
        self.say(format!(
            "# Executing {n} build trigger{}",
            if n == 1 { "" } else { "s" }
        ));
        for t in triggers {
            let mut parsed = dockerfile::parse(&t).map_err(|e| {
                step_err(
                    from,
                    format!("the base image's ONBUILD trigger '{t}' is invalid: {e}"),
                )
            })?;
            if parsed.len() != 1
                || matches!(
                    parsed[0].command,
                    Command::From { .. } | Command::Onbuild(_)
                )
            {
                return Err(step_err(
                    from,
                    format!("the base image's ONBUILD trigger '{t}' is not one instruction that may run as a trigger"),
                ));
            }
            let mut ins = parsed.remove(0);
            ins.line = from.line;
            self.say(format!(" ---> Trigger: {}", ins.original));
            self.run_one(&ins, runner.as_deref_mut())?;
        }
        Ok(())
    }

    /// Prints the config id of the stage so far (` ---> <id>`).
    fn print_id(&mut self) {
        if let Some(stage) = &self.stage {
            let (bytes, _) = image::config_json(stage, &self.created);
            let id = hex::encode(Sha256::digest(&bytes));
            self.say(format!(" ---> {}", &id[..12]));
        }
    }

    /// Splits the instructions from the first FROM into stages and marks
    /// those the target (`--target`, else the last stage) needs: itself,
    /// the stages its FROM names and those its `COPY --from` names,
    /// transitively.
    fn plan_stages<'i>(&self, instructions: &'i [Instruction]) -> Result<Vec<PlannedStage<'i>>> {
        let mut stages: Vec<PlannedStage> = Vec::new();
        for (i, ins) in instructions.iter().enumerate() {
            if let Command::From { image, alias, .. } = &ins.command {
                let end = instructions[i + 1..]
                    .iter()
                    .position(|j| matches!(j.command, Command::From { .. }))
                    .map(|p| i + 1 + p)
                    .unwrap_or(instructions.len());
                let base = self.subst(ins, image)?.to_ascii_lowercase();
                let mut deps = Vec::new();
                if let Some(d) = stage_named(&stages, &base, false) {
                    deps.push(d);
                }
                for j in &instructions[i + 1..end] {
                    let from = match &j.command {
                        Command::Copy { flags, .. } | Command::Add { flags, .. } => &flags.from,
                        _ => &None,
                    };
                    if let Some(f) = from {
                        let name = self.subst(j, f)?.to_ascii_lowercase();
                        if let Some(d) = stage_named(&stages, &name, true) {
                            deps.push(d);
                        }
                    }
                }
                stages.push(PlannedStage {
                    alias: alias.clone(),
                    instructions: &instructions[i..end],
                    deps,
                    needed: false,
                });
            }
        }
        let target = match &self.opts.target {
            None => stages.len() - 1,
            Some(t) => stage_named(&stages, &t.to_ascii_lowercase(), false).ok_or_else(|| {
                let names: Vec<&str> = stages.iter().filter_map(|s| s.alias.as_deref()).collect();
                Error::Parse {
                    line: instructions[0].line,
                    message: if names.is_empty() {
                        format!("--target {t}: the Dockerfile names no stages; name one with FROM image AS {t}")
                    } else {
                        format!("--target {t}: no stage of that name; the stages are: {}", names.join(", "))
                    },
                }
            })?,
        };
        let mut todo = vec![target];
        while let Some(k) = todo.pop() {
            if !stages[k].needed {
                stages[k].needed = true;
                todo.extend(stages[k].deps.iter().copied());
            }
        }
        Ok(stages)
    }

    /// The predefined platform ARGs of BuildKit (BUILDPLATFORM,
    /// TARGETPLATFORM and their OS/ARCH parts), global ARGs like any other:
    /// FROM lines see them, a stage only after `ARG NAME`.
    fn platform_args(&mut self) {
        let build = Platform::host();
        let target = self.opts.platform.clone().unwrap_or_else(Platform::host);
        for (prefix, p) in [("BUILD", &build), ("TARGET", &target)] {
            self.meta_args
                .push((format!("{prefix}PLATFORM"), p.to_string()));
            self.meta_args.push((format!("{prefix}OS"), p.os.clone()));
            self.meta_args
                .push((format!("{prefix}ARCH"), p.architecture.clone()));
            self.meta_args.push((
                format!("{prefix}VARIANT"),
                p.variant.clone().unwrap_or_default(),
            ));
        }
    }

    /// Warns about unused build args and commits the last stage as the
    /// (untagged) image.
    pub(crate) fn finish(mut self) -> Result<Built> {
        let unused: Vec<String> = self
            .opts
            .build_args
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !self.consumed.contains(k) && !PREDEFINED_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let w = format!(
                "[Warning] One or more build-args [{}] were not consumed; declare them with ARG in the Dockerfile or drop them",
                unused.join(" ")
            );
            self.say(w.clone());
            self.warnings.push(w);
        }
        let target = self.target.expect("run_steps built the target");
        let stage = self.built[target]
            .take()
            .expect("the target stage was built");
        let (manifest, config_digest) = image::commit_image(self.store, &stage, &self.created)?;
        let short = config_digest
            .strip_prefix("sha256:")
            .unwrap_or(&config_digest)
            .chars()
            .take(12)
            .collect::<String>();
        self.say(format!("Successfully built {short}"));
        Ok(Built {
            manifest,
            config_digest,
            platform: stage.platform,
            warnings: self.warnings,
        })
    }

    /// Writes the cache index if this build added to it (also after a
    /// failed build: the steps that worked are reused by the next one).
    pub(crate) fn save_cache(&mut self, lock: &StoreLock) -> Result<()> {
        if self.cache_changed {
            self.store.save_build_cache(lock, &self.cache)?;
            self.cache_changed = false;
        }
        Ok(())
    }

    /// Prints a progress line unless quiet.
    pub(crate) fn say(&mut self, line: String) {
        if !self.opts.quiet {
            let _ = writeln!(self.out, "{line}");
        }
    }

    /// The `--build-arg` value of `name`, recording that an ARG used it.
    pub(crate) fn build_arg(&mut self, name: &str) -> Option<String> {
        let v = self.opts.build_arg(name);
        if v.is_some() {
            self.consumed.insert(name.to_string());
        }
        v
    }

    /// `s` with variables substituted and quotes removed.
    pub(crate) fn subst(&self, ins: &Instruction, s: &str) -> Result<String> {
        let lookup = |k: &str| self.lookup(k);
        dockerfile::substitute(s, &lookup).map_err(|e| step_err(ins, e))
    }

    /// Like [`Builder::subst`], split into words.
    pub(crate) fn subst_words(&self, ins: &Instruction, s: &str) -> Result<Vec<String>> {
        let lookup = |k: &str| self.lookup(k);
        dockerfile::substitute_words(s, &lookup).map_err(|e| step_err(ins, e))
    }

    /// ENV/LABEL `key=value` pairs with both sides substituted.
    pub(crate) fn subst_pairs(
        &self,
        ins: &Instruction,
        pairs: &[(String, String)],
    ) -> Result<Vec<(String, String)>> {
        let mut done = Vec::new();
        for (k, v) in pairs {
            done.push((self.subst(ins, k)?, self.subst(ins, v)?));
        }
        Ok(done)
    }

    /// A variable's value: the stage's ENV/ARG, or before the first FROM
    /// the global ARGs.
    fn lookup(&self, k: &str) -> Option<String> {
        match &self.stage {
            Some(s) => s.lookup(k),
            None => last_value(&self.meta_args, k),
        }
    }

    /// The current stage; an error for instructions before the first FROM.
    pub(crate) fn stage_mut(&mut self, ins: &Instruction) -> Result<&mut Stage> {
        self.stage.as_mut().ok_or_else(|| {
            step_err(
                ins,
                "comes before the first FROM; only ARG may precede FROM",
            )
        })
    }

    /// Appends the history entry of `ins` to the current stage, in
    /// BuildKit's form (`RUN /bin/sh -c ... # buildkit`, `ENV A=1`, ...).
    pub(crate) fn history(&mut self, ins: &Instruction, empty_layer: bool) {
        let created = self.created.clone();
        if let Some(s) = self.stage.as_mut() {
            let created_by = match &ins.command {
                Command::Run(form) => format!("RUN {} # buildkit", s.argv(form).join(" ")),
                Command::Copy { .. } | Command::Add { .. } => {
                    format!("{} # buildkit", ins.original)
                }
                _ => ins.original.clone(),
            };
            let mut h = json!({
                "created": created,
                "created_by": created_by,
                "comment": "buildkit.dockerfile.v0",
            });
            if empty_layer {
                h["empty_layer"] = Value::Bool(true);
            }
            s.history.push(h);
        }
    }
}
