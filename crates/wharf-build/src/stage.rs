//! The state of one build stage (the image being assembled between a FROM
//! and the next): layers, config fields, history and variables.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::dockerfile::CommandForm;
use crate::paths::normalize_image_path;
use crate::{Descriptor, Platform};

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

#[derive(Debug, Clone)]
pub(crate) struct Stage {
    pub(crate) alias: Option<String>,
    pub(crate) platform: Platform,
    pub(crate) layers: Vec<Descriptor>,
    pub(crate) diff_ids: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) entrypoint: Option<Vec<String>>,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) cmd_set_here: bool,
    pub(crate) workdir: String,
    pub(crate) user: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) exposed: BTreeSet<String>,
    pub(crate) volumes: BTreeSet<String>,
    pub(crate) stop_signal: Option<String>,
    pub(crate) author: Option<String>,
    pub(crate) history: Vec<Value>,
    pub(crate) args: Vec<(String, String)>,
    pub(crate) shell: Vec<String>,
    /// Whether SHELL set `shell` (here or in the base): then the config
    /// records it, as Docker's `Shell`.
    pub(crate) shell_set: bool,
    /// The config's `Healthcheck` (Docker's JSON), from HEALTHCHECK or the base.
    pub(crate) healthcheck: Option<Value>,
    /// This image's ONBUILD triggers (the config's `OnBuild`).
    pub(crate) onbuild: Vec<String>,
    /// The base image's ONBUILD triggers, run right after the FROM.
    pub(crate) triggers: Vec<String>,
    /// The cache key of the build so far (see cache.rs).
    pub(crate) cache_key: String,
    /// Directories known to exist (path without leading '/', mode); loaded
    /// lazily from the base layers.
    pub(crate) dirs: Option<BTreeMap<String, u32>>,
}

impl Stage {
    pub(crate) fn scratch(platform: Platform, alias: Option<String>) -> Stage {
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
            shell_set: false,
            healthcheck: None,
            onbuild: Vec::new(),
            triggers: Vec::new(),
            cache_key: String::new(),
            dirs: Some(BTreeMap::new()),
        }
    }

    /// The value of variable `name` for substitution: ENV wins over ARG.
    pub(crate) fn lookup(&self, name: &str) -> Option<String> {
        last_value(&self.env, name).or_else(|| last_value(&self.args, name))
    }

    /// The image path `p` names from the current WORKDIR, normalised and
    /// without the leading '/' ("" is the root).
    pub(crate) fn image_path(&self, p: &str) -> String {
        let joined = if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{}/{}", self.workdir, p)
        };
        normalize_image_path(&joined)
    }

    /// The argv of a RUN/CMD/ENTRYPOINT: the exec form as written, the
    /// shell form run by the stage's SHELL.
    pub(crate) fn argv(&self, form: &CommandForm) -> Vec<String> {
        match form {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(s) => {
                let mut v = self.shell.clone();
                v.push(s.clone());
                v
            }
        }
    }
}

/// The value of the last `name` in `pairs`, since later definitions (ENV,
/// ARG, `--build-arg`) override earlier ones.
pub(crate) fn last_value(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}
