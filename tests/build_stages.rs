//! `wharf build` of multi-stage Dockerfiles (a Linux builder stage making a
//! Wasm image, `--target`, `COPY --from`), the build cache, image metadata
//! and the instructions beyond the basics. Linux builder stages run RUN
//! steps, so these tests need root and /bin/busybox (scripts/setup.sh).

mod common;

use common::*;

/// A context with `Dockerfile`, the hello module under a name the builder
/// stage must change (`hello.wasm.in`) and a note it transforms.
fn stages_context(w: &Wharf, name: &str, dockerfile: &str) -> std::path::PathBuf {
    let ctx = w.scratch(name);
    std::fs::copy(artifact("hello/hello.wasm"), ctx.join("hello.wasm.in")).unwrap();
    std::fs::write(ctx.join("note.txt"), "built by the builder stage\n").unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    ctx
}

/// The seeds' form: a Linux stage with a toolchain "compiles" (here: copies
/// and transforms with busybox) and a `FROM scratch` Wasm stage takes the
/// result with `COPY --from`; global ARGs name the builder's base.
const SEED_FORM: &str = "\
ARG BUILDER=bb
FROM --platform=$BUILDPLATFORM ${BUILDER} AS build
WORKDIR /src
COPY hello.wasm.in note.txt ./
RUN cp hello.wasm.in out.wasm && tr a-z A-Z < note.txt > NOTE.txt

FROM scratch
COPY --from=build /src/out.wasm /app.wasm
COPY --from=build /src/NOTE.txt /note.txt
ENTRYPOINT [\"/app.wasm\"]
";

#[test]
fn linux_builder_stage_makes_a_wasm_image() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    let ctx = stages_context(&w, "seed", SEED_FORM);
    let out = w.ok(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "app:1",
        ctx.to_str().unwrap(),
    ]);
    assert!(out.contains("Successfully tagged app:1"), "{out}");
    assert_eq!(w.ok(&["run", "--rm", "app:1"]).trim(), WASM_GREETING);
    assert_eq!(
        w.ok(&["run", "--rm", "app:1", "cat", "/note.txt"]).trim(),
        "BUILT BY THE BUILDER STAGE"
    );
    // The final stage decides the platform; the builder's layers are not
    // in the image.
    let img = w.inspect("app:1");
    assert_eq!(img["Architecture"], "wasm", "{img:#}");
    assert_eq!(
        img["RootFS"]["diff_ids"].as_array().unwrap().len(),
        2,
        "{img:#}"
    );

    // A rebuild reuses every step, the builder stage's too, though only the
    // build cache keeps its layers (gc ran before the rebuild).
    let again = w.ok(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "app:1",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(cache_hits(&again), 6, "{again}");
    assert_eq!(built_id(&again), built_id(&out));
    // `builder prune` drops the cache and those layers; the image stays.
    let pruned = w.ok(&["builder", "prune", "-f"]);
    let entries: usize = pruned
        .lines()
        .find_map(|l| l.strip_prefix("Deleted build cache entries: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{pruned}"));
    assert!(entries >= 6, "{pruned}");
    assert_eq!(w.ok(&["run", "--rm", "app:1"]).trim(), WASM_GREETING);
    let cold = w.ok(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "app:1",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(cache_hits(&cold), 0, "{cold}");
}

#[test]
fn builder_stage_without_platform_falls_back_to_the_host() {
    // The form: `FROM <linux image> AS build` with no --platform,
    // built with --platform wasi/wasm.
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    let df = SEED_FORM.replace("--platform=$BUILDPLATFORM ", "");
    let ctx = stages_context(&w, "fallback", &df);
    let out = w.ok(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "app:2",
        ctx.to_str().unwrap(),
    ]);
    assert!(out.contains("builder stage"), "{out}");
    assert_eq!(w.ok(&["run", "--rm", "app:2"]).trim(), WASM_GREETING);
}

