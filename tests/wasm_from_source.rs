//! examples/wasm-from-source for real, end to end: its build script makes
//! the Debian 12 base image (debootstrap tarball cached under
//! ~/.cache/wharf-demo, `wharf import`), then `wharf build --platform
//! wasi/wasm` of the multi-stage Dockerfile: apt-get installs rustc and the
//! wasm32-wasi standard library in the Linux builder stage, rustc compiles
//! main.rs, and the FROM scratch stage keeps only the module. `wharf run`
//! of the result prints what the program prints.
//!
//! Slow (apt-get fetches about 200 MB from the Debian mirror; a minute of
//! debootstrap on the first run), so it runs only when asked:
//! WHARF_SLOW_TESTS=1.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const IMAGE: &str = "wasm-from-source:1";

#[test]
fn a_wasm_image_built_from_rust_source_inside_wharf_build_runs() {
    if std::env::var("WHARF_SLOW_TESTS").as_deref() != Ok("1") {
        // Straight to stderr: the test harness captures println!, and a
        // skip should be seen.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"wasm_from_source: skipped: the wasm-from-source example (apt-get of rustc from the \
              Debian mirror, minutes); run it with WHARF_SLOW_TESTS=1 cargo test --test wasm_from_source\n",
        );
        return;
    }
    let w = Wharf::new();

    let mut script = Command::new("bash");
    script
        .arg(examples_dir().join("wasm-from-source/build.sh"))
        .env("WHARF", BIN)
        .env("WHARF_ROOT", w.root())
        .env("IMAGE", IMAGE);
    let out = run_with_timeout(script, None, Duration::from_secs(1800));
    assert!(out.status.success(), "build.sh failed\n{}", describe(&out));
    println!("{}", stdout(&out));

    // A Wasm image of the final stage's two COPY layers: the builder
    // stage's Debian and toolchain are not in it.
    let image = w.inspect(IMAGE);
    assert_eq!(image["Os"], "wasi", "{image:#}");
    assert_eq!(image["Architecture"], "wasm", "{image:#}");
    let layers = image["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "the two COPY layers: {image:#}");
    let size = image["Size"].as_u64().unwrap();
    assert!(
        size < 10 * 1024 * 1024,
        "the final stage holds the module and a text file, not a toolchain: {size} bytes"
    );

    // The program: its greeting, its arguments, the image's ENV overridden
    // by -e, and a file the builder stage wrote (rustc's version).
    let out = w.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=from the test",
        IMAGE,
        "one",
        "two words",
    ]);
    let printed = lines(&out);
    assert_eq!(
        printed[0], "Hello from Rust compiled to wasm32-wasi inside wharf build!",
        "{out}"
    );
    assert_eq!(printed[1], r#"args: ["one", "two words"]"#, "{out}");
    assert_eq!(printed[2], "GREETING=from the test", "{out}");
    assert!(
        printed[3].starts_with("/etc/built-by.txt: rustc 1."),
        "the file from the builder stage: {out}"
    );
    // Without -e the image's own ENV is what the guest sees.
    let out = w.ok(&["run", "--rm", IMAGE]);
    assert!(
        out.contains("args: []\nGREETING=hello from the image config\n"),
        "{out}"
    );

    // A second build of the same context is answered from the build cache
    // and names the same image.
    let id = image["Id"].as_str().unwrap().to_string();
    let mut again = Command::new("bash");
    again
        .arg(examples_dir().join("wasm-from-source/build.sh"))
        .env("WHARF", BIN)
        .env("WHARF_ROOT", w.root())
        .env("IMAGE", IMAGE);
    let out = run_with_timeout(again, None, Duration::from_secs(600));
    assert!(
        out.status.success(),
        "build.sh again failed\n{}",
        describe(&out)
    );
    assert!(
        stdout(&out).contains("(cached)"),
        "the rebuild used the cache\n{}",
        describe(&out)
    );
    assert_eq!(w.inspect(IMAGE)["Id"], id.as_str());
}
