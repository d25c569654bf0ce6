//! `wharf bench --quick` as a smoke test: the report has every section,
//! results.json parses and every number in it is positive, the networked
//! starts are there when netavark is, the charts are SVG. No timing
//! thresholds: the numbers depend on the machine.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Every number under `v` must be positive, except the load averages (an idle
/// machine reports 0.00) and error counts. Returns how many numbers were
/// checked.
fn check_positive(v: &Value, path: &str, bad: &mut Vec<String>) -> usize {
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap();
            if !(x > 0.0 && x.is_finite()) {
                bad.push(format!("{path} = {x}"));
            }
            1
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| check_positive(x, &format!("{path}[{i}]"), bad))
            .sum(),
        Value::Object(o) => o
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "load_before" | "load_after" | "load_max_1m" | "errors" | "single_errors"
                )
            })
            .map(|(k, x)| check_positive(x, &format!("{path}.{k}"), bad))
            .sum(),
        _ => 0,
    }
}

/// The goal `id` of results `v` (`text` is their JSON, for the message).
fn goal<'a>(v: &'a Value, id: &str, text: &str) -> &'a Value {
    v["goals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
        .unwrap_or_else(|| panic!("no goal {id}: {text}"))
}

/// With netavark installed, `wharf run --rm --network` of hello:wasm and
/// hello:linux is timed (with as many runs as the others here: `--runs 3`
/// is below the quick mode's 5 networked runs), its goals are checked, and
/// the bench's network left nothing on the host: no route in its subnet
/// and no firewall rule naming it. Without netavark, it says so.
fn check_networked_starts(v: &Value, text: &str) {
    let netavark = v["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "netavark")
        .unwrap_or_else(|| panic!("no netavark peer: {text}"));
    if !Path::new("/usr/lib/podman/netavark").exists() {
        assert_eq!(netavark["status"], "not installed", "{text}");
        return;
    }
    assert_eq!(netavark["status"], "measured", "{text}");
    for (key, kind) in [
        ("wharf-wasm-p1-network", "wasm-p1"),
        ("wharf-linux-network", "linux"),
    ] {
        let row = v["latency"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["target"] == key && l["phase"] == "warm")
            .unwrap_or_else(|| panic!("no warm latency for {key}: {text}"));
        assert_eq!(row["kind"], kind, "{text}");
        assert_eq!(row["runner"], "wharf", "{text}");
        assert_eq!(row["runs"], 3, "{text}");
        assert!(
            row["label"].as_str().unwrap().contains("--network"),
            "{text}"
        );
    }
    for id in ["wasm-network-start", "linux-network-start"] {
        assert!(
            goal(v, id, text)["measured"].is_number(),
            "{id} not measured: {text}"
        );
    }
    // The note names the subnet the bench picked.
    let note = netavark["note"].as_str().unwrap();
    let subnet = note
        .split_whitespace()
        .skip_while(|w| *w != "(subnet")
        .nth(1)
        .and_then(|s| s.strip_suffix(','))
        .unwrap_or_else(|| panic!("no subnet in the netavark note: {note}"));
    let prefix = subnet.trim_end_matches("0/24");
    let run = |cmd: &str, args: &[&str]| {
        let out = Command::new(cmd).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let routes = run("ip", &["-4", "route"]);
    assert!(
        !routes.contains(prefix),
        "a route in the bench's subnet {subnet} is left:\n{routes}"
    );
    let rules: Vec<String> = run("iptables-save", &[])
        .lines()
        .filter(|l| l.contains(prefix))
        .map(str::to_string)
        .collect();
    assert!(
        rules.is_empty(),
        "firewall rules naming the bench's subnet {subnet} are left: {rules:#?}"
    );
}

/// `podman images` and `podman ps -a` of the user's default store, or
/// None without podman.
fn podman_state() -> Option<(String, String)> {
    let podman = |args: &[&str]| {
        let out = Command::new("podman").args(args).output().ok()?;
        assert!(out.status.success(), "podman {args:?}: {}", describe(&out));
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    Some((
        podman(&[
            "images",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Repository}}:{{.Tag}}",
        ])?,
        podman(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Image}}"])?,
    ))
}

/// The value of attribute `name` in the SVG element `el`.
fn attr(el: &str, name: &str) -> Option<f64> {
    let at = el.find(&format!(" {name}=\""))? + name.len() + 3;
    el[at..].split('"').next()?.parse().ok()
}

