//! A container under a state root: the id rule, finding and loading its
//! libcontainer state, and libcontainer's errors in this crate's terms.
//! Every operation on an existing container starts here.

use std::path::{Path, PathBuf};

use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;

use crate::{Error, Result};

/// runc's rule for container ids.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "container id",
            id,
            "use only letters, digits, '_', '+', '-' and '.'",
        ))
    }
}

/// Creates the state root if needed and returns its canonical path
/// (libcontainer records absolute paths in its state).
pub(crate) fn prepare_root(state_root: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(state_root)
        .map_err(|e| Error::io("creating state directory", state_root, e))?;
    std::fs::canonicalize(state_root)
        .map_err(|e| Error::io("opening state directory", state_root, e))
}

/// The container `id` under `state_root`, with its status refreshed.
pub(crate) fn load(state_root: &Path, id: &str) -> Result<Container> {
    let dir = state_root.join(id);
    if id.is_empty() || id.contains('/') || !dir.join("state.json").exists() {
        return Err(Error::NotFound {
            id: id.to_string(),
            root: state_root.to_path_buf(),
        });
    }
    // libcontainer rewrites state.json in place (truncate, then write), so a
    // command running concurrently (`kill` while `run` deletes) can read it
    // half-written; such a read succeeds a moment later.
    let mut attempts = 0;
    loop {
        match Container::load(dir.clone()) {
            Ok(c) => return Ok(c),
            Err(_) if attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(runtime_err("loading", id)(e)),
        }
    }
}

/// The host pid of a container's init, which libcontainer records once it
/// has created it.
pub(crate) fn init_pid(container: &Container, action: &'static str, id: &str) -> Result<i32> {
    container
        .pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| Error::Runtime {
            action,
            id: id.to_string(),
            message: "libcontainer recorded no init pid".into(),
        })
}

/// Error text with its whole `source()` chain.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// A libcontainer failure of `action` on container `id`, with its whole
/// error chain.
pub(crate) fn runtime_err<'a>(
    action: &'static str,
    id: &'a str,
) -> impl Fn(LibcontainerError) -> Error + 'a {
    move |e| {
        let message = chain(&e);
        exec_failure(&message).unwrap_or_else(|| Error::Runtime {
            action,
            id: id.to_string(),
            message,
        })
    }
}

/// The container's init could not execute its program: libcontainer says
/// so in words (the failure crosses a process boundary as text), which
/// become Docker's two cases, "not found" (127) and "cannot execute" (126).
fn exec_failure(message: &str) -> Option<Error> {
    let program = message
        .split("executable '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or("the container's command")
        .to_string();
    if message.contains("not found in $PATH") || message.contains("executable file not found") {
        return Some(Error::CommandNotFound { program });
    }
    let reason = if message.contains("does not have correct permissions") {
        "it is not executable"
    } else if message.contains("Exec format error") || message.contains("exec format error") {
        "exec format error: not a program for this host's architecture"
    } else {
        return None;
    };
    Some(Error::CannotExecute {
        program,
        reason: reason.to_string(),
    })
}

/// Like [`runtime_err`], but a refused state change becomes
/// [`Error::WrongState`] and invalid input keeps libcontainer's own words.
pub(crate) fn map_lc<'a>(
    action: &'static str,
    id: &'a str,
) -> impl Fn(LibcontainerError) -> Error + 'a {
    move |e| match e {
        LibcontainerError::InvalidInput(msg) => Error::Runtime {
            action,
            id: id.to_string(),
            message: msg,
        },
        LibcontainerError::IncorrectStatus(s) => wrong_state(id, s, action),
        e => runtime_err(action, id)(e),
    }
}

/// runc's name of a container status (`state`, `list` and error messages).
pub(crate) fn status_name(s: ContainerStatus) -> &'static str {
    match s {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

/// `action` is not possible while the container is in status `s`.
pub(crate) fn wrong_state(id: &str, s: ContainerStatus, action: &str) -> Error {
    Error::WrongState {
        id: id.to_string(),
        state: status_name(s).into(),
        hint: format!("cannot {action} it in this state"),
    }
}

/// `Err(WrongState)` with `hint` unless the container's status is `wanted`.
pub(crate) fn require_status(
    c: &Container,
    id: &str,
    wanted: ContainerStatus,
    hint: &str,
) -> Result<()> {
    if c.status() == wanted {
        return Ok(());
    }
    Err(Error::WrongState {
        id: id.to_string(),
        state: status_name(c.status()).into(),
        hint: hint.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
