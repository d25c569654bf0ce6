//! Networks end to end, as root, with the real netavark and aardvark-dns:
//! `wharf network` commands, Linux containers on bridge networks finding
//! each other by name and alias, isolation between networks, `-p` from the
//! host's 127.0.0.1, the port-conflict error, the Wasm refusal, and a host
//! left exactly as it was (links, mounts, firewall rules). Traffic goes only
//! to 127.0.0.1 and to the namespaces the test makes.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::*;

/// busybox with `httpd` content at /www/a and /www/b.
fn busybox(w: &Wharf) {
    build_busybox(
        w,
        "bb",
        r#"RUN mkdir -p /etc /www/a /www/b \
 && echo page-of-a > /www/a/index.html && echo page-of-b > /www/b/index.html \
 && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd
CMD ["sh"]
"#,
    );
}

/// Tests that compare the host before and after run one at a time.
static HOST: Mutex<()> = Mutex::new(());

fn netavark_installed() -> bool {
    let there = Path::new("/usr/lib/podman/netavark").exists()
        && Path::new("/usr/lib/podman/aardvark-dns").exists();
    assert!(
        there,
        "netavark and aardvark-dns are missing: run scripts/setup.sh"
    );
    there
}

#[test]
fn linux_containers_on_bridge_networks() {
    if !netavark_installed() {
        return;
    }
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    busybox(&w);
    let (default_net, _) = w.default_net();
    let marks = ["10.231.61.", "10.231.62.", default_net.as_str()];
    let before = host_state(&marks);

    w.ok(&["network", "create", "--subnet", "10.231.61.0/24", "front"]);
    w.ok(&["network", "create", "--subnet", "10.231.62.0/24", "back"]);
    let dup = w.fails(&["network", "create", "--subnet", "10.231.61.0/25", "other"]);
    assert_error(&dup, "10.231.61.0/24");
    let ls = w.ok(&["network", "ls"]);
    assert!(
        ls.contains("front") && ls.contains("back") && ls.contains("10.231.61.0/24"),
        "{ls}"
    );

    // Two servers: one on front (with an alias and a published port), one on back.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "site",
        "-p",
        "127.0.0.1::80",
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www/a",
    ]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "hidden",
        "--network",
        "back",
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www/b",
    ]);

    // By name and by alias, from another container on the same network.
    let got = w.ok(&[
        "run",
        "--rm",
        "--network",
        "front",
        "bb",
        "sh",
        "-c",
        "wget -qO- http://web/ && wget -qO- http://site/",
    ]);
    assert_eq!(got, "page-of-a\npage-of-a\n");

    // Not across networks: the name does not resolve, the address is not reachable.
    let hidden_ip = w.inspect("hidden")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(hidden_ip.starts_with("10.231.62."), "{hidden_ip}");
    let out = w.cmd(&[
        "run", "--rm", "--network", "front", "bb", "sh", "-c",
        &format!(
            "nslookup hidden >/dev/null 2>&1 && echo resolved; wget -T 2 -qO- http://{hidden_ip}/ 2>/dev/null && echo reached; echo done"
        ),
    ]);
    assert_eq!(stdout(&out), "done\n", "{}", describe(&out));

    // The published port, from the host's 127.0.0.1, as ps, port and inspect show it.
    let port_line = w.ok(&["port", "web", "80"]);
    let host_port: u16 = port_line
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(port_line.starts_with("127.0.0.1:"), "{port_line}");
    let page = poll(Duration::from_secs(5), || {
        let out = Command::new("curl")
            .args(["-s", &format!("http://127.0.0.1:{host_port}/")])
            .output()
            .ok()?;
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        (!body.is_empty()).then_some(body)
    });
    assert_eq!(page.as_deref(), Some("page-of-a\n"));
    assert!(
        w.ok(&["ps"])
            .contains(&format!("127.0.0.1:{host_port}->80/tcp")),
        "{}",
        w.ok(&["ps"])
    );
    let settings = &w.inspect("web")["NetworkSettings"];
    assert_eq!(
        settings["Ports"]["80/tcp"][0]["HostPort"],
        host_port.to_string()
    );
    assert_eq!(settings["Networks"]["front"]["Aliases"][0], "site");
    let net = w.ok(&["network", "inspect", "front"]);
    assert!(net.contains("\"web\""), "{net}");

    // The same host port again: refused at once, naming the port, nothing left.
    let taken = w.fails(&[
        "run",
        "--rm",
        "--name",
        "second",
        "--network",
        "front",
        "-p",
        &format!("127.0.0.1:{host_port}:80"),
        "bb",
        "true",
    ]);
    assert_eq!(taken.status.code(), Some(125), "{}", describe(&taken));
    assert_error(&taken, &host_port.to_string());
    assert!(
        !w.ps_all().iter().any(|c| c["Names"] == "second"),
        "{:?}",
        w.ps_all()
    );

    // -p without --network: the default network `bridge`, as Docker does.
    let out = w.ok(&[
        "run",
        "--rm",
        "-p",
        "127.0.0.1::80",
        "bb",
        "sh",
        "-c",
        "ip -o -4 addr show eth0",
    ]);
    assert!(out.contains(&default_net), "{out}");

    // A network in use cannot go.
    let busy = w.fails(&["network", "rm", "front"]);
    assert_error(&busy, "web");

    // Teardown: containers, then networks; the host is as it was.
    w.ok(&["rm", "-f", "web", "hidden"]);
    w.ok(&["network", "rm", "front", "back"]);
    assert_same_host(&before, &marks);
}

