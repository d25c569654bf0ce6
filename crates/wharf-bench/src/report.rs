//! report.md, the stdout comparison table, and the goals.

use std::fmt::Write;

use crate::results::*;

const MIB: f64 = 1024.0 * 1024.0;

/// Sizes with two decimals whatever their unit, as every number of a kind
/// in the report has the same decimals.
pub fn bytes(b: u64) -> String {
    let b = b as f64;
    if b < MIB {
        format!("{:.2} KiB", b / 1024.0)
    } else {
        format!("{:.2} MiB", b / MIB)
    }
}

/// Milliseconds, always with two decimals.
fn ms(v: f64) -> String {
    format!("{v:.2} ms")
}

fn ratio(v: f64) -> String {
    format!("{v:.2}x")
}

/// The latency of `target` in `phase` (warm, cold, after-build, ...).
fn latency<'a>(r: &'a Results, phase: &str, target: &str) -> Option<&'a Latency> {
    r.latency
        .iter()
        .find(|l| l.phase == phase && l.target == target)
}

fn warm<'a>(r: &'a Results, target: &str) -> Option<&'a Latency> {
    latency(r, "warm", target)
}

fn cold<'a>(r: &'a Results, target: &str) -> Option<&'a Latency> {
    latency(r, "cold", target)
}

fn mem<'a>(r: &'a Results, target: &str) -> Option<&'a Memory> {
    r.memory.iter().find(|m| m.target == target)
}

fn cpu<'a>(r: &'a Results, kernel: &str, target: &str) -> Option<&'a Cpu> {
    r.cpu
        .iter()
        .find(|c| c.kernel == kernel && c.target == target)
}

fn peer<'a>(r: &'a Results, name: &str) -> Option<&'a Peer> {
    r.peers.iter().find(|p| p.name == name)
}

/// Why a peer has no number: "not installed", "failed", ...
fn absent(r: &Results, name: &str) -> String {
    match peer(r, name) {
        Some(p) if p.status != "measured" => p.status.clone(),
        Some(_) => "n/a".into(),
        None => "n/a".into(),
    }
}

/// "PEER: why it was not measured" when `value` is missing.
fn unmeasured(r: &Results, peer: &str, value: Option<f64>) -> Option<String> {
    value
        .is_none()
        .then(|| format!("{peer}: {}", absent(r, peer)))
}

/// A goal met when `measured` is at most `threshold`, with one baseline.
fn plain(
    id: &str,
    statement: &str,
    measured: Option<f64>,
    threshold: f64,
    unit: &str,
    note: String,
) -> Goal {
    Goal {
        id: id.into(),
        statement: statement.into(),
        measured,
        threshold,
        unit: unit.into(),
        met: measured.map(|m| m <= threshold),
        at_least: false,
        against: String::new(),
        also: Vec::new(),
        note,
    }
}

