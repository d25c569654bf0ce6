//! `wharf compose` end to end, as root, with the real netavark: a project
//! mixing a Wasm HTTP gateway with Linux services (a backend, a one-shot
//! that must complete first, a healthcheck'd server), brought up in
//! dependency order, reached through its published port on 127.0.0.1,
//! listed, logged, exec'd into, and taken down leaving the host as found;
//! named volumes across down/up and `down -v`; failing dependencies; an
//! attached `up` stopped by Ctrl-C; files refused before anything starts;
//! and the labels and `ps --filter` the driver finds its containers by.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Tests that make networks compare the host before and after: one at a time.
static HOST: Mutex<()> = Mutex::new(());

/// examples/http as `web:wasm` and `web:linux`, and busybox as `bb` with a
/// page at /www/index.html.
fn build_images(w: &Wharf) {
    build_http_example(w);
    build_busybox(
        w,
        "bb",
        "RUN mkdir -p /www && echo health-page > /www/index.html\nCMD [\"sh\"]\n",
    );
}

/// A project: its file in a directory of its own, driven with `-f` and `-p`.
struct Project<'a> {
    w: &'a Wharf,
    name: String,
    file: PathBuf,
}

impl<'a> Project<'a> {
    fn new(w: &'a Wharf, name: &str, yaml: &str) -> Project<'a> {
        let dir = w.scratch(&format!("project-{name}"));
        let file = dir.join("compose.yaml");
        std::fs::write(&file, yaml).unwrap();
        Project {
            w,
            name: name.to_string(),
            file,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut all = vec![
            "compose",
            "-f",
            self.file.to_str().unwrap(),
            "-p",
            &self.name,
        ];
        all.extend_from_slice(args);
        self.w.command(&all)
    }

    fn cmd(&self, args: &[&str]) -> Output {
        run_with_timeout(self.command(args), None, CMD_TIMEOUT)
    }

    /// Must succeed; (stdout, stderr).
    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "`wharf compose {}` failed\n{}",
            args.join(" "),
            describe(&out)
        );
        (stdout(&out), stderr(&out))
    }

