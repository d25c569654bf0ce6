//! Changing a live container's processes in place: freeze, thaw, new
//! cgroup limits (runc `pause`, `resume`, `update`).

use std::path::Path;

use libcgroups::common::{CgroupManager, ControllerOpt};
use libcontainer::container::ContainerStatus;
use oci_spec::runtime::LinuxResources;

use crate::cgroup::cgroup_manager;
use crate::container::{chain, load, map_lc, require_status, wrong_state};
use crate::{Error, Result};

/// Freezes the container's processes (runc `pause`).
pub fn pause(state_root: &Path, id: &str) -> Result<()> {
    let mut c = load(state_root, id)?;
    require_status(&c, id, ContainerStatus::Running, "container not running")?;
    c.pause().map_err(map_lc("pause", id))
}

/// Thaws a paused container (runc `resume`).
pub fn resume(state_root: &Path, id: &str) -> Result<()> {
    let mut c = load(state_root, id)?;
    require_status(&c, id, ContainerStatus::Paused, "container not paused")?;
    c.resume().map_err(map_lc("resume", id))
}

/// Applies new cgroup limits to a created, running or paused container
/// (runc `update`).
pub fn update(state_root: &Path, id: &str, resources: &LinuxResources) -> Result<()> {
    let (c, manager) = cgroup_manager(state_root, id)?;
    if c.status() == ContainerStatus::Stopped {
        return Err(wrong_state(id, c.status(), "update"));
    }
    manager
        .apply(&ControllerOpt {
            resources,
            disable_oom_killer: resources
                .memory()
                .as_ref()
                .and_then(|m| m.disable_oom_killer())
                .unwrap_or(false),
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(|e| Error::Runtime {
            action: "update",
            id: id.to_string(),
            message: chain(&e),
        })
}
