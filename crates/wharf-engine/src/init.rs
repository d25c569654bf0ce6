//! `--init`'s init: wharf-init (`init/main.rs`, built static by build.rs
//! and embedded here), written once per store under
//! `cache/init/wharf-init-<sha256 prefix>` and bind-mounted read-only at
//! /sbin/docker-init, as Docker mounts its tini. The file is named by its
//! content, so containers of another Wharf version keep theirs.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::{Engine, Error, Result};

static WHARF_INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wharf-init"));

/// The host path of the init, written if this store lacks it.
pub(crate) fn installed(engine: &Engine) -> Result<PathBuf> {
    let digest = hex::encode(Sha256::digest(WHARF_INIT));
    let dir = engine.root().join("cache").join("init");
    let path = dir.join(format!("wharf-init-{}", &digest[..16]));
    if path.exists() {
        return Ok(path);
    }
    let io = |e| {
        Error::io(
            format!("writing the --init program to {}", dir.display()),
            e,
        )
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    // Made executable and whole under a temporary name, then renamed: a
    // concurrent run never mounts a partial file.
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), &digest[..16]));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(WHARF_INIT)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(path)
}
