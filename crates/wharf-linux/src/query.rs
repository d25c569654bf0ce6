//! What runc's `state`, `list` and `ps` report about containers under a
//! state root.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use libcgroups::common::CgroupManager;
use libcontainer::container::{Container, ContainerStatus};
use serde::Serialize;

use crate::cgroup::cgroup_manager;
use crate::container::{chain, load, status_name};
use crate::{Error, Result};

/// A container's state in runc's `state` shape.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
}

fn describe(c: &Container) -> ContainerState {
    let status = c.status();
    let rootfs = std::fs::read(c.bundle().join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
        .and_then(|v| v["root"]["path"].as_str().map(|p| c.bundle().join(p)))
        .unwrap_or_default();
    let created = c
        .created()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_default();
    ContainerState {
        oci_version: oci_spec::runtime::VERSION.to_string(),
        id: c.id().to_string(),
        pid: match status {
            ContainerStatus::Stopped => 0,
            _ => c.pid().map(|p| p.as_raw()).unwrap_or(0),
        },
        status: status_name(status).into(),
        bundle: c.bundle().clone(),
        rootfs,
        created,
        owner: String::new(),
        annotations: c.state.annotations.clone().filter(|a| !a.is_empty()),
    }
}

/// The container's state (runc `state`).
pub fn state(state_root: &Path, id: &str) -> Result<ContainerState> {
    Ok(describe(&load(state_root, id)?))
}

/// All containers under the state root (runc `list`), sorted by id.
pub fn list(state_root: &Path) -> Result<Vec<ContainerState>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(state_root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("listing", state_root, e)),
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Ok(c) = load(state_root, &name) {
            out.push(describe(&c));
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Host pids of the container's processes (runc `ps`), sorted.
pub fn pids(state_root: &Path, id: &str) -> Result<Vec<i32>> {
    let (_, manager) = cgroup_manager(state_root, id)?;
    let mut pids: Vec<i32> = manager
        .get_all_pids()
        .map_err(|e| Error::Runtime {
            action: "list processes of",
            id: id.to_string(),
            message: chain(&e),
        })?
        .into_iter()
        .map(|p| p.as_raw())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}
