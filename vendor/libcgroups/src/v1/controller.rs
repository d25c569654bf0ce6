use std::fs;
use std::path::Path;

use nix::unistd::{Pid, getpid};

use crate::common::{self, CGROUP_PROCS, ControllerOpt, WrapIoResult, WrappedIoError};

/// The v1 file that moves one thread rather than a whole thread group.
const CGROUP_TASKS: &str = "tasks";

/// Moves `pid` into the v1 cgroup at `cgroup_path`.
///
/// Wharf patch. Writing a pid to `cgroup.procs` takes the kernel's global
/// cgroup_threadgroup_rwsem for writing, and that waits for an RCU grace
/// period: 5-10 ms, most of a container's start. A thread that moves itself
/// by writing "0" to `tasks` is exempt from that lock
/// (cgroup_procs_write_start). When the caller is moving itself and has no
/// other threads, the thread is the whole process, so the outcome is the
/// same as writing its pid to `cgroup.procs`.
pub(super) fn join(pid: Pid, cgroup_path: &Path) -> Result<(), WrappedIoError> {
    if pid == getpid() && is_single_threaded() {
        common::write_cgroup_file(cgroup_path.join(CGROUP_TASKS), 0)
    } else {
        common::write_cgroup_file(cgroup_path.join(CGROUP_PROCS), pid)
    }
}

/// True when this process has exactly one thread; false when unsure.
fn is_single_threaded() -> bool {
    fs::read_dir("/proc/self/task")
        .map(|threads| threads.take(2).count() == 1)
        .unwrap_or(false)
}

pub(super) trait Controller {
    type Error: From<WrappedIoError>;
    type Resource;

    /// Adds a new task specified by its pid to the cgroup
    fn add_task(pid: Pid, cgroup_path: &Path) -> Result<(), Self::Error> {
        fs::create_dir_all(cgroup_path).wrap_create_dir(cgroup_path)?;
        join(pid, cgroup_path)?;
        Ok(())
    }

    /// Applies resource restrictions to the cgroup
    fn apply(controller_opt: &ControllerOpt, cgroup_root: &Path) -> Result<(), Self::Error>;

    /// Checks if the controller needs to handle this request
    fn needs_to_handle<'a>(controller_opt: &'a ControllerOpt) -> Option<&'a Self::Resource>;
}