/// A WASI p1 module (no sockets) still runs on a network; bad network
/// flags fail before anything is made.
#[test]
fn p1_modules_run_on_networks_and_bad_flags_fail_early() {
    if !netavark_installed() {
        return;
    }
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    w.build_hello_as("hello:wasm");
    let marks = ["10.231.64."];
    let before = host_state(&marks);
    w.ok(&["network", "create", "--subnet", "10.231.64.0/24", "p1net"]);
    let out = w.ok(&["run", "--rm", "--network", "p1net", "hello:wasm"]);
    assert_eq!(out, "Hello from WebAssembly!\n");
    let out = w.fails(&["run", "--rm", "-p", "notaport", "hello:wasm"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert_error(&out, "notaport");
    let out = w.fails(&["run", "--rm", "--network", "none", "-p", "80", "hello:wasm"]);
    assert_error(&out, "-p");
    let out = w.fails(&["run", "--rm", "--network", "nosuchnet", "hello:wasm"]);
    assert_error(&out, "nosuchnet");
    assert!(w.ps_all().is_empty(), "{:?}", w.ps_all());
    w.ok(&["network", "rm", "p1net"]);
    assert_same_host(&before, &marks);
}

/// Waits until a detached server says it listens.
fn wait_listening(w: &Wharf, name: &str) {
    let up = poll(Duration::from_secs(10), || {
        w.ok(&["logs", name]).contains("listening").then_some(())
    });
    assert!(
        up.is_some(),
        "{name} never listened: {}",
        w.ok(&["logs", name])
    );
}

/// The seeds' mix: Wasm (a WASI p2 component using wasi:sockets) and Linux
/// containers on one network reach each other by name, in all four
/// directions; a Wasm guest without a network has no sockets.
#[test]
fn wasm_and_linux_containers_reach_each_other_by_name() {
    if !netavark_installed() {
        return;
    }
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    let ctx = hello_context();
    let ctx = ctx.to_str().unwrap();
    for (file, platform, tag) in [
        ("Dockerfile.p2", "wasip2/wasm", "hello:p2"),
        ("Dockerfile.linux", "linux/amd64", "hello:linux"),
    ] {
        let dockerfile = format!("{ctx}/{file}");
        w.ok(&[
            "build",
            "-q",
            "-f",
            &dockerfile,
            "--platform",
            platform,
            "-t",
            tag,
            ctx,
        ]);
    }
    let marks = ["10.231.63."];
    let before = host_state(&marks);
    w.ok(&["network", "create", "--subnet", "10.231.63.0/24", "mixed"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "lsrv",
        "--network",
        "mixed",
        "hello:linux",
        "serve",
        "7000",
        "2",
    ]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "wsrv",
        "--network",
        "mixed",
        "--network-alias",
        "wasmy",
        "hello:p2",
        "serve",
        "7001",
        "2",
    ]);
    wait_listening(&w, "lsrv");
    wait_listening(&w, "wsrv");

    let lsrv_ip = w.inspect("lsrv")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let looked_up = w.ok(&[
        "run",
        "--rm",
        "--network",
        "mixed",
        "hello:p2",
        "lookup",
        "lsrv",
    ]);
    assert_eq!(looked_up.trim(), lsrv_ip);

    // Deny by default: no network, no sockets, even to the address of a
    // listening server.
    let denied = w.cmd(&[
        "run",
        "--rm",
        "hello:p2",
        "connect",
        &format!("{lsrv_ip}:7000"),
        "x",
    ]);
    assert_ne!(denied.status.code(), Some(0), "{}", describe(&denied));
    assert!(!stdout(&denied).contains("echo"), "{}", describe(&denied));
    assert!(stderr(&denied).contains("connect"), "{}", describe(&denied));

    let talk = |image: &str, to: &str, line: &str| {
        w.ok(&[
            "run",
            "--rm",
            "--network",
            "mixed",
            image,
            "connect",
            to,
            line,
        ])
    };
    assert_eq!(
        talk("hello:p2", "lsrv:7000", "wasm-to-linux"),
        "echo: wasm-to-linux\n"
    );
    assert_eq!(
        talk("hello:linux", "wasmy:7001", "linux-to-wasm"),
        "echo: linux-to-wasm\n"
    );
    assert_eq!(
        talk("hello:p2", "wsrv:7001", "wasm-to-wasm"),
        "echo: wasm-to-wasm\n"
    );
    assert_eq!(
        talk("hello:linux", "lsrv:7000", "linux-to-linux"),
        "echo: linux-to-linux\n"
    );
    for name in ["lsrv", "wsrv"] {
        let exited = w.wait_exited(name, Duration::from_secs(10));
        assert_eq!(exited["State"]["ExitCode"], 0, "{exited}");
    }
    w.ok(&["rm", "lsrv", "wsrv"]);
    w.ok(&["network", "rm", "mixed"]);
    assert_same_host(&before, &marks);
}

/// The fast path (wharf-net's pool): a container that leaves a network
/// leaves its namespace wired for the next one, which takes it over with
/// its own name; the old name stops resolving; `network rm` and the keeper
/// (after the idle time) leave the host as it was.
#[test]
fn a_left_namespace_is_handed_to_the_next_container_and_reaped() {
    if !netavark_installed() {
        return;
    }
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    w.build_hello_as("hello:wasm");
    let ctx = hello_context();
    let df = ctx.join("Dockerfile.p2");
    w.ok(&[
        "build",
        "-q",
        "-f",
        df.to_str().unwrap(),
        "--platform",
        "wasip2/wasm",
        "-t",
        "hello:p2",
        ctx.to_str().unwrap(),
    ]);
    let marks = ["10.231.65."];
    let before = host_state(&marks);
    let slots = |w: &Wharf| -> Vec<String> {
        std::fs::read_dir(w.state_root().join("net/attachments"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("pool-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    w.ok(&["network", "create", "--subnet", "10.231.65.0/24", "fast"]);
    w.ok(&["run", "--rm", "--network", "fast", "hello:wasm"]);
    assert_eq!(slots(&w).len(), 1, "the namespace was not kept");
    let net = w.ok(&["network", "inspect", "fast"]);
    assert!(
        !net.contains("pool-"),
        "a spare namespace shows as a container: {net}"
    );

    // Taken over: the same address, the new container's names.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "fast",
        "--network-alias",
        "alias1",
        "hello:p2",
        "serve",
        "7000",
        "2",
    ]);
    assert!(
        slots(&w).is_empty(),
        "the slot was not taken: {:?}",
        slots(&w)
    );
    let ip = w.inspect("srv")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ip, "10.231.65.2");
    for name in ["srv", "alias1"] {
        let got = w.ok(&[
            "run",
            "--rm",
            "--network",
            "fast",
            "hello:p2",
            "lookup",
            name,
        ]);
        assert_eq!(got.trim(), ip, "{name}");
    }
    // Gone: its names no longer resolve, though its namespace lives on.
    w.ok(&["rm", "-f", "srv"]);
    let out = w.cmd(&[
        "run",
        "--rm",
        "--network",
        "fast",
        "hello:p2",
        "lookup",
        "srv",
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!slots(&w).is_empty());

    // The keeper tears idle ones down (20 s), then exits.
    let reaped = poll(Duration::from_secs(40), || {
        slots(&w).is_empty().then_some(())
    });
    assert!(
        reaped.is_some(),
        "idle slots were never torn down: {:?}",
        slots(&w)
    );
    w.ok(&["network", "rm", "fast"]);
    assert_same_host(&before, &marks);
}

/// Linux containers are on the default network `bridge` unless told
/// otherwise, as with Docker: an address on its subnet, a default route
/// through its gateway (outbound NAT), and the names of the network's
/// containers; `--network none` gives only loopback.
#[test]
fn linux_containers_default_to_the_bridge_network() {
    if !netavark_installed() {
        return;
    }
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    busybox(&w);
    let (net, gateway) = w.default_net();
    let marks = [net.as_str()];
    let before = host_state(&marks);
    let out = w.ok(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip route",
    ]);
    assert!(out.contains(&format!("inet {net}")), "{out}");
    assert!(out.contains(&format!("default via {gateway}")), "{out}");
    w.ok(&["run", "-d", "--name", "peer", "bb", "sleep", "30"]);
    let out = w.ok(&["run", "--rm", "bb", "nslookup", "peer"]);
    assert!(out.contains(&net), "{out}");
    let out = w.ok(&["run", "--rm", "--network", "none", "bb", "ip", "-o", "link"]);
    assert!(!out.contains("eth0"), "{out}");
    w.ok(&["rm", "-f", "peer"]);
    w.ok(&["network", "prune", "-f"]);
    assert_same_host(&before, &marks);
}

/// `wharf build` runs RUN steps on the default network, as `docker build`:
/// their own address, and the host's 127.0.0.1 services out of reach;
/// `--network host` reaches them, `--network none` has only loopback.
#[test]
fn build_steps_run_on_the_default_network() {
    if !netavark_installed() {
        return;
    }
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    busybox(&w);
    // A service only the host's loopback offers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::thread::spawn(move || {
        use std::io::Write;
        for stream in listener.incoming().take(1) {
            let mut s = stream.unwrap();
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nhost");
        }
    });
    let build = |network: &str, run: &str| {
        let ctx = w.scratch(&format!("net-ctx-{network}"));
        std::fs::write(ctx.join("Dockerfile"), format!("FROM bb\nRUN {run}\n")).unwrap();
        w.cmd(&[
            "build",
            "-q",
            "--network",
            network,
            "--platform",
            "linux/amd64",
            "-t",
            "step:1",
            ctx.to_str().unwrap(),
        ])
    };
    let (net, _) = w.default_net();
    let out = build(
        "default",
        &format!("ip -o -4 addr show eth0 | grep -q 'inet {net}'"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    // nc exits non-zero when it cannot connect.
    let fetch = format!("nc -w 3 127.0.0.1 {port} </dev/null");
    let out = build("bridge", &fetch);
    assert!(
        !out.status.success(),
        "a RUN step reached the host's loopback\n{}",
        describe(&out)
    );
    let out = build("host", &fetch);
    assert!(out.status.success(), "{}", describe(&out));
    let out = build("none", "! ip -o link | grep -q eth0");
    assert!(out.status.success(), "{}", describe(&out));
    let out = build("nosuch", "true");
    assert_error(&out, "nosuch");
    served.join().unwrap();
    w.ok(&["network", "prune", "-f"]);
}
