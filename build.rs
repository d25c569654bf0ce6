//! Links `wharf` for a fast start: see build/link.rs.
include!("build/link.rs");

fn main() {
    link_for_fast_start(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wharf.order"));
    println!("cargo:rerun-if-changed=build/link.rs");
}