#[test]
fn only_the_stages_the_target_needs_are_built() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    let df = "\
FROM bb AS build
RUN echo made > /made.txt

FROM bb AS broken
RUN false

FROM bb AS final
COPY --from=0 /made.txt /from-index.txt
COPY --from=build /made.txt /from-name.txt
COPY --from=bb /bin/busybox /copied-busybox
RUN cat /from-index.txt /from-name.txt > /both.txt && test -x /copied-busybox
";
    let ctx = stages_context(&w, "target", df);
    let out = w.ok(&["build", "-t", "multi:final", ctx.to_str().unwrap()]);
    assert!(
        !out.contains("RUN false"),
        "the unused stage was built:\n{out}"
    );
    assert_eq!(
        w.ok(&["run", "--rm", "multi:final", "cat", "/both.txt"]),
        "made\nmade\n"
    );
    // --target picks a stage by name: the failing one fails the build...
    let failed = w.fails(&["build", "--target", "broken", ctx.to_str().unwrap()]);
    assert!(stderr(&failed).contains("RUN"), "{}", describe(&failed));
    // ...and the first one is an image of its own, without the others.
    w.ok(&[
        "build",
        "--target",
        "build",
        "-t",
        "multi:build",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(
        w.ok(&["run", "--rm", "multi:build", "cat", "/made.txt"]),
        "made\n"
    );
    let no = w.cmd(&["run", "--rm", "multi:build", "cat", "/both.txt"]);
    assert!(!no.status.success(), "{}", describe(&no));
    // An unknown target names the stages there are.
    let bad = w.fails(&["build", "--target", "nope", ctx.to_str().unwrap()]);
    let e = stderr(&bad);
    assert!(
        e.contains("nope") && e.contains("build, broken, final"),
        "{e}"
    );
}

/// The short id of "Successfully built <id>".
fn built_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap_or_else(|| panic!("no 'Successfully built' in:\n{out}"))
        .trim()
        .to_string()
}

fn cache_hits(out: &str) -> usize {
    out.lines()
        .filter(|l| l.trim() == "---> Using cache")
        .count()
}

#[test]
fn build_cache_hits_and_misses() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    let df = "\
FROM bb
ARG FLAVOUR=plain
COPY . /ctx/
RUN echo ran-$((40+2)) && echo \"$FLAVOUR\" > /flavour && cat /ctx/note.txt >> /flavour
";
    let ctx = stages_context(&w, "cache", df);
    std::fs::write(ctx.join(".dockerignore"), "ignored.txt\n").unwrap();
    std::fs::write(ctx.join("ignored.txt"), "one").unwrap();
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "-t", "c:1"];
        args.extend_from_slice(extra);
        args.push(ctx.to_str().unwrap());
        w.ok(&args)
    };
    let first = build(&[]);
    assert_eq!(cache_hits(&first), 0, "{first}");
    assert!(
        first.contains("ran-42"),
        "the RUN step did not run:\n{first}"
    );
    let id = built_id(&first);

    // Unchanged: every step after FROM is reused, the RUN does not run,
    // the image id stays.
    let again = build(&[]);
    assert_eq!(cache_hits(&again), 3, "{again}");
    assert!(!again.contains("ran-42"), "{again}");
    assert_eq!(built_id(&again), id);

    // A change .dockerignore excludes is no change.
    std::fs::write(ctx.join("ignored.txt"), "two").unwrap();
    let ignored = build(&[]);
    assert_eq!(cache_hits(&ignored), 3, "{ignored}");
    assert_eq!(built_id(&ignored), id);

    // A changed file misses from its COPY on.
    std::fs::write(ctx.join("note.txt"), "changed\n").unwrap();
    let changed = build(&[]);
    assert_eq!(
        cache_hits(&changed),
        1,
        "only the ARG is reused:\n{changed}"
    );
    assert!(changed.contains("ran-42"), "{changed}");
    let changed_id = built_id(&changed);
    assert_ne!(changed_id, id);
    assert_eq!(
        w.ok(&["run", "--rm", "c:1", "cat", "/flavour"]),
        "plain\nchanged\n"
    );

    // A changed build arg misses from the ARG on.
    let arg = build(&["--build-arg", "FLAVOUR=spicy"]);
    assert_eq!(cache_hits(&arg), 0, "{arg}");
    assert_ne!(built_id(&arg), changed_id);
    assert_eq!(
        w.ok(&["run", "--rm", "c:1", "cat", "/flavour"]),
        "spicy\nchanged\n"
    );
    // ...and the earlier arg's results are still there.
    let back = build(&[]);
    assert_eq!(cache_hits(&back), 3, "{back}");
    assert_eq!(built_id(&back), changed_id);

    // --no-cache runs every step.
    let fresh = build(&["--no-cache"]);
    assert_eq!(cache_hits(&fresh), 0, "{fresh}");
    assert!(fresh.contains("ran-42"), "{fresh}");
}