/// Wharf's performance goals, checked against the numbers.
pub fn goals(r: &Results) -> Vec<Goal> {
    let mut g = Vec::new();
    let wasm = warm(r, "wharf-wasm-p1").map(|l| l.median_ms);
    let linux = warm(r, "wharf-linux").map(|l| l.median_ms);
    let wrapper = warm(r, "crun-wrapper").map(|l| l.median_ms);
    let crun = warm(r, "crun").map(|l| l.median_ms);
    g.push(plain(
        "wasm-warm-start",
        "Wasm container warm start (`wharf run --rm hello:wasm`, image in the store, code cached): median under 3 ms",
        wasm,
        3.0,
        "ms",
        String::new(),
    ));
    g.push(plain(
        "wasm-peak-rss",
        "Wasm container peak RSS (the whole `wharf run` process) under 10 MiB",
        mem(r, "wharf-wasm-p1").map(|m| m.peak_bytes as f64 / MIB),
        10.0,
        "MiB",
        String::new(),
    ));
    // crun ran inside an unshare wrapper when it needed one: the goals
    // compare with crun as measured (wrapper included, as the goals were
    // first measured), and also, stricter, with crun minus the wrapper.
    let crun_alone = crun.zip(wrapper).map(|(c, o)| c - o).filter(|c| *c > 0.0);
    // crun (minus its wrapper, if any) running the spec `wharf run` writes:
    // the same work as Wharf's, Docker's defaults included.
    let crun_docker = warm(r, "crun-docker")
        .map(|l| l.median_ms - wrapper.unwrap_or(0.0))
        .filter(|c| *c > 0.0);
    let vs_crun = |id: &str,
                   statement: &str,
                   what: Option<f64>,
                   docker: Option<f64>,
                   limit: f64| {
        let mut goal = plain(
            id,
            statement,
            what.zip(crun).map(|(w, c)| w / c),
            limit,
            "ratio",
            if crun.is_none() {
                format!("crun: {}", absent(r, "crun"))
            } else {
                String::new()
            },
        );
        if crun.is_some() {
            goal.against = match wrapper {
                Some(o) => format!("crun as run, inside its unshare wrapper ({} of it)", ms(o)),
                None => "crun".into(),
            };
        }
        let mut compare = |against: String, ratio: f64| {
            goal.also.push(Comparison {
                against,
                measured: ratio,
                met: ratio <= limit,
            })
        };
        if let (Some(w), Some(c)) = (what, crun_alone) {
            compare(
                format!("crun alone (the wrapper's median taken off: {})", ms(c)),
                w / c,
            );
        }
        if let (Some(w), Some(c)) = (docker, crun_docker) {
            compare(
                format!(
                    "crun running the same hello with Wharf's spec (Docker's defaults: seccomp profile, masked paths, cgroup namespace, /etc files; {})",
                    ms(c)
                ),
                w / c,
            );
        }
        goal
    };
    g.push(vs_crun(
        "wasm-vs-crun",
        "Wasm container warm start at most 0.5x `crun run` (static hello bundle)",
        wasm,
        None,
        0.5,
    ));
    let wasmtime = warm(r, "wasmtime").map(|l| l.median_ms);
    g.push(plain(
        "wasm-vs-wasmtime",
        "Wasm container warm start at most 0.5x `wasmtime run` of a precompiled module",
        wasm.zip(wasmtime).map(|(w, t)| w / t),
        0.5,
        "ratio",
        unmeasured(r, "wasmtime", wasmtime).unwrap_or_default(),
    ));
    g.push(vs_crun(
        "linux-vs-crun",
        "Linux container start (`wharf run --rm hello:linux`) at most 1.5x `crun run`",
        linux,
        linux,
        1.5,
    ));
    g.push(vs_crun(
        "linux-half-of-crun",
        "Linux container start (`wharf run --rm hello:linux`) at most 0.5x `crun run`",
        linux,
        linux,
        0.5,
    ));
    start_goals(r, &mut g);
    let runtime = warm(r, "wharf-runtime").map(|l| l.median_ms);
    let runtime_docker = warm(r, "wharf-runtime-docker").map(|l| l.median_ms);
    let mut goal = vs_crun(
        "runtime-vs-crun",
        "`wharf-runtime run` of the static hello bundle at most 1.0x `crun run` of the same bundle",
        runtime,
        runtime_docker,
        1.0,
    );
    if let Some(why) = unmeasured(r, "wharf-runtime", runtime) {
        goal.note = why;
    }
    g.push(goal);
    let podman = warm(r, "podman").map(|l| l.median_ms);
    g.push(plain(
        "linux-vs-podman",
        "Linux container start 30x faster than `podman run --rm` (ratio at most 1/30)",
        linux.zip(podman).map(|(l, p)| l / p),
        1.0 / 30.0,
        "ratio",
        unmeasured(r, "podman", podman).unwrap_or_default(),
    ));
    for kernel in ["sha256", "nbody"] {
        let w = cpu(r, kernel, "wharf-wasm-p1").map(|c| c.median_ms);
        let t = cpu(r, kernel, "wasmtime").map(|c| c.median_ms);
        g.push(plain(
            &format!("wasm-compute-{kernel}"),
            &format!(
                "Wasm compute ({kernel}) within 2% of the same module under `wasmtime run` (time ratio at most 1.02)"
            ),
            w.zip(t).map(|(w, t)| w / t),
            1.02,
            "ratio",
            unmeasured(r, "wasmtime", t).unwrap_or_default(),
        ));
    }
    // A container on a network, as its user waits for it, with the network
    // in use: each start takes over the namespace the one before left.
    for (id, what, kind, image, limit) in [
        ("wasm-network-start", "Wasm", "wasm-p1", "hello:wasm", 10.0),
        ("linux-network-start", "Linux", "linux", "hello:linux", 20.0),
    ] {
        let networked = warm(r, &format!("wharf-{kind}-network")).map(|l| l.median_ms);
        let plain_start = warm(r, &format!("wharf-{kind}")).map(|l| l.median_ms);
        let note = match (networked, plain_start) {
            (Some(n), Some(p)) => format!(
                "the network adds {} to `wharf run --rm {image}` ({}): taking over a namespace wired by the run before (its veth, address and aardvark-dns entry renamed), and handing it on at exit",
                ms(n - p),
                ms(p)
            ),
            _ => unmeasured(r, "netavark", networked).unwrap_or_default(),
        };
        g.push(plain(
            id,
            &format!(
                "{what} container on a network starts in ≤ {limit} ms (`wharf run --rm --network NET {image}`, warm median)"
            ),
            networked,
            limit,
            "ms",
            note,
        ));
    }
    http_goals(r, &mut g);
    g
}

