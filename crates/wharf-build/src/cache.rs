//! The build cache, as Docker's: a step whose parent (the chain of steps
//! before it, from the base image's manifest digest), instruction text,
//! build args in effect and, for COPY/ADD, copied content are unchanged
//! reuses what it made last time (its layer and its history entries, times
//! included) instead of running again, so an unchanged rebuild gives the
//! same image id. The index lives in the store (`build-cache.json`, see
//! wharf-image's `BuildCache`), which keeps the layers it names.
//!
//! Keys chain: each step's key hashes its parent's key, so a change
//! misses every step after it. Variables need no separate treatment: ENV
//! is in the chain (the ENV step's text), ARG values in effect are hashed
//! into every step, and so is SOURCE_DATE_EPOCH (a step records its time).

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::dockerfile::{Command, Instruction};
use crate::driver::Builder;
use crate::error::{step_err, Result};
use crate::Platform;

/// Bumped when what a key means changes, so old entries never match.
const VERSION: &str = "wharf-build-cache/1";

/// The key of a stage's FROM: what it starts from and its platform.
pub(crate) fn from_key(base: &str, platform: &Platform) -> String {
    hash(&json!([VERSION, "FROM", base, platform.to_string()]))
}

fn hash(v: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

impl Builder<'_> {
    /// The key of step `ins` after the current stage's steps; `extra` is
    /// what else decides its result (the copied content's digest).
    pub(crate) fn step_cache_key(&mut self, ins: &Instruction, extra: &str) -> Result<String> {
        let source_date = self.source_date;
        let s = self.stage_mut(ins)?;
        Ok(hash(&json!([
            VERSION,
            source_date,
            s.cache_key,
            s.platform.to_string(),
            ins.original,
            s.args,
            extra
        ])))
    }

    /// For steps that make a layer (RUN, COPY, ADD, WORKDIR): looks the
    /// step up before doing the work; on a hit adds the cached layer and
    /// history to the stage and returns true.
    pub(crate) fn cached_layer_step(&mut self, ins: &Instruction, extra: &str) -> Result<bool> {
        let key = self.step_cache_key(ins, extra)?;
        self.step_key = Some(key.clone());
        if self.opts.no_cache {
            return Ok(false);
        }
        let Some(e) = self.store.cache_entry(&self.cache, &key).cloned() else {
            return Ok(false);
        };
        if let (Some(layer), Some(diff_id)) = (e.layer, e.diff_id) {
            // Keep the stage's directories known, from the layer's.
            let digest = layer.digest().to_string();
            if let Some(mut dirs) = self.stage_mut(ins)?.dirs.take() {
                self.layer_dirs(ins, &digest, &mut dirs)?;
                self.stage_mut(ins)?.dirs = Some(dirs);
            }
            let s = self.stage_mut(ins)?;
            s.layers.push(layer);
            s.diff_ids.push(diff_id);
        }
        self.stage_mut(ins)?.history.extend(e.history);
        self.step_hit = true;
        Ok(true)
    }

    /// After step `ins` (not a FROM): a config-only step is looked up now
    /// (a hit takes back the history entries it made last time); a miss of
    /// any step records what it made. `history_before` and `layers_before`
    /// are the stage's counts before the step. Returns whether it was a hit.
    pub(crate) fn settle_cache(
        &mut self,
        ins: &Instruction,
        history_before: usize,
        layers_before: usize,
    ) -> Result<bool> {
        if matches!(ins.command, Command::From { .. }) || self.stage.is_none() {
            return Ok(false);
        }
        let key = match self.step_key.take() {
            Some(k) => k,
            None => self.step_cache_key(ins, "")?,
        };
        let hit = std::mem::take(&mut self.step_hit);
        let lookups = !self.opts.no_cache;
        let s = self.stage.as_mut().expect("checked");
        s.cache_key = key.clone();
        if hit {
            return Ok(true);
        }
        let added_layer = s.layers.len() > layers_before;
        if lookups && !added_layer {
            if let Some(e) = self.cache.entries.get(&key) {
                if e.layer.is_none() && e.history.len() == s.history.len() - history_before {
                    s.history.truncate(history_before);
                    s.history.extend(e.history.iter().cloned());
                    return Ok(true);
                }
            }
        }
        if s.layers.len() > layers_before + 1 {
            return Err(step_err(
                ins,
                "internal error: a step made more than one layer",
            ));
        }
        let entry = wharf_image::CacheEntry {
            layer: added_layer.then(|| s.layers[layers_before].clone()),
            diff_id: added_layer.then(|| s.diff_ids[layers_before].clone()),
            history: s.history[history_before..].to_vec(),
        };
        self.cache.entries.insert(key, entry);
        self.cache_changed = true;
        Ok(false)
    }
}
