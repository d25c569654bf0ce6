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
use crate::{BuildOptions, Built, RunStep, Store};

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
    /// Seconds since 1970 of every layer entry (`SOURCE_DATE_EPOCH`).
    pub(crate) epoch: u64,
    /// `epoch` in RFC 3339, for the image config and history.
    pub(crate) created: String,
    /// ARGs declared before the first FROM.
    pub(crate) meta_args: Vec<(String, String)>,
    /// Build args some ARG used; the others are warned about.
    pub(crate) consumed: HashSet<String>,
    /// Finished stages, for `FROM <alias>`.
    pub(crate) stages: Vec<Stage>,
    /// The stage being built; `None` before the first FROM.
    pub(crate) stage: Option<Stage>,
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
        let epoch = opts.source_date_epoch()?;
        let created = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch),
        )
        .to_string();
        Ok(Builder {
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
        })
    }

    /// Runs every instruction, printing each step and the resulting config
    /// id like Docker does.
    pub(crate) fn run_steps(
        &mut self,
        instructions: &[Instruction],
        mut runner: Option<&mut dyn RunStep>,
    ) -> Result<()> {
        let total = instructions.len();
        for (n, ins) in instructions.iter().enumerate() {
            self.say(format!("Step {}/{} : {}", n + 1, total, ins.original));
            self.step(ins, runner.as_deref_mut())?;
            if let Some(stage) = &self.stage {
                let (bytes, _) = image::config_json(stage, &self.created);
                let id = hex::encode(Sha256::digest(&bytes));
                self.say(format!(" ---> {}", &id[..12]));
            }
        }
        Ok(())
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
        let stage = self.stage.take().expect("a FROM was seen");
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

    /// Appends the history entry of `ins` to the current stage.
    pub(crate) fn history(&mut self, ins: &Instruction, empty_layer: bool) {
        let created = self.created.clone();
        if let Some(s) = self.stage.as_mut() {
            let mut h = json!({ "created": created, "created_by": ins.original });
            if empty_layer {
                h["empty_layer"] = Value::Bool(true);
            }
            s.history.push(h);
        }
    }
}
