//! Links `wharf-runtime` like `wharf` (see the workspace's build/link.rs):
//! position-dependent, with the start path's code packed together. containerd
//! starts the runtime several times per container, so its start matters too;
//! most of its start path (libcontainer, wharf-linux) is code `wharf run`
//! shares, under the same symbol names, so the workspace's order serves both.
include!("../../build/link.rs");

fn main() {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    link_for_fast_start(&workspace.join("wharf.order"));
    println!("cargo:rerun-if-changed=../../build/link.rs");
}