/// The config blob of image `name`, parsed.
fn image_config(w: &Wharf, name: &str) -> serde_json::Value {
    let id = w.inspect(name)["Id"].as_str().unwrap().to_string();
    let hex = id.trim_start_matches("sha256:");
    let bytes = std::fs::read(w.root().join("blobs/sha256").join(hex)).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn images_record_when_and_how_they_were_built() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    let df = "FROM bb\nENV GREETING=hi\nCOPY note.txt /note.txt\nRUN cp /note.txt /copy.txt\n";
    let ctx = stages_context(&w, "meta", df);
    let before = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    w.ok(&["build", "-t", "meta:1", ctx.to_str().unwrap()]);
    let c = image_config(&w, "meta:1");
    let created = c["created"].as_str().unwrap().to_string();
    // RFC 3339 in UTC with nanoseconds (as both are) compares as text.
    assert!(created.as_str() >= before.as_str(), "{created} < {before}");
    let history = c["history"].as_array().unwrap();
    // busybox's own steps, then these three.
    let mine = &history[history.len() - 3..];
    assert_eq!(mine[0]["created_by"], "ENV GREETING=hi", "{history:#?}");
    assert_eq!(mine[0]["empty_layer"], true);
    assert_eq!(mine[1]["created_by"], "COPY note.txt /note.txt # buildkit");
    assert_eq!(
        mine[2]["created_by"],
        "RUN /bin/sh -c cp /note.txt /copy.txt # buildkit"
    );
    assert!(mine
        .iter()
        .all(|h| h["created"].as_str() >= Some(before.as_str())));
    assert_eq!(mine[2]["created"], c["created"]);
    // One history entry per layer, as tools pair them.
    let layers = history.iter().filter(|h| h["empty_layer"] != true).count();
    assert_eq!(layers, c["rootfs"]["diff_ids"].as_array().unwrap().len());
    // `inspect` says when.
    assert_eq!(w.inspect("meta:1")["Created"], c["created"]);
    // A rebuild from the cache keeps the time, and so the id.
    w.ok(&["build", "-t", "meta:2", ctx.to_str().unwrap()]);
    assert_eq!(image_config(&w, "meta:2"), c);
}