/// Wasm starts against fixed times, with the machine's floor (a static
/// native hello, spawned and reaped) beside them, and the first run after
/// `wharf build` against its control (a run after a build that compiled
/// nothing).
fn start_goals(r: &Results, g: &mut Vec<Goal>) {
    let native = warm(r, "native").map(|l| l.median_ms);
    for (id, kind, image, what, limit) in [
        (
            "wasm-p1-start-1ms",
            "wasm-p1",
            "hello:wasm",
            "module (p1)",
            1.0,
        ),
        (
            "wasm-p2-start",
            "wasm-p2",
            "hello:p2",
            "component (p2)",
            1.2,
        ),
    ] {
        let start = warm(r, &format!("wharf-{kind}")).map(|l| l.median_ms);
        let note = match (start, native) {
            (Some(s), Some(n)) => format!(
                "{} here is {:.1}x a static native hello's start ({}), the floor for any process on this machine",
                ms(s),
                s / n,
                ms(n)
            ),
            _ => String::new(),
        };
        g.push(plain(
            id,
            &format!("Wasm {what} warm start (`wharf run --rm {image}`) median at most {limit} ms"),
            start,
            limit,
            "ms",
            note,
        ));
    }
    let after_build = |kind: &str| {
        let target = format!("wharf-{kind}");
        let median = |phase| latency(r, phase, &target).map(|l| l.median_ms);
        median("after-build").zip(median("after-build-control"))
    };
    let limit = 1.25;
    let mut goal = plain(
        "wasm-first-run-after-build",
        "The first `wharf run --rm hello:wasm` right after `wharf build` at most 1.25x a run after a build that compiled nothing (the module is compiled by the build)",
        after_build("wasm-p1").map(|(f, c)| f / c),
        limit,
        "ratio",
        match after_build("wasm-p1") {
            Some((f, c)) => format!(
                "{} after the build that compiled it, {} after a build of the same image with its code cached",
                ms(f),
                ms(c)
            ),
            None => String::new(),
        },
    );
    if let Some((f, c)) = after_build("wasm-p2") {
        goal.also.push(Comparison {
            against: format!(
                "the p2 component, hello:p2 ({} after the build, {} with its code cached)",
                ms(f),
                ms(c)
            ),
            measured: f / c,
            met: f / c <= limit,
        });
    }
    g.push(goal);
}

fn http_of<'a>(r: &'a Results, target: &str) -> Option<&'a Http> {
    r.http.iter().find(|h| h.target == target)
}

/// Serving the hello component, against `wasmtime serve`.
fn http_goals(r: &Results, g: &mut Vec<Goal>) {
    if r.http.is_empty() {
        return;
    }
    let wharf = http_of(r, "wharf-wasm-p2");
    let wasmtime = http_of(r, "wasmtime-serve");
    let ratio = wharf
        .zip(wasmtime)
        .map(|(w, t)| w.requests_per_s / t.requests_per_s);
    let errors = wharf.map_or(0, |w| w.errors);
    let note = match (wharf, wasmtime) {
        (Some(w), Some(t)) => format!(
            "{:.0} against {:.0} requests/s, a fresh instance per request in both{}",
            w.requests_per_s,
            t.requests_per_s,
            if errors > 0 {
                format!("; Wharf answered {errors} requests with errors, so the goal is not met")
            } else {
                String::new()
            }
        ),
        _ => unmeasured(r, "wasmtime serve", ratio).unwrap_or_default(),
    };
    g.push(Goal {
        id: "http-requests-vs-wasmtime-serve".into(),
        statement: "Wharf serves the hello component at ≥ 1.5× the requests/s of `wasmtime serve` (wrk, 50 connections), with no errors".into(),
        measured: ratio,
        threshold: 1.5,
        unit: "ratio".into(),
        met: ratio.map(|v| v >= 1.5 && errors == 0),
        at_least: true,
        against: String::new(),
        also: Vec::new(),
        note,
    });
    let p99 = wharf.map(|w| w.single_p99_ms);
    g.push(Goal {
        id: "http-p99-one-connection".into(),
        statement: "Wharf's p99 latency at 1 connection under 1 ms".into(),
        measured: p99,
        threshold: 1.0,
        unit: "ms".into(),
        met: p99.map(|v| v < 1.0),
        at_least: false,
        against: String::new(),
        also: Vec::new(),
        note: String::new(),
    });
}