/// latency.svg draws, for each warm row of results.json in order, a box
/// from its q1_ms to its q3_ms and whisker caps at its min_ms and
/// max_ms, on a log scale: checked by fitting the scale on two boxes'
/// edges and placing every other value with it.
fn check_latency_chart(svg: &str, v: &Value) {
    let warm: Vec<&Value> = v["latency"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["phase"] == "warm")
        .collect();
    let f = |l: &Value, k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k} in {l}"));
    let mut rects: Vec<(f64, f64, f64)> = Vec::new();
    let mut caps: Vec<(f64, f64)> = Vec::new();
    for el in svg.split('<').filter(|e| e.contains("stroke=\"#0000FF\"")) {
        if el.starts_with("rect ") {
            let y = attr(el, "y").unwrap();
            rects.push((attr(el, "x").unwrap(), y, y + attr(el, "height").unwrap()));
        } else if el.starts_with("polyline ") {
            let pts: Vec<(f64, f64)> = el
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect();
            // A cap: a short horizontal line centred on its box (a whisker
            // of zero height, min = q1 to the pixel, is a point: not a cap).
            let width = pts[1].0 - pts[0].0;
            if pts[0].1 == pts[1].1 && width > 1.0 && width < 20.0 {
                caps.push(((pts[0].0 + pts[1].0) / 2.0, pts[0].1));
            }
        }
    }
    assert_eq!(rects.len(), warm.len(), "one box per warm row");
    rects.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Fit y = a + b·ln(v) on the lowest q1 and the highest q3 drawn.
    let lo = (0..warm.len())
        .min_by(|&i, &j| f(warm[i], "q1_ms").total_cmp(&f(warm[j], "q1_ms")))
        .unwrap();
    let hi = (0..warm.len())
        .max_by(|&i, &j| f(warm[i], "q3_ms").total_cmp(&f(warm[j], "q3_ms")))
        .unwrap();
    let (y1, v1) = (rects[lo].2, f(warm[lo], "q1_ms"));
    let (y2, v2) = (rects[hi].1, f(warm[hi], "q3_ms"));
    assert!(
        v2 > v1 * 1.5,
        "the latencies are too alike to fit a scale on"
    );
    let b = (y2 - y1) / (v2.ln() - v1.ln());
    let a = y1 - b * v1.ln();
    let y_of = |v: f64| a + b * v.ln();
    // Pixels are whole numbers: a value sits within a pixel and a half.
    let near = |y: f64, v: f64| (y - y_of(v)).abs() <= 1.5;
    for (l, (x, top, bottom)) in warm.iter().zip(&rects) {
        let target = &l["target"];
        assert!(near(*top, f(l, "q3_ms")), "{target}: box top is not q3");
        assert!(
            near(*bottom, f(l, "q1_ms")),
            "{target}: box bottom is not q1"
        );
        let centre = x + 15.0;
        let mine: Vec<f64> = caps
            .iter()
            .filter(|(cx, _)| (cx - centre).abs() <= 1.0)
            .map(|c| c.1)
            .collect();
        assert_eq!(mine.len(), 2, "{target}: two whisker caps");
        let (top_cap, bottom_cap) = (mine[0].min(mine[1]), mine[0].max(mine[1]));
        assert!(
            near(bottom_cap, f(l, "min_ms")),
            "{target}: lower whisker is not at min_ms"
        );
        assert!(
            near(top_cap, f(l, "max_ms")),
            "{target}: upper whisker is not at max_ms"
        );
    }
}