    /// Must fail the Wharf way; its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert_error(&out, &format!("wharf compose {}", args.join(" ")));
        stderr(&out)
    }

    /// What marks this project's bridge in firewall rules: its subnet's
    /// first three octets (`10.89.3.`), from `network inspect`.
    fn bridge_mark(&self) -> String {
        let out = self
            .w
            .ok(&["network", "inspect", &format!("{}_default", self.name)]);
        let v: Value = serde_json::from_str(&out).unwrap();
        let subnet = v[0]["IPAM"]["Config"][0]["Subnet"]
            .as_str()
            .unwrap_or_else(|| panic!("no subnet in {out}"))
            .to_string();
        let prefix = subnet.split('/').next().unwrap();
        let octets: Vec<&str> = prefix.split('.').collect();
        format!("{}.{}.{}.", octets[0], octets[1], octets[2])
    }
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// GET with curl: the body when the status is below 400.
fn get(port: u16, path: &str) -> Option<String> {
    let out = Command::new("curl")
        .args([
            "-sf",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{port}{path}"),
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The position of the first stderr line holding `needle`, for order checks.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

fn network_names(w: &Wharf) -> Vec<String> {
    w.ok(&["network", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn volume_names(w: &Wharf) -> Vec<String> {
    w.ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

const MIXED: &str = r#"
services:
  gateway:                    # Wasm HTTP component, published on the host
    image: web:wasm
    platform: wasi/wasm
    environment:
      BACKEND_URL: http://backend:8080
    ports: ["127.0.0.1:${GATEWAY_PORT}:8080"]
    healthcheck:              # a Wasm container: probed over HTTP
      test: ["CMD", "curl", "-f", "http://localhost:8080/"]
      interval: 500ms
      retries: 20
    depends_on:
      backend: {condition: service_started}
      health: {condition: service_healthy}
  backend:                    # the same routes as a native Linux server
    image: web:linux
    environment:
      ROLE: the-linux-backend
    stop_grace_period: 1s
    depends_on:
      init: {condition: service_completed_successfully}
  init:                       # a one-shot writing to a named volume
    image: bb
    command: ["sh", "-c", "echo x >> /data/runs && echo runs=$$(wc -l < /data/runs)"]
    volumes: ["data:/data"]
  health:                     # healthcheck'd by exec in the container
    image: bb
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    stop_grace_period: 1s
    volumes: ["data:/data:ro"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:80/"]
      interval: 500ms
      timeout: 5s
      retries: 20
  smoke:                      # Linux reaching the Wasm gateway by name once it is healthy
    image: bb
    command: ["wget", "-q", "-O-", "http://gateway:8080/"]
    depends_on:
      gateway: {condition: service_healthy}
volumes:
  data:
"#;

#[test]
fn a_mixed_project_comes_up_in_order_and_down_leaves_the_host_as_found() {
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    build_images(&w);
    let port = free_port();
    let yaml = MIXED.replace("${GATEWAY_PORT}", &port.to_string());
    let p = Project::new(&w, "mix", &yaml);
    let before = host_state(&[]);

    let (_, progress) = p.ok(&["up", "-d"]);
    // Dependency order, with the conditions met before dependents start.
    assert!(
        line_of(&progress, "mix-init-1  Exited (0)") < line_of(&progress, "mix-backend-1  Started")
    );
    assert!(
        line_of(&progress, "mix-health-1  Started") < line_of(&progress, "mix-health-1  Healthy")
    );
    assert!(
        line_of(&progress, "mix-health-1  Healthy") < line_of(&progress, "mix-gateway-1  Started")
    );
    assert!(
        line_of(&progress, "mix-gateway-1  Healthy") < line_of(&progress, "mix-smoke-1  Started")
    );
    let mark = p.bridge_mark();

    // Through the Wasm gateway's published port, to the Linux backend by service name.
    let fetched = poll(Duration::from_secs(20), || {
        get(port, "/fetch?url=http://backend:8080/env/ROLE")
    });
    assert_eq!(fetched.as_deref(), Some("the-linux-backend\n"));

    // ps: running ones by default, all with -a.
    let (ps, _) = p.ok(&["ps"]);
    let header = ps.lines().next().unwrap();
    for column in ["NAME", "IMAGE", "SERVICE", "STATUS", "PORTS"] {
        assert!(header.contains(column), "{ps}");
    }
    let row = |name: &str, text: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .to_string()
    };
    let gateway = row("mix-gateway-1", &ps);
    assert!(
        gateway.contains("web:wasm")
            && gateway.contains("gateway")
            && gateway.contains("Up")
            && gateway.contains(&format!("127.0.0.1:{port}->8080/tcp")),
        "{ps}"
    );
    assert!(row("mix-backend-1", &ps).contains("web:linux"), "{ps}");
    assert!(row("mix-health-1", &ps).contains("Up"), "{ps}");
    assert!(!ps.contains("mix-init-1"), "exited: only with -a\n{ps}");
    let (all, _) = p.ok(&["ps", "-a"]);
    assert!(row("mix-init-1", &all).contains("Exited (0)"), "{all}");

    // Logs, prefixed like Docker Compose's: names padded to the longest plus one.
    let (logs, _) = p.ok(&["logs"]);
    let lines = lines(&logs);
    assert!(lines.contains(&"init-1     | runs=1".to_string()), "{logs}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("gateway-1  | Serving HTTP on")),
        "{logs}"
    );
    assert!(
        lines.contains(&"smoke-1    | Hello from a Wasm HTTP component!".to_string()),
        "{logs}"
    );
    let (init_logs, _) = p.ok(&["logs", "init"]);
    assert_eq!(init_logs, "init-1  | runs=1\n");
    let (bare, _) = p.ok(&["logs", "--no-log-prefix", "init"]);
    assert_eq!(bare, "runs=1\n");

    // The labels compose finds its containers by, through plain ps and inspect.
    let labelled = json_lines(&w.ok(&[
        "ps",
        "--filter",
        "label=com.docker.compose.project=mix",
        "--filter",
        "label=com.docker.compose.service=backend",
        "--format",
        "json",
    ]));
    assert_eq!(labelled.len(), 1, "{labelled:?}");
    assert_eq!(labelled[0]["Names"], "mix-backend-1");
    let labels = &w.inspect("mix-gateway-1")["Config"]["Labels"];
    assert_eq!(labels["com.docker.compose.service"], "gateway");
    assert_eq!(labels["com.docker.compose.project"], "mix");
    assert!(labels["com.docker.compose.config-hash"]
        .as_str()
        .is_some_and(|h| h.len() == 64));

    // exec: into a Linux service; a Wasm one has nothing to exec into.
    let (page, _) = p.ok(&["exec", "-T", "health", "cat", "/www/index.html"]);
    assert_eq!(page, "health-page\n");
    let err = p.fails(&["exec", "-T", "gateway", "ls"]);
    assert!(err.contains("exec works on Linux containers"), "{err}");
    let err = p.fails(&["exec", "-T", "nosuch", "ls"]);
    assert!(err.contains("nosuch") && err.contains("gateway"), "{err}");

    // up again: unchanged running containers are left alone; the one-shot runs again.
    let (_, again) = p.ok(&["up", "-d"]);
    for name in ["mix-gateway-1", "mix-backend-1", "mix-health-1"] {
        assert!(
            again.contains(&format!("{name}  Running")),
            "{name}:\n{again}"
        );
    }
    let (init_logs, _) = p.ok(&["logs", "init"]);
    assert_eq!(init_logs, "init-1  | runs=2\n");
    // A changed service is recreated (its config hash differs).
    let changed = yaml.replace("ROLE: the-linux-backend", "ROLE: changed-backend");
    std::fs::write(&p.file, &changed).unwrap();
    let (_, recreated) = p.ok(&["up", "-d", "backend"]);
    assert!(
        recreated.contains("mix-backend-1  Recreated"),
        "{recreated}"
    );
    assert!(
        !recreated.contains("mix-gateway-1"),
        "only backend and what it depends on:\n{recreated}"
    );
    // Asked from a fresh container: one that talked to the old backend may
    // hold its MAC address for the reused IP address for a while.
    let role = w.ok(&[
        "run",
        "--rm",
        "--network",
        "mix_default",
        "bb",
        "wget",
        "-q",
        "-O-",
        "http://backend:8080/env/ROLE",
    ]);
    assert_eq!(role, "changed-backend\n");

    // stop, then start again (exited containers are recreated).
    p.ok(&["stop", "gateway"]);
    let (ps, _) = p.ok(&["ps"]);
    assert!(!ps.contains("mix-gateway-1"), "{ps}");
    p.ok(&["start", "gateway"]);
    let (ps, _) = p.ok(&["ps"]);
    assert!(row("mix-gateway-1", &ps).contains("Up"), "{ps}");

    // down: containers and network gone, the named volume kept.
    p.ok(&["down"]);
    assert!(w.ps_all().is_empty(), "{:?}", w.ps_all());
    assert!(!network_names(&w).contains(&"mix_default".to_string()));
    assert!(volume_names(&w).contains(&"mix_data".to_string()));
    assert_same_host(&before, &[&mark]);

    // The volume's data survives into the next up (the one-shot ran three
    // times before: two `up`s and `up backend`); down -v removes it.
    p.ok(&["up", "-d", "init"]);
    let (init_logs, _) = p.ok(&["logs", "init"]);
    assert_eq!(init_logs, "init-1  | runs=4\n");
    let mark = p.bridge_mark();
    p.ok(&["down", "-v"]);
    assert!(
        !volume_names(&w).contains(&"mix_data".to_string()),
        "{:?}",
        volume_names(&w)
    );
    assert!(w.ps_all().is_empty());
    assert_same_host(&before, &[&mark]);
}

#[test]
fn failing_dependencies_stop_up_with_the_service_named() {
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    let before = host_state(&[]);

    let p = Project::new(
        &w,
        "fails",
        r#"
services:
  migrate:
    image: bb
    command: ["sh", "-c", "echo migrating; exit 3"]
  app:
    image: bb
    command: ["sleep", "30"]
    depends_on:
      migrate: {condition: service_completed_successfully}
  sick:
    image: bb
    command: ["sleep", "30"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD-SHELL", "echo not-ready-yet; exit 1"]
      interval: 200ms
      retries: 2
  web:
    image: bb
    command: ["sleep", "30"]
    depends_on:
      sick: {condition: service_healthy}
"#,
    );
    let err = p.fails(&["up", "-d", "app"]);
    assert!(
        err.contains("service \"app\" depends on \"migrate\" completing successfully")
            && err.contains("exited with code 3")
            && err.contains("wharf compose logs migrate"),
        "{err}"
    );
    let (all, _) = p.ok(&["ps", "-a"]);
    assert!(all.contains("fails-migrate-1"), "{all}");
    assert!(!all.contains("fails-app-1"), "never started:\n{all}");

    let err = p.fails(&["up", "-d", "web"]);
    assert!(
        err.contains("service \"web\" depends on \"sick\" being healthy")
            && err.contains("unhealthy")
            && err.contains("exited with code 1")
            && err.contains("not-ready-yet"),
        "{err}"
    );
    let (all, _) = p.ok(&["ps", "-a"]);
    assert!(!all.contains("fails-web-1"), "{all}");
    let mark = p.bridge_mark();
    p.ok(&["down"]);
    assert!(w.ps_all().is_empty(), "{:?}", w.ps_all());
    assert_same_host(&before, &[&mark]);
}

#[test]
fn an_attached_up_builds_follows_the_logs_and_ctrl_c_stops_the_project() {
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    let before = host_state(&[]);
    let p = Project::new(
        &w,
        "attached",
        r#"
services:
  ticker:
    build:
      context: ./ticker
      args: {GREETING: hello-attached}
    command: ["sh", "-c", "trap 'echo bye; exit 0' TERM; echo $$GREETING; while true; do sleep 0.1; done"]
    restart: always
"#,
    );
    // Built on first up: the image is missing (it is named attached-ticker).
    let ctx = p.file.parent().unwrap().join("ticker");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nARG GREETING=unset\nENV GREETING=$GREETING\n",
    )
    .unwrap();
    let mut child = p
        .command(&["up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    // Read as it comes: the build's output alone could fill a pipe.
    let mut err_pipe = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut err_pipe, &mut err);
        err
    });
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            if lines_tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !seen
        .iter()
        .any(|l: &String| l == "ticker-1  | hello-attached")
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("no log line from the attached up; saw {seen:?}")
            }
        }
    }
    // SAFETY: kill on the pid of a child we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_timeout(&mut child, Duration::from_secs(30)).expect("up did not stop");
    let err = err_reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("Gracefully stopping"), "{err}");
    assert!(err.contains("Image attached-ticker  Built"), "{err}");
    let mut rest = Vec::new();
    loop {
        match lines_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => rest.push(line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("the up's stdout stayed open: {e}; saw {rest:?}"),
        }
    }
    assert!(
        rest.contains(&"ticker-1  | bye".to_string())
            && rest.contains(&"ticker-1 exited with code 0".to_string()),
        "{rest:?}"
    );
    let (all, _) = p.ok(&["ps", "-a"]);
    assert!(all.contains("Exited (0)"), "{all}");
    let mark = p.bridge_mark();
    p.ok(&["down"]);
    // The build's RUN step left its namespace on the store's default
    // network for the next container (wharf-net's pool): not the project's.
    w.ok(&["network", "prune", "-f"]);
    assert_same_host(&before, &[&mark]);
}

#[test]
fn bad_files_fail_before_anything_starts_and_config_prints_the_model() {
    let w = Wharf::new();
    let unknown = Project::new(
        &w,
        "bad",
        "services:\n  web:\n    image: web:wasm\n    depends_on: [db]\n",
    );
    let err = unknown.fails(&["up", "-d"]);
    assert!(
        err.contains("\"web\" depends on undefined service \"db\""),
        "{err}"
    );
    let syntax = Project::new(
        &w,
        "syntax",
        "services:\n  web:\n    image: web:wasm\n   ports: [\"80\"]\n",
    );
    let err = syntax.fails(&["up", "-d"]);
    assert!(
        err.contains("YAML syntax error at line 4"),
        "the line is named: {err}"
    );
    let err = syntax.fails(&["config"]);
    assert!(err.contains("line 4"), "{err}");
    // A missing image that names no registry is refused before networks are made.
    let missing = Project::new(
        &w,
        "missing",
        "services:\n  web:\n    image: nosuch:1\n    init: true\n",
    );
    let err = missing.fails(&["up", "-d"]);
    assert!(
        err.contains("image nosuch:1 of service \"web\" is not in the store"),
        "{err}"
    );
    assert!(w.ps_all().is_empty());
    let networks = network_names(&w);
    assert!(
        !networks.iter().any(|n| n.ends_with("_default")),
        "{networks:?}"
    );

    // config: the resolved model, interpolated from .env and normalised.
    let p = Project::new(
        &w,
        "cfg",
        r#"
services:
  gateway:
    image: web:wasm
    runtime: io.containerd.wasmtime.v1
    environment: [ "BACKEND_URL=http://backend:${BACKEND_PORT:-8080}" ]
    ports: ["127.0.0.1:18080:8080"]
    depends_on: [backend]
  backend:
    image: web:linux
    x-note: extension keys are fine
    cgroup_parent: ignored
"#,
    );
    let (yaml, notes) = p.ok(&["config"]);
    for want in [
        "name: cfg",
        "BACKEND_URL: http://backend:8080",
        "host_ip: 127.0.0.1",
        "published: '18080'",
        "condition: service_started",
        "name: cfg_default",
    ] {
        assert!(yaml.contains(want), "{want:?} in:\n{yaml}");
    }
    assert!(
        notes.contains("note: services.gateway.runtime")
            && notes.contains("warning: services.backend.cgroup_parent"),
        "{notes}"
    );
    let (names, _) = p.ok(&["config", "--services"]);
    assert_eq!(names, "backend\ngateway\n");
}

#[test]
fn run_labels_and_ps_filters() {
    let w = Wharf::new();
    w.build_hello_as("hello:wasm");
    let label_file = w.scratch_file("labels", b"# team labels\ntier=front\n\nowner=ops\n");
    w.ok(&[
        "run",
        "-d",
        "--name",
        "one",
        "-l",
        "app=shop",
        "--label",
        "flag",
        "--label-file",
        label_file.to_str().unwrap(),
        "hello:wasm",
        "sleep",
        "30",
    ]);
    w.ok(&["run", "--name", "two", "-l", "app=blog", "hello:wasm"]);
    let names = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["ps", "-a", "--format", "json"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        let mut names: Vec<String> = json_lines(&w.ok(&args))
            .iter()
            .map(|c| c["Names"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&["label=app"]), ["one", "two"]);
    assert_eq!(names(&["label=app=shop"]), ["one"]);
    assert_eq!(names(&["label=flag", "label=tier=front"]), ["one"]);
    assert!(names(&["label=app=shop", "label=tier=back"]).is_empty());
    assert_eq!(names(&["name=tw"]), ["two"]);
    assert_eq!(names(&["name=one", "name=two"]), ["one", "two"]);
    // A status filter shows what it names, -a or not.
    let exited = json_lines(&w.ok(&["ps", "--filter", "status=exited", "--format", "json"]));
    assert_eq!(exited.len(), 1, "{exited:?}");
    assert_eq!(exited[0]["Names"], "two");
    assert!(
        exited[0]["Labels"] == "app=blog",
        "Docker's k=v list: {exited:?}"
    );
    let labels = &w.inspect("one")["Config"]["Labels"];
    assert_eq!(labels["app"], "shop");
    assert_eq!(labels["flag"], "");
    assert_eq!(labels["tier"], "front");
    assert_eq!(labels["owner"], "ops");
    let err = w.fails(&["ps", "--filter", "colour=red"]);
    assert!(stderr(&err).contains("label=KEY"), "{}", describe(&err));
    let err = w.fails(&["run", "--rm", "-l", "=x", "hello:wasm"]);
    assert!(
        stderr(&err).contains("the key is empty"),
        "{}",
        describe(&err)
    );
    w.ok(&["rm", "-f", "one", "two"]);
}
