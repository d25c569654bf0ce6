//! `wharf build`: output, tags, determinism, Dockerfile instructions, and the
//! rules for Wasm builds (exec-form ENTRYPOINT, no RUN).

mod common;

use common::*;

fn platform_wasm() -> [&'static str; 2] {
    ["--platform", "wasi/wasm"]
}

#[test]
fn build_prints_steps_and_result() {
    let w = Wharf::new();
    let out = w.build_hello();
    let steps: Vec<&str> = out.lines().filter(|l| l.starts_with("Step ")).collect();
    // examples/hello/Dockerfile has 4 instructions.
    assert_eq!(steps.len(), 4, "{out}");
    assert!(steps[0].starts_with("Step 1/4 : FROM scratch"), "{out}");
    assert!(steps[3].starts_with("Step 4/4 : ENTRYPOINT"), "{out}");
    let built = out
        .lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap_or_else(|| panic!("no `Successfully built` line:\n{out}"));
    assert!(is_hex(built.trim(), 12), "{built:?}");
    assert!(out.contains("Successfully tagged hello:1"), "{out}");
    let id = w.images()[0]["ID"].as_str().unwrap().to_string();
    assert!(
        id.trim_start_matches("sha256:").starts_with(built.trim()),
        "{id} vs {built}"
    );
}

#[test]
fn build_with_several_tags() {
    let w = Wharf::new();
    let ctx = hello_context();
    let out = w.ok(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "multi:a",
        "-t",
        "multi:b",
        ctx.to_str().unwrap(),
    ]);
    assert!(out.contains("Successfully tagged multi:a"), "{out}");
    assert!(out.contains("Successfully tagged multi:b"), "{out}");
    let imgs = w.images();
    assert_eq!(imgs.len(), 2);
    assert_eq!(imgs[0]["ID"], imgs[1]["ID"]);
}

#[test]
fn build_is_reproducible() {
    // With SOURCE_DATE_EPOCH (times in the image are that instant), the
    // same inputs give the same digest in any store.
    let a = Wharf::new();
    let b = Wharf::new();
    let ctx = hello_context();
    for w in [&a, &b] {
        let out = w.cmd_env(
            &[
                "build",
                "--platform",
                "wasi/wasm",
                "-t",
                "hello:1",
                ctx.to_str().unwrap(),
            ],
            &[("SOURCE_DATE_EPOCH", "1700000000")],
        );
        assert!(out.status.success(), "{}", describe(&out));
    }
    let da = a.images()[0]["Digest"].clone();
    let db = b.images()[0]["Digest"].clone();
    assert_eq!(da, db, "same inputs must give the same image digest");
    assert_eq!(a.inspect("hello:1")["Created"], "2023-11-14T22:13:20Z");
    // Again in the same store, under another tag: the same image.
    let out = a.cmd_env(
        &[
            "build",
            "--platform",
            "wasi/wasm",
            "-t",
            "hello:again",
            ctx.to_str().unwrap(),
        ],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let imgs = a.images();
    assert!(imgs.iter().all(|i| i["Digest"] == da), "{imgs:?}");
}

#[test]
fn different_input_gives_different_digest() {
    let w = Wharf::new();
    let df = "FROM scratch\nCOPY hello.wasm /hello.wasm\nENTRYPOINT [\"/hello.wasm\"]\n";
    let o1 = w.build_text(df, &["--platform", "wasi/wasm", "-t", "d:1"]);
    assert!(o1.status.success(), "{}", describe(&o1));
    let df2 = format!("{df}ENV X=1\n");
    let o2 = w.build_text(&df2, &["--platform", "wasi/wasm", "-t", "d:2"]);
    assert!(o2.status.success(), "{}", describe(&o2));
    let imgs = w.images();
    assert_eq!(imgs.len(), 2);
    assert_ne!(imgs[0]["Digest"], imgs[1]["Digest"]);
}

#[test]
fn quiet_build_prints_only_the_id() {
    let w = Wharf::new();
    let ctx = hello_context();
    let out = w.ok(&[
        "build",
        "-q",
        "--platform",
        "wasi/wasm",
        "-t",
        "q:1",
        ctx.to_str().unwrap(),
    ]);
    let ls: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(ls.len(), 1, "{out}");
    assert!(!out.contains("Step"), "{out}");
    let id = w.images()[0]["ID"].as_str().unwrap().to_string();
    let short = |s: &str| s.trim().trim_start_matches("sha256:").to_string();
    assert!(
        short(&id).starts_with(&short(ls[0])) || short(ls[0]).starts_with(&short(&id)),
        "{out} vs {id}"
    );
}

#[test]
fn dockerfile_flag_selects_file() {
    let w = Wharf::new();
    let ctx = w.context_with_hello("FROM scratch\nthis is not a valid instruction\n");
    std::fs::write(
        ctx.join("Alt.dockerfile"),
        "FROM scratch\nCOPY hello.wasm /alt.wasm\nENTRYPOINT [\"/alt.wasm\"]\n",
    )
    .unwrap();
    let alt = ctx.join("Alt.dockerfile");
    w.ok(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-f",
        alt.to_str().unwrap(),
        "-t",
        "alt:1",
        ctx.to_str().unwrap(),
    ]);
    let out = w.ok(&["run", "--rm", "alt:1", "args"]);
    assert_eq!(lines(&out), ["/alt.wasm", "args"]);
}