/// The HTTP section of report.md.
fn http_table(r: &Results, o: &mut String) {
    o.push_str("| server | req/s (50 conn) | p50 | p99 | errors | req/s (1 conn) | p50 | p99 | idle RSS |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for h in &r.http {
        let _ = writeln!(
            o,
            "| `{}` | {:.0} | {} | {} | {} | {:.0} | {} | {} | {} |",
            h.label,
            h.requests_per_s,
            ms(h.p50_ms),
            ms(h.p99_ms),
            h.errors,
            h.single_requests_per_s,
            ms(h.single_p50_ms),
            ms(h.single_p99_ms),
            bytes(h.idle_rss_bytes)
        );
    }
}

fn goal_value(g: &Goal, v: f64) -> String {
    match g.unit.as_str() {
        "ms" => ms(v),
        "MiB" => format!("{v:.2} MiB"),
        _ => ratio(v),
    }
}

/// The bound the target column shows: "<" for the goals stated as under
/// so many ms or MiB, "≤" for the others (ratios, and limits
/// stated with ≤). Either way a goal is met when measured <= threshold.
fn bound(g: &Goal) -> &'static str {
    if g.at_least {
        "≥"
    } else if (g.unit == "ms" || g.unit == "MiB") && !g.statement.contains('≤') {
        "<"
    } else {
        "≤"
    }
}

fn goals_table(r: &Results, out: &mut String) {
    out.push_str("| goal | measured | target | met |\n|---|---:|---:|---|\n");
    let yes_no = |met: bool| if met { "yes" } else { "**no**" };
    for g in &r.goals {
        let mut measured = g
            .measured
            .map(|v| goal_value(g, v))
            .unwrap_or_else(|| "n/a".into());
        let mut met = match g.met {
            Some(m) => yes_no(m).to_string(),
            None => format!("n/a ({})", g.note),
        };
        // Every baseline's ratio, plainly, each with its own verdict.
        if g.measured.is_some() && !g.against.is_empty() {
            measured = format!("{measured} against {}", g.against);
            met = format!("{met} against {}", first_words(&g.against));
        }
        for c in &g.also {
            let _ = write!(
                measured,
                "; {} against {}",
                goal_value(g, c.measured),
                c.against
            );
            let _ = write!(
                met,
                "; {} against {}",
                yes_no(c.met),
                first_words(&c.against)
            );
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} {} | {} |",
            g.statement,
            measured,
            bound(g),
            goal_value(g, g.threshold),
            met
        );
    }
    for g in r
        .goals
        .iter()
        .filter(|g| g.met.is_some() && !g.note.is_empty())
    {
        let _ = writeln!(out, "\n- {}: {}", g.id, g.note);
    }
}

/// A baseline's name without its details (what comes before the first
/// parenthesis or comma), for the "met" column.
fn first_words(against: &str) -> &str {
    against.split(['(', ',']).next().unwrap_or(against).trim()
}