#[test]
fn healthcheck_stopsignal_shell_and_onbuild() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    let base = "\
FROM bb
HEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=4 CMD wget -qO- http://localhost/ || exit 1
STOPSIGNAL SIGINT
SHELL [\"/bin/sh\", \"-c\", \"echo \\\"shell:$0\\\" > /shell.txt\"]
RUN made by the custom shell
CMD hello there
ONBUILD COPY note.txt /onbuild-note.txt
ONBUILD RUN [\"/bin/cp\", \"/onbuild-note.txt\", \"/onbuild-ran.txt\"]
";
    let ctx = stages_context(&w, "base", base);
    w.ok(&["build", "-t", "base:1", ctx.to_str().unwrap()]);
    let c = image_config(&w, "base:1");
    let k = &c["config"];
    assert_eq!(
        k["Healthcheck"],
        serde_json::json!({
            "Test": ["CMD-SHELL", "wget -qO- http://localhost/ || exit 1"],
            "Interval": 5_000_000_000u64,
            "Timeout": 2_000_000_000u64,
            "StartPeriod": 1_000_000_000u64,
            "Retries": 4
        })
    );
    assert_eq!(k["StopSignal"], "SIGINT");
    let shell = serde_json::json!(["/bin/sh", "-c", "echo \"shell:$0\" > /shell.txt"]);
    assert_eq!(k["Shell"], shell);
    // Later shell forms go through the SHELL.
    assert_eq!(
        k["Cmd"],
        serde_json::json!([
            "/bin/sh",
            "-c",
            "echo \"shell:$0\" > /shell.txt",
            "hello there"
        ])
    );
    assert_eq!(
        w.ok(&["run", "--rm", "base:1", "cat", "/shell.txt"]),
        "shell:made by the custom shell\n"
    );
    assert_eq!(k["OnBuild"].as_array().unwrap().len(), 2, "{k:#}");

    // An image FROM it runs the triggers first, and keeps none of them.
    let child = "FROM base:1\nHEALTHCHECK NONE\n";
    let ctx = stages_context(&w, "child", child);
    let out = w.ok(&["build", "-t", "child:1", ctx.to_str().unwrap()]);
    assert!(out.contains("# Executing 2 build triggers"), "{out}");
    assert_eq!(
        w.ok(&["run", "--rm", "child:1", "cat", "/onbuild-ran.txt"]),
        "built by the builder stage\n"
    );
    let k = image_config(&w, "child:1")["config"].clone();
    assert!(k["OnBuild"].is_null(), "{k:#}");
    assert_eq!(k["Healthcheck"], serde_json::json!({ "Test": ["NONE"] }));
    assert_eq!(k["Shell"], shell);
    assert_eq!(k["StopSignal"], "SIGINT");

    // A signal that is none is refused, naming the line.
    let ctx = stages_context(&w, "badsig", "FROM bb\nSTOPSIGNAL SIGNOPE\n");
    let bad = w.fails(&["build", ctx.to_str().unwrap()]);
    let e = stderr(&bad);
    assert!(e.contains("line 2") && e.contains("SIGNOPE"), "{e}");
}

/// A tiny HTTP server on 127.0.0.1 for this test: `/files/payload.txt`
/// answers the current `body`, anything else 404. Returns its port.
fn serve(body: std::sync::Arc<std::sync::Mutex<String>>) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let target = request.split_whitespace().nth(1).unwrap_or("");
            let path = target.split('?').next().unwrap_or("");
            let response = if path == "/files/payload.txt" {
                let b = body.lock().unwrap().clone();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                    b.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
            };
            let _ = conn.write_all(response.as_bytes());
        }
    });
    port
}

#[test]
fn add_downloads_urls() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    let body = std::sync::Arc::new(std::sync::Mutex::new("first payload\n".to_string()));
    let port = serve(body.clone());
    let url = format!("http://127.0.0.1:{port}/files/payload.txt");
    let df = format!("FROM bb\nADD {url} /downloads/\nADD {url}?v=1 /named.txt\n");
    let ctx = stages_context(&w, "add-url", &df);
    let build = || w.ok(&["build", "-t", "dl:1", ctx.to_str().unwrap()]);
    build();
    assert_eq!(
        w.ok(&[
            "run",
            "--rm",
            "dl:1",
            "cat",
            "/downloads/payload.txt",
            "/named.txt"
        ]),
        "first payload\nfirst payload\n"
    );
    // Docker's mode for downloads.
    assert_eq!(
        w.ok(&["run", "--rm", "dl:1", "stat", "-c", "%a", "/named.txt"])
            .trim(),
        "600"
    );
    // Downloaded again and keyed by content: unchanged is a hit, changed a miss.
    assert_eq!(cache_hits(&build()), 2);
    *body.lock().unwrap() = "second payload\n".into();
    assert_eq!(cache_hits(&build()), 0);
    assert_eq!(
        w.ok(&["run", "--rm", "dl:1", "cat", "/named.txt"]),
        "second payload\n"
    );
    // A URL the server does not have fails the build, saying so.
    let df = format!("FROM bb\nADD http://127.0.0.1:{port}/missing /x\n");
    let ctx = stages_context(&w, "add-404", &df);
    let bad = w.fails(&["build", ctx.to_str().unwrap()]);
    let e = stderr(&bad);
    assert!(e.contains("line 2") && e.contains("404"), "{e}");
}

