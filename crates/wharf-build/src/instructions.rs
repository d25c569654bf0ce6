//! The instruction handlers that change the stage's config and history
//! (FROM, ARG, ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL,
//! MAINTAINER, SHELL, ENTRYPOINT, CMD) and the dispatch of each
//! instruction to its handler; RUN and COPY/ADD have their own modules.

use std::str::FromStr;

use serde_json::{json, Value};

use crate::cache::from_key;
use crate::dockerfile::{Command, CommandForm, Instruction};
use crate::driver::Builder;
use crate::error::{step_err, Result};
use crate::image::canon;
use crate::layer::{LayerPlan, Node};
use crate::stage::{last_value, Stage};
use crate::{Platform, RunStep};

impl Builder<'_> {
    /// Applies one instruction to the build state.
    pub(crate) fn step<'r>(
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
                            None if self.stage.is_some() => last_value(&self.meta_args, name),
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
                let done = self.subst_pairs(ins, pairs)?;
                let s = self.stage_mut(ins)?;
                for (k, v) in done {
                    s.env.retain(|(n, _)| *n != k);
                    s.env.push((k, v));
                }
                self.history(ins, true);
            }
            Command::Label(pairs) => {
                let done = self.subst_pairs(ins, pairs)?;
                self.stage_mut(ins)?.labels.extend(done);
                self.history(ins, true);
            }
            Command::Workdir(raw) => {
                let p = self.subst(ins, raw)?;
                let s = self.stage_mut(ins)?;
                let norm = s.image_path(&p);
                s.workdir = format!("/{norm}");
                let exists = norm.is_empty() || self.known_dirs(ins)?.contains_key(&norm);
                if exists {
                    self.history(ins, true);
                } else if !self.cached_layer_step(ins, "")? {
                    let known = self.known_dirs(ins)?.clone();
                    let mut plan = LayerPlan::new(0, 0, None);
                    plan.add(norm, Node::Dir { mode: 0o755 }, &known);
                    self.commit_layer(ins, plan, false)?;
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
                    done.push(crate::dockerfile::exposed_port(&p).map_err(|e| step_err(ins, e))?);
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
                if !is_signal(&s) {
                    return Err(step_err(
                        ins,
                        format!("'{s}' is not a signal; write e.g. STOPSIGNAL SIGTERM, SIGINT, SIGRTMIN+3 or 15"),
                    ));
                }
                self.stage_mut(ins)?.stop_signal = Some(s);
                self.history(ins, true);
            }
            Command::Healthcheck(h) => {
                let value = match h {
                    None => json!({ "Test": ["NONE"] }),
                    Some(h) => {
                        let mut v = json!({ "Test": h.test });
                        // Docker's JSON: nanoseconds; unset options omitted.
                        for (key, d) in [
                            ("Interval", h.interval),
                            ("Timeout", h.timeout),
                            ("StartPeriod", h.start_period),
                            ("StartInterval", h.start_interval),
                        ] {
                            if let Some(d) = d {
                                v[key] = json!(d.as_nanos() as u64);
                            }
                        }
                        if let Some(r) = h.retries {
                            v["Retries"] = json!(r);
                        }
                        v
                    }
                };
                self.stage_mut(ins)?.healthcheck = Some(canon(value));
                self.history(ins, true);
            }
            Command::Onbuild(trigger) => {
                // Stored as written: it is substituted when it runs, in the
                // image built FROM this one.
                let t = trigger.clone();
                self.stage_mut(ins)?.onbuild.push(t);
                self.history(ins, true);
            }
            Command::Maintainer(m) => {
                let m = m.clone();
                self.stage_mut(ins)?.author = Some(m);
                self.history(ins, true);
            }
            Command::Shell(v) => {
                let v = v.clone();
                let s = self.stage_mut(ins)?;
                s.shell = v;
                s.shell_set = true;
                self.history(ins, true);
            }
            Command::Entrypoint(form) | Command::Cmd(form) => {
                if wasm && matches!(form, CommandForm::Shell(_)) {
                    return Err(step_err(
                        ins,
                        format!(
                            "the shell form '{}' cannot be used: Wasm images have no shell: use the exec form, e.g. ENTRYPOINT [\"/app.wasm\"]",
                            ins.original
                        ),
                    ));
                }
                let s = self.stage_mut(ins)?;
                let args = s.argv(form);
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
            Command::Run(form) => self.run(ins, form, runner)?,
            Command::Copy {
                flags,
                sources,
                dest,
            } => self.copy(ins, flags, sources, dest, false, runner)?,
            Command::Add {
                flags,
                sources,
                dest,
            } => self.copy(ins, flags, sources, dest, true, runner)?,
        }
        Ok(())
    }

    /// FROM: starts a stage from scratch, an earlier stage or a base image
    /// in the store.
    /// A base image (FROM, COPY --from) in the store, for `platform`. In a
    /// Wasm build (`--platform wasi/wasm`) a stage whose FROM names no
    /// platform and whose base has no Wasm variant is a builder stage: it
    /// runs on the host's platform, as `FROM --platform=$BUILDPLATFORM`
    /// would, since a Wasm image cannot be built on a Linux base anyway.
    pub(crate) fn resolve_base(
        &mut self,
        ins: &Instruction,
        image: &str,
        platform: Option<&Platform>,
        explicit: bool,
    ) -> Result<wharf_image::Image> {
        match self.store.resolve(image, platform) {
            Ok(img) => Ok(img),
            Err(e) => {
                let fallback = !explicit && platform.is_some_and(|p| p.is_wasm());
                if fallback {
                    if let Ok(img) = self.store.resolve(image, Some(&Platform::host())) {
                        return Ok(img);
                    }
                }
                Err(step_err(ins, format!("base image '{image}': {e}")))
            }
        }
    }

    fn from(
        &mut self,
        ins: &Instruction,
        image: &str,
        alias: Option<String>,
        platform: Option<&str>,
    ) -> Result<()> {
        let image = self.subst(ins, image)?;
        let explicit = match platform {
            Some(p) => {
                let p = self.subst(ins, p)?;
                Some(Platform::from_str(&p).map_err(|e| step_err(ins, e.to_string()))?)
            }
            None => None,
        };
        let platform = explicit.clone().or_else(|| self.opts.platform.clone());
        if image.eq_ignore_ascii_case("scratch") {
            let platform = platform.unwrap_or_else(Platform::host);
            let mut s = Stage::scratch(platform, alias);
            s.cache_key = from_key("scratch", &s.platform);
            self.stage = Some(s);
            // FROM scratch has no history entry in Docker.
            return Ok(());
        }
        let lower = image.to_ascii_lowercase();
        if let Some(prev) = self.built[..self.stage_index]
            .iter()
            .rev()
            .flatten()
            .find(|s| s.alias.as_deref() == Some(lower.as_str()))
        {
            let mut s = prev.clone();
            s.alias = alias;
            s.args.clear();
            s.cmd_set_here = false;
            s.triggers.clear();
            s.cache_key = from_key(&format!("stage:{}", prev.cache_key), &s.platform);
            self.stage = Some(s);
            return Ok(());
        }
        let img = self.resolve_base(ins, &image, platform.as_ref(), explicit.is_some())?;
        let Some(config) = img.config.clone() else {
            return Err(step_err(
                ins,
                format!(
                    "base image '{image}' has a {} config, not an OCI image config (it is a Wasm artifact); it cannot be built upon: COPY its module into FROM scratch instead",
                    img.config_media_type
                ),
            ));
        };
        let platform = match (platform, img.platform()) {
            // A builder stage of a Wasm build (see resolve_base).
            (Some(want), Some(got)) if want.is_wasm() && !got.is_wasm() && explicit.is_none() => {
                self.say(format!(
                    "note: '{image}' is a {got} image; this stage runs on {got} (a builder stage of the {want} image)"
                ));
                got
            }
            (want, got) => want.or(got).unwrap_or_else(Platform::host),
        };
        let mut s = Stage::scratch(platform, alias);
        s.cache_key = from_key(img.manifest_descriptor.digest().as_ref(), &s.platform);
        s.dirs = None;
        s.layers = img.manifest.layers().clone();
        s.diff_ids = config.rootfs().diff_ids().clone();
        if s.layers.len() != s.diff_ids.len() {
            return Err(step_err(
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
        // What oci-spec's typed config drops: Docker's Healthcheck, OnBuild
        // and Shell.
        let raw: Value = serde_json::from_slice(&img.config_bytes).unwrap_or(Value::Null);
        let rc = &raw["config"];
        if let Some(h) = rc.get("Healthcheck").filter(|h| h.is_object()) {
            s.healthcheck = Some(canon(h.clone()));
        }
        let strings = |v: &Value| -> Option<Vec<String>> {
            v.as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect()
        };
        if let Some(shell) = strings(&rc["Shell"]).filter(|v| !v.is_empty()) {
            s.shell = shell;
            s.shell_set = true;
        }
        s.triggers = strings(&rc["OnBuild"]).unwrap_or_default();
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
}

/// Whether `s` names a signal as STOPSIGNAL takes it: a number, or a name
/// with or without `SIG` (`TERM`, `SIGRTMIN+3`), as Docker accepts.
fn is_signal(s: &str) -> bool {
    const NAMES: [&str; 34] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1", "SEGV",
        "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
        "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR", "SYS", "UNUSED",
    ];
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if NAMES.contains(&name) || name == "RTMIN" || name == "RTMAX" {
        return true;
    }
    let rt = |prefix: &str, sep: char| {
        name.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(sep))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=30).contains(&n))
    };
    rt("RTMIN", '+') || rt("RTMAX", '-')
}