/// The rows of the comparison table: (label, latency/memory/cpu key, peer
/// name). Wharf's networked starts need netavark, so they stand for it.
fn rows(r: &Results) -> Vec<(String, String, Option<String>)> {
    let mut v = vec![
        (
            "Wharf, Wasm module (p1)".to_string(),
            "wharf-wasm-p1".to_string(),
            None,
        ),
        (
            "Wharf, Wasm module (p1), on a network".into(),
            "wharf-wasm-p1-network".into(),
            Some("netavark".into()),
        ),
        (
            "Wharf, Wasm component (p2)".into(),
            "wharf-wasm-p2".into(),
            None,
        ),
        ("Wharf, Linux container".into(), "wharf-linux".into(), None),
        (
            "Wharf, Linux container, on a network".into(),
            "wharf-linux-network".into(),
            Some("netavark".into()),
        ),
        ("native (no container)".into(), "native".into(), None),
    ];
    for p in &r.peers {
        // Tools and the HTTP-only peers have no row here: the HTTP table
        // shows `wasmtime serve`.
        if !matches!(
            p.name.as_str(),
            "hyperfine" | "netavark" | "wrk" | "wasmtime serve"
        ) {
            v.push((p.name.clone(), p.name.clone(), Some(p.name.clone())));
        }
    }
    v
}

/// The comparison table printed at the end of `wharf bench`, followed by
/// the goals.
pub fn summary(r: &Results) -> String {
    let mut out = table(r);
    if !r.http.is_empty() {
        out.push_str("\nHTTP serving (wrk):\n\n");
        http_table(r, &mut out);
    }
    out.push_str("\nGoals:\n\n");
    goals_table(r, &mut out);
    out
}

/// The comparison table alone.
fn table(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| runs as | image (compressed) | warm start median | p95 | cold start median | peak memory | sha256 time vs native | nbody time vs native | density: start per ctr | density: memory per ctr |"
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (label, key, peer_name) in rows(r) {
        if let Some(p) = &peer_name {
            if absent(r, p) != "n/a" {
                let why = absent(r, p);
                let _ = writeln!(
                    out,
                    "| {label} | {why} | {why} | {why} | {why} | {why} | {why} | {why} | {why} | {why} |"
                );
                continue;
            }
        }
        let kind = key.strip_prefix("wharf-");
        let size = kind
            .and_then(|k| r.sizes.iter().find(|s| s.kind == k && s.program == "hello"))
            .map(|s| bytes(s.compressed_bytes))
            .unwrap_or_else(|| "-".into());
        let w = warm(r, &key);
        let c = cold(r, &key);
        let m = mem(r, &key);
        let dens = kind.and_then(|k| r.density.iter().find(|d| d.kind == k));
        let _ = writeln!(
            out,
            "| {label} | {size} | {} | {} | {} | {} | {} | {} | {} | {} |",
            w.map(|l| ms(l.median_ms)).unwrap_or_else(|| "-".into()),
            w.map(|l| ms(l.p95_ms)).unwrap_or_else(|| "-".into()),
            c.map(|l| ms(l.median_ms)).unwrap_or_else(|| "-".into()),
            m.map(|m| bytes(m.peak_bytes)).unwrap_or_else(|| "-".into()),
            cpu(r, "sha256", &key)
                .map(|c| ratio(c.time_ratio_to_native))
                .unwrap_or_else(|| "-".into()),
            cpu(r, "nbody", &key)
                .map(|c| ratio(c.time_ratio_to_native))
                .unwrap_or_else(|| "-".into()),
            dens.map(|d| ms(d.per_container_ms))
                .unwrap_or_else(|| "-".into()),
            dens.map(|d| bytes(d.per_container_bytes))
                .unwrap_or_else(|| "-".into()),
        );
    }
    let _ = writeln!(
        out,
        "\nPeak memory: Wasm = the whole `wharf run` process; Wharf Linux = the container's memory cgroup peak; others = the largest process of the run. {} runs after {} warm-up; wharf {} build; load average {:.2} before, {:.2} after.",
        r.settings.runs,
        r.settings.warmup,
        r.versions.wharf_build,
        r.machine.load_before[0],
        r.machine.load_after[0]
    );
    if networked(r) {
        let _ = writeln!(
            out,
            "On a network: {} runs after {} warm-up, in a round robin of their own after the containers' (each start takes over the namespace the run before left wired).",
            r.settings.network_runs, r.settings.network_warmup
        );
    }
    out
}

/// Whether the networked starts were measured.
fn networked(r: &Results) -> bool {
    warm(r, "wharf-wasm-p1-network").is_some() || warm(r, "wharf-linux-network").is_some()
}