#[test]
fn build_args_substitute() {
    let w = Wharf::new();
    let df = "FROM scratch\n\
              ARG COLOR=red\n\
              ARG DEST=/hello.wasm\n\
              ENV COLOR=${COLOR}\n\
              COPY hello.wasm $DEST\n\
              ENTRYPOINT [\"/hello.wasm\"]\n";
    let out = w.build_text(df, &["--platform", "wasi/wasm", "-t", "args:default"]);
    assert!(out.status.success(), "{}", describe(&out));
    let env = lines(&w.ok(&["run", "--rm", "args:default", "env"]));
    assert!(env.contains(&"COLOR=red".to_string()), "{env:?}");

    let out = w.build_text(
        df,
        &[
            "--platform",
            "wasi/wasm",
            "--build-arg",
            "COLOR=green",
            "-t",
            "args:green",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let env = lines(&w.ok(&["run", "--rm", "args:green", "env"]));
    assert!(env.contains(&"COLOR=green".to_string()), "{env:?}");
    // ARG values are not part of the runtime env unless ENV says so.
    assert!(!env.iter().any(|l| l.starts_with("DEST=")), "{env:?}");
}

#[test]
fn copy_into_directories_and_labels() {
    let w = Wharf::new();
    let df = "FROM scratch\n\
              LABEL org.example.purpose=\"e2e test\"\n\
              COPY hello.wasm greeting.txt /opt/app/\n\
              ENTRYPOINT [\"/opt/app/hello.wasm\"]\n";
    let out = w.build_text(df, &["--platform", "wasi/wasm", "-t", "dirs:1"]);
    assert!(out.status.success(), "{}", describe(&out));
    let ls = lines(&w.ok(&["run", "--rm", "dirs:1", "ls", "/opt/app"]));
    assert_eq!(ls, ["greeting.txt", "hello.wasm"]);
    let i = w.inspect("dirs:1").to_string();
    assert!(i.contains("org.example.purpose"), "{i}");
}

#[test]
fn shell_form_entrypoint_is_rejected_for_wasm() {
    let w = Wharf::new();
    let df = "FROM scratch\nCOPY hello.wasm /hello.wasm\nENTRYPOINT /hello.wasm\n";
    let out = w.build_text(df, &platform_wasm_tagged("sh:1"));
    assert_error(&out, "build with shell-form ENTRYPOINT");
    assert!(stderr(&out).contains("exec form"), "{}", describe(&out));
    assert!(
        w.images().is_empty(),
        "a failed build must not tag anything"
    );
}

#[test]
fn shell_form_cmd_is_rejected_for_wasm() {
    let w = Wharf::new();
    let df = "FROM scratch\nCOPY hello.wasm /hello.wasm\nCMD /hello.wasm echo\n";
    let out = w.build_text(df, &platform_wasm_tagged("sh:2"));
    assert_error(&out, "build with shell-form CMD");
    assert!(stderr(&out).contains("exec form"), "{}", describe(&out));
}

#[test]
fn run_instruction_is_rejected_for_wasm() {
    let w = Wharf::new();
    let df =
        "FROM scratch\nCOPY hello.wasm /hello.wasm\nRUN echo hi\nENTRYPOINT [\"/hello.wasm\"]\n";
    let out = w.build_text(df, &platform_wasm_tagged("run:1"));
    assert_error(&out, "build with RUN");
    assert!(stderr(&out).contains("RUN"), "{}", describe(&out));
    assert!(w.images().is_empty());
}

#[test]
fn copy_of_missing_file_fails() {
    let w = Wharf::new();
    let df = "FROM scratch\nCOPY nosuch.wasm /x.wasm\nENTRYPOINT [\"/x.wasm\"]\n";
    let out = w.build_text(df, &platform_wasm_tagged("miss:1"));
    assert_error(&out, "build COPY of a missing file");
    assert!(stderr(&out).contains("nosuch.wasm"), "{}", describe(&out));
    assert!(w.images().is_empty());
}

#[test]
fn copy_cannot_escape_context() {
    let w = Wharf::new();
    let ctx = w.context_with_hello(
        "FROM scratch\nCOPY ../outside.txt /o.txt\nCOPY hello.wasm /hello.wasm\nENTRYPOINT [\"/hello.wasm\"]\n",
    );
    std::fs::write(ctx.parent().unwrap().join("outside.txt"), "TOP SECRET\n").unwrap();
    let out = w.cmd(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "esc:1",
        ctx.to_str().unwrap(),
    ]);
    if out.status.success() {
        // Docker resolves `..` inside the context: then the file is not found.
        panic!("COPY ../outside.txt succeeded\n{}", describe(&out));
    }
    assert_error(&out, "build COPY ../outside.txt");
}

#[test]
fn missing_context_or_dockerfile_fails() {
    let w = Wharf::new();
    let out = w.fails(&["build", "-t", "x:1", "/nonexistent/context"]);
    assert_eq!(out.status.code(), Some(1));
    let empty = w.scratch("empty");
    let out = w.fails(&["build", "-t", "x:1", empty.to_str().unwrap()]);
    assert!(stderr(&out).contains("Dockerfile"), "{}", describe(&out));
}

fn platform_wasm_tagged(tag: &str) -> Vec<&str> {
    let mut v = platform_wasm().to_vec();
    v.push("-t");
    v.push(tag);
    v
}

/// `ADD` of an archive that expands like a decompression bomb is refused,
/// naming the archive (issue 19, item 3).
#[test]
fn add_of_a_decompression_bomb_is_refused() {
    let w = Wharf::new();
    let ctx = w.context_with_hello(
        "FROM scratch\nADD bomb.tar.gz /\nCOPY hello.wasm /\nENTRYPOINT [\"/hello.wasm\"]\n",
    );
    let (gz, _) = zeros_layer(w.work.path(), "zeros.bin", 200 << 20);
    std::fs::write(ctx.join("bomb.tar.gz"), gz).unwrap();
    let out = w.cmd(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "bomb:1",
        ctx.to_str().unwrap(),
    ]);
    assert_error(&out, "ADD of a decompression bomb");
    let err = stderr(&out);
    assert!(
        err.contains("bomb.tar.gz") && err.contains("decompression bomb"),
        "the error should name the archive and say why: {err}"
    );
}

