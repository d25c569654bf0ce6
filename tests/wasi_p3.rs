//! WASI 0.3 command components (`wasi:cli/run@0.3`, examples/cli-p3) run
//! like p2 ones: detected from their exports, with the same grants (args,
//! env, directories) and exit status as `wasmtime run -Sp3` gives.

mod common;

use common::*;

#[test]
fn a_wasi_0_3_command_runs_with_its_grants() {
    let w = Wharf::new();
    build_component_example(&w, "cli-p3", "cli-p3.wasm", "p3cli:wasm");
    let data = w.scratch("data");
    std::fs::write(data.join("one.txt"), "1").unwrap();
    std::fs::write(data.join("two.txt"), "2").unwrap();
    let volume = format!("{}:/data:ro", data.display());
    let out = w.cmd_env(
        &[
            "run",
            "--rm",
            "-e",
            "GREETING=hello",
            "-v",
            &volume,
            "p3cli:wasm",
            "a",
            "b",
        ],
        &[("GREETING_FROM_HOST", "leak")],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        stdout(&out),
        "p3 args: a b\np3 GREETING=hello\np3 /data: one.txt two.txt\n"
    );
    // Without the grants the guest sees none of it.
    assert_eq!(w.ok(&["run", "--rm", "p3cli:wasm"]), "p3 args: \n");
    // `run` returning `err` is exit status 1, as `wasmtime run` gives.
    let out = w.cmd(&["run", "--rm", "p3cli:wasm", "fail"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}