/// The whole report.md.
pub fn full(r: &Results) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Wharf bench report\n");
    let _ = writeln!(
        o,
        "`wharf bench{}`, started {} and took {:.0} s. The same sources (`examples/hello`, `examples/cpu`) were built as a WASI preview 1 module, a preview 2 component and a static musl binary, and packaged by `wharf build` into Wasm and Linux images in a private temporary store; every number below was measured in this run, on this machine.",
        if r.mode == "quick" { " --quick" } else { "" },
        r.started_at,
        r.duration_s
    );
    if r.versions.wharf_build == "debug" {
        o.push_str("\n**This is a debug build of wharf**: its start latency and memory are not representative; use `cargo build --release`.\n");
    }
    if r.machine.load_before[0] > r.machine.cores as f64 * 0.5 {
        let _ = writeln!(
            o,
            "\n**The machine was busy** (1-minute load average {:.2} on {} cores before the run, up to {:.2} during it): timings include that contention.",
            r.machine.load_before[0], r.machine.cores, r.machine.load_max_1m
        );
    }

    o.push_str("\n## Summary\n\n");
    o.push_str(&table(r));

    if !r.http.is_empty() {
        o.push_str("\n## HTTP serving\n\nThe hello `wasi:http` component (`examples/http`) served by Wharf (a fresh instance per request) and by `wasmtime serve` (the same), and the same routes as a native server in a Linux container and as a bare process, each loaded by `wrk` on 127.0.0.1 (2 threads, 50 connections; then 1 thread, 1 connection). Idle RSS: the server's processes after its first request.\n\n");
        http_table(r, &mut o);
    }

    o.push_str("\n## Goals\n\nWharf's performance goals, against the numbers measured above; a ratio taken against more than one baseline shows each, with its own verdict (n/a: the peer needed for the comparison is not installed or failed).\n\n");
    goals_table(r, &mut o);

    let m = &r.machine;
    o.push_str("\n## Machine\n\n| | |\n|---|---|\n");
    let _ = writeln!(o, "| CPU | {} |", m.cpu_model);
    let _ = writeln!(o, "| cores | {} |", m.cores);
    let _ = writeln!(o, "| memory | {} |", bytes(m.memory_bytes));
    let _ = writeln!(o, "| kernel | {} |", m.kernel);
    let _ = writeln!(o, "| cgroup layout | {} |", m.cgroup);
    let la = |l: [f64; 3]| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]);
    let _ = writeln!(
        o,
        "| load average before (1, 5, 15 min) | {} |",
        la(m.load_before)
    );
    let _ = writeln!(o, "| load average after | {} |", la(m.load_after));
    let _ = writeln!(
        o,
        "| highest 1-min load average seen | {:.2} |",
        m.load_max_1m
    );

    o.push_str(
        "\n## Versions\n\n| software | status | version | how it was run |\n|---|---|---|---|\n",
    );
    let _ = writeln!(
        o,
        "| wharf | measured | {} ({} build) | the binary running the bench, against a temporary store |",
        r.versions.wharf, r.versions.wharf_build
    );
    let _ = writeln!(
        o,
        "| wasmtime (embedded in wharf) | measured | {} | |",
        r.versions.wasmtime_embedded
    );
    for p in &r.peers {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            p.name,
            p.status,
            p.version.as_deref().unwrap_or("-"),
            p.note.as_deref().unwrap_or("-").replace('|', "\\|")
        );
    }

    o.push_str("\n## Image sizes\n\nCompressed: the sum of the layer sizes in the manifest (gzip). Unpacked: the regular files of the image's snapshot tree. Artifact: the module, component or static binary.\n\n| image | kind | compressed | unpacked | artifact | artifact size | `wharf build` time |\n|---|---|---:|---:|---|---:|---:|\n");
    for s in &r.sizes {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.image,
            s.kind,
            bytes(s.compressed_bytes),
            bytes(s.unpacked_bytes),
            s.artifact,
            bytes(s.artifact_bytes),
            ms(s.build_ms)
        );
    }

    let _ = writeln!(
        o,
        "\n## Start latency\n\nStart-to-exit of hello (spawn to wait4), {} measured runs per target after {} warm-up runs, round robin across targets in two groups measured one after the other (plain processes, then Linux containers, whose teardown keeps the kernel busy after they exit). Cold: Wasm after deleting `$ROOT/cache/wasm` (compilation included, {} runs); Linux: the first run after the image's snapshot exists (1 run). After build: Wasm, the first run after `wharf build` of the image with `$ROOT/cache/wasm` emptied before the build; its control, the same steps with the code cached (each: the build, a Linux hello, then the timed run; {} runs each, alternating).\n",
        r.settings.runs, r.settings.warmup, r.settings.cold_runs, r.settings.cold_runs
    );
    if networked(r) {
        let _ = writeln!(
            o,
            "On a network (`--network`): the same hello on a bridge network the bench made in its store (subnet: see netavark under Versions) and removed afterwards, as the only container on it, so every run also brings up and removes the bridge and aardvark-dns. The whole start is timed, netavark's setup and teardown included: it is what a user waits for. {} measured runs after {} warm-up, fewer than the others because each run is slow, in rounds spread evenly over the containers' round robin.\n",
            r.settings.network_runs, r.settings.network_warmup
        );
    }
    o.push_str("| command | phase | runs | median | p95 | p99 | mean | min | max |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut lat: Vec<&Latency> = r.latency.iter().filter(|l| l.phase == "warm").collect();
    lat.extend(r.latency.iter().filter(|l| l.phase == "cold"));
    lat.extend(
        r.latency
            .iter()
            .filter(|l| l.phase.starts_with("after-build")),
    );
    for l in lat {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            l.label.replace('|', "\\|"),
            l.phase,
            l.runs,
            ms(l.median_ms),
            ms(l.p95_ms),
            ms(l.p99_ms),
            ms(l.mean_ms),
            ms(l.min_ms),
            ms(l.max_ms)
        );
    }
    for p in r
        .peers
        .iter()
        .filter(|p| p.status != "measured" && p.name != "hyperfine")
    {
        let _ = writeln!(o, "| {} | - | {} | | | | | | |", p.name, p.status);
    }

    o.push_str("\n## Peak memory\n\nWasm: the peak RSS of the whole `wharf run` process (the guest runs inside it). Linux: the peak of the container's memory cgroup, read while a detached `hello sleep` container runs, until just before it exits; the `wharf run` engine process outside the container is listed separately. Peers and native: the peak RSS of the largest process of the run. `maxrss-gnu-time`: measured by `/usr/bin/time -f %M` (its small fork keeps the bench's own memory out of the number); `maxrss-wait4`: wait4's ru_maxrss, which also counts the bench process's RSS as a floor (GNU time not installed).\n\n| what | kind | method | peak (median) | max | samples |\n|---|---|---|---:|---:|---:|\n");
    for m in &r.memory {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            m.label.replace('|', "\\|"),
            m.kind,
            m.method,
            bytes(m.peak_bytes),
            bytes(m.max_bytes),
            m.samples
        );
    }

    let _ = writeln!(
        o,
        "\n## CPU throughput\n\nThe kernels' own `elapsed_ms` (process and container start excluded), median of {} runs after one warm-up round; ratio = time / native time (1.00x is native speed, 1.10x is 10% slower). Every runner's result was checked to equal native's.\n",
        r.settings.cpu_reps
    );
    o.push_str("| kernel | runs as | kind | median | time vs native |\n|---|---|---|---:|---:|\n");
    for c in &r.cpu {
        let _ = writeln!(
            o,
            "| {} {} | {} | {} | {} | {} |",
            c.kernel,
            c.arg,
            c.label,
            c.kind,
            ms(c.median_ms),
            ratio(c.time_ratio_to_native)
        );
    }
    for p in r.peers.iter().filter(|p| {
        p.status != "measured" && !matches!(p.name.as_str(), "hyperfine" | "podman" | "netavark")
    }) {
        let _ = writeln!(o, "| both | {} | | {} | |", p.name, p.status);
    }

    o.push_str("\n## Density\n\nN concurrent `wharf run -d IMAGE sleep 30`: wall time until every one returned, and the memory the N idle containers hold (monitors' PSS, so the wharf binary's shared pages count once overall; with RSS, shared pages count in every monitor); then removed.\n\n| image | kind | N | start all | per container | memory total | per container | total with RSS | method |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for d in &r.density {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            d.image,
            d.kind,
            d.n,
            ms(d.start_all_ms),
            ms(d.per_container_ms),
            bytes(d.total_bytes),
            bytes(d.per_container_bytes),
            bytes(d.rss_total_bytes),
            d.method
        );
    }

    o.push_str("\n## Charts\n\n![start latency](latency.svg)\n\n![peak memory](memory.svg)\n\n![CPU time vs native](cpu.svg)\n");

    o.push_str(
        "\n## Method\n\n\
- `wharf bench` drives the wharf binary itself, as a user would, with a fresh temporary `WHARF_ROOT` (never the user's store); nothing is reused from earlier runs.\n\
- Each run is timed from spawn to reap (wait4), with stdin/stdout on /dev/null; a run that does not exit 0 aborts the bench.\n\
- The same source is used for every kind: `examples/hello` and `examples/cpu` built for wasm32-wasip1, wasm32-wasip2 and x86_64-unknown-linux-musl; crun and runc run the same static binaries from a plain OCI bundle; crun and wharf-runtime are also timed on the spec `wharf run` writes for hello:linux (Docker's defaults) over the same rootfs, to tell Wharf's own cost from the cost of those defaults.\n\
- Percentiles are nearest-rank; medians of even counts average the two middle samples.\n\
- Numbers vary with the machine and its load; they are shown as measured. See docs/bench.md for results.json.\n",
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(target: &str, median: f64) -> serde_json::Value {
        json!({
            "target": target, "label": target, "kind": "linux", "runner": "x",
            "phase": "warm", "runs": 3, "warmup": 1, "median_ms": median,
            "q1_ms": median, "q3_ms": median, "p95_ms": median, "p99_ms": median,
            "mean_ms": median, "min_ms": median, "max_ms": median,
            "samples_ms": [median, median, median]
        })
    }

    /// Results with Wasm at 2 ms, Linux at 6 ms, crun at 5 ms of which its
    /// unshare wrapper takes 2, and crun on Wharf's spec at 6 ms.
    fn results() -> Results {
        serde_json::from_value(json!({
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "mode": "quick",
            "started_at": "now", "duration_s": 1.0,
            "settings": {"runs": 3, "warmup": 1, "cold_runs": 1, "cpu_reps": 1,
                "sha256_mib": 1, "nbody_steps": 1, "density_n": 1, "density_wasm_n": 1, "memory_sleep_s": 1.0},
            "machine": {"cpu_model": "c", "cores": 2, "memory_bytes": 1, "kernel": "k",
                "cgroup": "v2", "load_before": [0.0, 0.0, 0.0],
                "load_after": [0.0, 0.0, 0.0], "load_max_1m": 0.0},
            "versions": {"wharf": "1", "wharf_build": "release", "wasmtime_embedded": "1"},
            "peers": [], "sizes": [],
            "latency": [row("wharf-wasm-p1", 2.0), row("wharf-linux", 6.0),
                row("crun", 5.0), row("crun-wrapper", 2.0), row("crun-docker", 8.0)],
            "memory": [], "cpu": [], "density": [], "goals": []
        }))
        .unwrap()
    }

    #[test]
    fn goals_show_every_baseline_and_cite_no_issue() {
        let mut r = results();
        r.goals = goals(&r);
        let g = r.goals.iter().find(|g| g.id == "wasm-vs-crun").unwrap();
        // 2 / 5 against crun as run meets 0.5; 2 / 3 against crun alone
        // does not, and both are said.
        assert_eq!(g.measured, Some(0.4));
        assert_eq!(g.met, Some(true));
        assert_eq!(g.also.len(), 1, "{:?}", g.also);
        assert!((g.also[0].measured - 2.0 / 3.0).abs() < 1e-9);
        assert!(!g.also[0].met);
        let linux = r.goals.iter().find(|g| g.id == "linux-vs-crun").unwrap();
        // 6 / (8 - 2) against crun on Wharf's spec, without its wrapper.
        assert_eq!(linux.also.len(), 2);
        assert!((linux.also[1].measured - 1.0).abs() < 1e-9);

        let report = full(&r);
        let line = report
            .lines()
            .find(|l| l.starts_with("| Wasm container warm start at most 0.5x"))
            .unwrap();
        assert!(
            line.contains("0.40x against crun as run")
                && line.contains("0.67x against crun alone")
                && line.contains("yes against crun as run; **no** against crun alone"),
            "{line}"
        );
        assert!(!report.to_lowercase().contains("issue"), "{report}");
        assert!(!summary(&r).to_lowercase().contains("issue"));
    }

    #[test]
    fn numbers_of_a_unit_have_the_same_decimals() {
        assert_eq!(ms(250.0), "250.00 ms");
        assert_eq!(ms(2.256), "2.26 ms");
        assert_eq!(bytes(64 * 1024), "64.00 KiB");
        assert_eq!(bytes(8 << 20), "8.00 MiB");
    }
}
