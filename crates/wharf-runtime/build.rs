//! Links `wharf-runtime` as a position-dependent executable, like `wharf`
//! (see the workspace's build.rs): a PIE image of this size carries tens of
//! thousands of dynamic relocations the loader would apply at every start,
//! and containerd starts the runtime several times per container.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