#[test]
fn bench_quick_writes_report_results_and_charts() {
    hello_context();
    for a in ["cpu/cpu.wasm", "cpu/cpu-p2.wasm", "cpu/cpu"] {
        artifact(a);
    }
    let w = Wharf::new();
    let out_dir = w.scratch("report");
    let podman_before = podman_state();
    // Few iterations (the flags documented in docs/bench.md): this checks the
    // bench works, not how fast anything is.
    let mut cmd = w.command(&[
        "bench",
        "--quick",
        "--runs",
        "3",
        "--warmup",
        "1",
        "--density",
        "3",
        "--examples",
        examples_dir().to_str().unwrap(),
        "--output",
        out_dir.to_str().unwrap(),
    ]);
    cmd.env_remove("WHARF_BENCH_RUNS")
        .env_remove("WHARF_BENCH_WARMUP");
    let out = run_with_timeout(cmd, None, Duration::from_secs(900));
    assert!(
        out.status.success(),
        "wharf bench failed\n{}",
        describe(&out)
    );

    // The comparison table on stdout.
    let table = stdout(&out);
    for want in [
        "| runs as |",
        "Wharf, Wasm module (p1)",
        "Wharf, Linux container",
        "Goals",
    ] {
        assert!(table.contains(want), "stdout lacks {want:?}:\n{table}");
    }

    // Podman ran in a storage root of the bench's own: the user's default
    // store has the same images and containers as before.
    assert_eq!(
        podman_state(),
        podman_before,
        "wharf bench changed the user's Podman store"
    );

    // It measured in a store of its own: --root was left alone.
    assert!(
        !w.root().join("index.json").exists(),
        "wharf bench wrote into the --root store"
    );

    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    for section in [
        "# Wharf bench report",
        "## Summary",
        "## Goals",
        "## Machine",
        "## Versions",
        "## Image sizes",
        "## Start latency",
        "## Peak memory",
        "## CPU throughput",
        "## Density",
        "## Charts",
        "## Method",
        "cgroup layout",
        "load average before",
        "wasmtime (embedded in wharf)",
    ] {
        assert!(
            report.contains(section),
            "report.md lacks {section:?}:\n{report}"
        );
    }
    // Peers are listed whether or not they are installed.
    for peer in ["crun", "runc", "wasmtime", "wasmer", "podman"] {
        assert!(
            report.contains(&format!("| {peer} |")),
            "report.md does not mention {peer}:\n{report}"
        );
    }

    let text = std::fs::read_to_string(out_dir.join("results.json")).unwrap();
    let v: Value = serde_json::from_str(&text).expect("results.json is JSON");
    assert_eq!(v["schema"], "wharf-bench");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["mode"], "quick");
    let count = |k: &str| v[k].as_array().map(|a| a.len()).unwrap_or(0);
    assert_eq!(count("sizes"), 6, "two programs x three kinds: {text}");
    assert_eq!(count("density"), 3, "{text}");
    assert!(count("latency") >= 7, "{text}");
    assert!(count("memory") >= 4, "{text}");
    assert!(count("cpu") >= 8, "{text}");
    assert!(count("goals") >= 6, "{text}");
    for kind in ["wasm-p1", "wasm-p2", "linux"] {
        let warm = v["latency"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["kind"] == kind && l["runner"] == "wharf" && l["phase"] == "warm");
        let cold = v["latency"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["kind"] == kind && l["runner"] == "wharf" && l["phase"] == "cold");
        assert!(warm && cold, "no warm and cold latency for {kind}: {text}");
    }
    // A Wasm image's first run after `wharf build` (which compiled it into
    // the emptied cache) is timed, and compared with a warm run; the start
    // goals are measured.
    for kind in ["wasm-p1", "wasm-p2"] {
        for phase in ["after-build", "after-build-control"] {
            let row = v["latency"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["kind"] == kind && l["phase"] == phase)
                .unwrap_or_else(|| panic!("no {phase} run for {kind}: {text}"));
            assert_eq!(row["samples_ms"].as_array().unwrap().len(), 3, "{text}");
        }
    }
    for id in [
        "wasm-first-run-after-build",
        "wasm-p1-start-1ms",
        "wasm-p2-start",
        "linux-half-of-crun",
    ] {
        let goal = goal(&v, id, &text);
        if id != "linux-half-of-crun" {
            assert!(goal["measured"].is_number(), "{id} not measured: {text}");
        }
    }
    let peers: Vec<&str> = v["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for peer in ["crun", "runc", "wasmtime", "wasmer", "podman"] {
        assert!(peers.contains(&peer), "peer {peer} missing: {peers:?}");
    }
    // A runtime that runs here is also timed on the spec `wharf run` writes.
    for p in v["peers"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        if (name == "crun" || name == "wharf-runtime") && p["status"] == "measured" {
            let key = format!("{name}-docker");
            let timed = v["latency"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["target"] == key.as_str() && l["phase"] == "warm");
            assert!(timed, "{name} measured but {key} not timed: {text}");
        }
    }
    check_networked_starts(&v, &text);
    // HTTP serving under wrk (installed by setup.sh): the component served
    // by Wharf, the native server in a Linux container and bare, all
    // answering every request.
    assert!(report.contains("## HTTP serving"), "{report}");
    for target in ["wharf-wasm-p2", "wharf-linux", "native"] {
        let row = v["http"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["target"] == target)
            .unwrap_or_else(|| panic!("no HTTP row for {target}: {text}"));
        assert_eq!(row["errors"], 0, "{target}: {text}");
        assert_eq!(row["single_errors"], 0, "{target}: {text}");
    }
    let mut bad = Vec::new();
    let n = check_positive(&v, "$", &mut bad);
    assert!(n > 50, "suspiciously few numbers ({n}) in results.json");
    assert!(
        bad.is_empty(),
        "non-positive numbers in results.json: {bad:?}"
    );

    check_latency_chart(
        &std::fs::read_to_string(out_dir.join("latency.svg")).unwrap(),
        &v,
    );
    for chart in ["latency.svg", "memory.svg", "cpu.svg"] {
        let svg =
            std::fs::read_to_string(out_dir.join(chart)).unwrap_or_else(|e| panic!("{chart}: {e}"));
        assert!(
            svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{chart} is not an SVG document: {}",
            &svg[..svg.len().min(200)]
        );
    }
}
