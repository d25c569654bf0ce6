//! Wasm bundles: the guest is loaded from the bundle's spec by the Wasm
//! executor's spec reader (`wharf_wasm::oci`) in the runtime process (compiled code from the host cache), before the
//! container's init is cloned, and run by that init inside the container's
//! namespaces and cgroups after pivot_root.

use std::path::PathBuf;
use std::sync::Arc;

use nix::sys::signal::{SigSet, Signal};
use oci_spec::runtime::Spec;
use wharf_linux::Entrypoint;
use wharf_wasm::oci::{self, Loaded};
use wharf_wasm::Runtime;

/// `$WHARF_ROOT/cache/wasm` (default `/var/lib/wharf/cache/wasm`): the code
/// cache `wharf` itself fills, so containerd starts are warm.
fn cache_dir() -> PathBuf {
    std::env::var_os("WHARF_ROOT")
        .filter(|r| !r.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(wharf_image::default_root)
        .join("cache")
        .join("wasm")
}

/// The init's entrypoint for a Wasm bundle; None for a Linux one. `spec`
/// has an absolute root path.
pub fn entrypoint(spec: &Spec) -> Result<Option<Entrypoint>, String> {
    let Some((runtime, loaded)) =
        oci::load_for_bundle(spec, cache_dir()).map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let runtime = Arc::new(runtime);
    let loaded = Arc::new(loaded);
    Ok(Some(Arc::new(move |_spec: &Spec| run(&runtime, &loaded))))
}

/// Runs in the container's init (pid 1 of its pid namespace). Signals are
/// blocked (so the kernel delivers them to pid 1 at all) and a thread turns
/// each into an epoch interruption, which stops even a spinning guest.
fn run(runtime: &Runtime, loaded: &Loaded) -> i32 {
    let mut set = SigSet::empty();
    for s in wharf_linux::FORWARDED_SIGNALS {
        set.add(Signal::try_from(s).expect("the forwarded signals are standard ones"));
    }
    let _ = set.thread_block();
    let interrupter = runtime.interrupter();
    std::thread::spawn(move || {
        while let Ok(sig) = set.wait() {
            interrupter.interrupt(sig as i32);
        }
    });
    match loaded.run(runtime) {
        Ok(outcome) => {
            if let Some(msg) = oci::describe(&outcome) {
                eprintln!("{msg}");
            }
            outcome.exit_code()
        }
        Err(e) => {
            eprintln!("wharf-runtime: {e}");
            // Like a shell that cannot execute its command.
            126
        }
    }
}