#[test]
fn rmi_reports_names_untagged_and_the_image_deleted() {
    let w = Wharf::new();
    let df = "FROM scratch\nCOPY hello.wasm.in /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n";
    let ctx = stages_context(&w, "rmi", df);
    let ctx = ctx.to_str().unwrap();
    // Untagged, removed by its short id: the image is deleted, no name was
    // untagged (not its manifest digest as if it were one).
    let id = w.ok(&["build", "-q", "--platform", "wasi/wasm", ctx]);
    let id = id.trim().to_string();
    let hex = id.trim_start_matches("sha256:");
    let out = w.ok(&["rmi", &hex[..12]]);
    assert_eq!(out, format!("Deleted: sha256:{hex}\n"));
    assert!(w.images().is_empty());
    // Tagged twice: rmi of one name untags it; of the last, deletes too.
    w.ok(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "one:1",
        "-t",
        "one:2",
        ctx,
    ]);
    assert_eq!(w.ok(&["rmi", "one:1"]), "Untagged: one:1\n");
    assert_eq!(
        w.ok(&["rmi", "one:2"]),
        format!("Untagged: one:2\nDeleted: sha256:{hex}\n")
    );
}

/// Runs skopeo, which must succeed (scripts/setup.sh installs it).
fn skopeo(args: &[&str]) -> String {
    let mut c = std::process::Command::new("skopeo");
    c.args(args);
    let out = run_with_timeout(c, None, CMD_TIMEOUT);
    assert!(out.status.success(), "skopeo {args:?}\n{}", describe(&out));
    stdout(&out)
}

#[test]
fn oci_and_docker_archives_of_one_image_load_as_one_image() {
    let w = Wharf::new();
    let df = "FROM scratch\nCOPY hello.wasm.in /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n";
    let ctx = stages_context(&w, "archives", df);
    w.ok(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "hello:1",
        ctx.to_str().unwrap(),
    ]);
    let config = image_config(&w, "hello:1");
    let oci = w.scratch("archives-out").join("oci.tar");
    let docker = w.scratch("archives-out").join("docker.tar");
    w.ok(&["save", "-o", oci.to_str().unwrap(), "hello:1"]);
    skopeo(&[
        "copy",
        "-q",
        &format!("oci-archive:{}", oci.display()),
        &format!("docker-archive:{}:hello:1", docker.display()),
    ]);
    // The time and history survive the round trip through skopeo.
    let seen: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--config",
        &format!("docker-archive:{}", docker.display()),
    ]))
    .unwrap();
    assert_eq!(seen["created"], config["created"]);
    assert_eq!(seen["history"], config["history"]);

    let fresh = Wharf::new();
    fresh.load(&oci);
    fresh.load(&docker);
    let imgs = fresh.images();
    assert_eq!(
        imgs.len(),
        1,
        "one image, not a <none> beside it: {imgs:#?}"
    );
    assert_eq!(fresh.inspect("hello:1")["Id"], w.inspect("hello:1")["Id"]);
    assert_eq!(fresh.ok(&["run", "--rm", "hello:1"]).trim(), WASM_GREETING);
}
