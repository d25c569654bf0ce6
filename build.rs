//! Links the `wharf` binaries as position-dependent executables.
//!
//! A PIE `wharf` (the default) carries ~60k dynamic relocations that the
//! loader applies at every start: it reads 1.5 MB of relocation entries and
//! dirties ~1 MB of relocated data, which is most of a Wasm container's
//! start-up CPU time and resident memory. Nothing here needs ASLR of the
//! executable's own image more than it needs to start in a couple of
//! milliseconds; shared libraries and the heap are still randomised.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
