// Links Wharf's binaries for a fast start. Shared by the build scripts of
// the `wharf` and `wharf-runtime` packages, which `include!` it.
//
// Position-dependent: a PIE `wharf` (the default) carries ~60k dynamic
// relocations that the loader applies at every start: it reads 1.5 MB of
// relocation entries and dirties ~1 MB of relocated data, which is most of a
// Wasm container's start-up CPU time and resident memory. Nothing here
// needs ASLR of the executable's own image more than it needs to start in a
// couple of milliseconds; shared libraries and the heap are still randomised.
//
// Hot code packed together: a container start runs ~1,600 functions (1.2 MB
// of code) spread over the 27 MB text segment. Every page fault on the text
// maps the 64 KB around it, so scattered code costs ~130 faults and 8 MB of
// resident text. `wharf.order` (written by `scripts/order-symbols.sh` from a
// profile of real starts) lists those functions; linked with rustup's
// bundled lld in that order they fill ~20 contiguous windows instead. Names
// missing from the list (code changed since it was made) only lose that
// locality. Without rustup's lld the binary links as before.

/// Emits the link arguments for the package's binaries; `order` is the
/// symbol ordering file (the workspace's `wharf.order`).
fn link_for_fast_start(order: &std::path::Path) {
    println!("cargo:rustc-link-arg-bins=-no-pie");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-changed=build.rs");
    if let (true, Some(gcc_ld)) = (order.is_file(), bundled_lld()) {
        println!("cargo:rustc-link-arg-bins=-B{}", gcc_ld.display());
        println!("cargo:rustc-link-arg-bins=-fuse-ld=lld");
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        // The link arguments above do not change when the file does, and
        // cargo relinks only when a build script's output changes: naming
        // the file's content here makes a regenerated order take effect.
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(order).unwrap_or_default().hash(&mut h);
        println!("cargo:rustc-env=WHARF_ORDER_DIGEST={:016x}", h.finish());
    }
}

/// The directory holding rustup's `ld.lld` wrapper for the C compiler
/// driver (`<sysroot>/lib/rustlib/<host>/bin/gcc-ld`), when there is one.
fn bundled_lld() -> Option<std::path::PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8(out.stdout).ok()?;
    let host = std::env::var("HOST").ok()?;
    let dir = std::path::Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/gcc-ld");
    dir.join("ld.lld").is_file().then_some(dir)
}
