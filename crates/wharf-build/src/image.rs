//! The image a stage describes: its OCI config JSON, and committing the
//! config and manifest blobs to the store. Both are serialised with sorted
//! keys so the same stage always gives the same digests.

use std::collections::BTreeMap;
use std::io;
use std::str::FromStr;

use serde_json::{json, Map, Value};

use crate::error::{io_err, Result};
use crate::stage::Stage;
use crate::{Descriptor, Store};

/// Rebuilds objects with sorted keys so serialisation is deterministic
/// whatever serde_json's map implementation.
pub(crate) fn canon(v: Value) -> Value {
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

/// The config JSON of a stage (bytes, and the value). The image was
/// created when its last step was: a step reused from the build cache keeps
/// its time, so an unchanged rebuild keeps the image id. `created` (the
/// build's time) is for a stage with no history at all.
pub(crate) fn config_json(s: &Stage, created: &str) -> (Vec<u8>, Value) {
    let created = s
        .history
        .last()
        .and_then(|h| h.get("created"))
        .and_then(Value::as_str)
        .unwrap_or(created);
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
    if let Some(h) = &s.healthcheck {
        c.insert("Healthcheck".into(), h.clone());
    }
    if !s.onbuild.is_empty() {
        c.insert("OnBuild".into(), json!(s.onbuild));
    }
    if s.shell_set {
        c.insert("Shell".into(), json!(s.shell));
    }
    let mut v = json!({
        "created": created,
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

/// Writes the config and manifest blobs of the final stage; returns the
/// manifest descriptor and the config digest. The image stays untagged.
pub(crate) fn commit_image(
    store: &Store,
    stage: &Stage,
    created: &str,
) -> Result<(Descriptor, String)> {
    let (config_bytes, _) = config_json(stage, created);
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
        oci_spec::image::Digest::from_str(&manifest_digest).map_err(|e| {
            io_err(
                format!("manifest digest {manifest_digest}"),
                io::Error::other(e.to_string()),
            )
        })?,
    );
    Ok((manifest, config_digest))
}