/// `ADD archive.tar` unpacks inside the store (on its filesystem, not the
/// system temp dir), where the next command that takes the store's lock
/// removes what a killed build left (issue 19, item 3: a killed build left
/// 1.1 GB in /tmp). The archive is a FIFO so the build is caught mid-unpack.
#[test]
fn a_killed_add_leaves_nothing_after_the_next_command() {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let w = Wharf::new();
    let ctx = w.context_with_hello("FROM scratch\nADD slow.tar /data/\n");
    let fifo = ctx.join("slow.tar");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let mut build = w
        .command(&[
            "build",
            "--platform",
            "wasi/wasm",
            "-t",
            "slow:1",
            ctx.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Opening for writing succeeds once the build opened it for reading.
    let mut pipe = poll(CMD_TIMEOUT, || {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .ok()
    })
    .expect("the build never opened the archive");
    let mut h = tar::Header::new_gnu();
    h.set_path("partial.bin").unwrap();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(1 << 20);
    h.set_cksum();
    pipe.write_all(h.as_bytes()).unwrap();
    pipe.write_all(&[b'x'; 4096]).unwrap();
    let snapshots = w.root().join("snapshots");
    let scratch = poll(CMD_TIMEOUT, || {
        std::fs::read_dir(&snapshots)
            .ok()?
            .map(|e| e.unwrap().path())
            .find(|p| p.join("partial.bin").exists())
    })
    .expect("ADD did not unpack inside the store's snapshots directory");
    build.kill().unwrap();
    build.wait().unwrap();
    drop(pipe);
    assert!(scratch.exists());
    let a = w.scratch_file("img.tar", &layout(&good_image("other:1")).archive());
    w.load(&a);
    assert!(
        !scratch.exists(),
        "the killed build's unpacking is still there: {}",
        scratch.display()
    );
}
