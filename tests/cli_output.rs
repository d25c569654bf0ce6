//! Docker's output options end to end: `--format` Go templates (plain,
//! `json`, `table`) for ps, images, inspect, network ls and volume ls;
//! ps -n/-l/--no-trunc/-s; images filters.

mod common;

use common::*;
use serde_json::Value;

/// The start of each of `header`'s words in `line`, for column checks.
fn column_starts(header: &str, names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| {
            header
                .find(n)
                .unwrap_or_else(|| panic!("no {n} in {header:?}"))
        })
        .collect()
}

#[test]
fn ps_templates_and_flags() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["run", "--name", "first", "hello:1"]);
    let id = w.ok(&[
        "run", "-d", "--name", "tpl", "--label", "tier=web", "hello:1", "sleep", "30",
    ]);
    let id = id.trim();

    let plain = w.ok(&[
        "ps",
        "--format",
        "{{.ID}} {{.Names}} {{.Labels}} {{.State}}",
    ]);
    assert_eq!(plain, format!("{} tpl tier=web running\n", &id[..12]));

    let rows = json_lines(&w.ok(&["ps", "-a", "--format", "{{json .}}"]));
    assert_eq!(rows.len(), 2, "{rows:?}");
    let tpl = rows.iter().find(|r| r["Names"] == "tpl").unwrap();
    for field in [
        "ID",
        "Image",
        "Command",
        "CreatedAt",
        "RunningFor",
        "Ports",
        "Status",
        "Size",
        "Names",
        "Labels",
        "Mounts",
        "Networks",
        "State",
    ] {
        assert!(tpl.get(field).is_some(), "no {field} in {tpl}");
    }
    assert_eq!(tpl["Image"], "hello:1");
    assert!(
        tpl["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"),
        "{tpl}"
    );
    // `--format json` is the same objects.
    assert_eq!(json_lines(&w.ok(&["ps", "-a", "--format", "json"])), rows);

    // `table` aligns the tab-separated cells under Docker's headers.
    let table = w.ok(&[
        "ps",
        "-a",
        "--format",
        "table {{.ID}}\\t{{.Image}}\\t{{.Names}}",
    ]);
    let lines = lines(&table);
    assert_eq!(lines.len(), 3, "{table}");
    let starts = column_starts(&lines[0], &["CONTAINER ID", "IMAGE", "NAMES"]);
    assert_eq!(starts[0], 0, "{table}");
    for row in &lines[1..] {
        assert_eq!(row.find("hello:1"), Some(starts[1]), "{table}");
        let name = if row.contains("tpl") { "tpl" } else { "first" };
        assert_eq!(row.find(name), Some(starts[2]), "{table}");
    }

    // -l / -n: the last created ones, whatever their state (newest first).
    let last = w.ok(&["ps", "-l", "--format", "{{.Names}}"]);
    assert_eq!(last, "tpl\n");
    let two = w.ok(&["ps", "-n", "2", "--format", "{{.Names}}"]);
    assert_eq!(two, "tpl\nfirst\n");

    // --no-trunc: whole ids; -q honours it.
    assert_eq!(w.ok(&["ps", "-q", "--no-trunc"]), format!("{id}\n"));
    assert_eq!(w.ok(&["ps", "-q"]), format!("{}\n", &id[..12]));

    // -s: a SIZE column, with the image's size as "virtual".
    let sized = w.ok(&["ps", "-s"]);
    assert!(sized.lines().next().unwrap().ends_with("SIZE"), "{sized}");
    assert!(sized.contains("(virtual "), "{sized}");

    // A field Docker does not have is an error naming the fields.
    let out = w.fails(&["ps", "--format", "{{.Nope}}"]);
    assert!(
        stderr(&out).contains("can't evaluate field Nope"),
        "{}",
        describe(&out)
    );
    let out = w.fails(&["ps", "--format", "{{.ID"]);
    assert!(stderr(&out).contains("template"), "{}", describe(&out));
}

#[test]
fn inspect_format() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&[
        "run", "-d", "--name", "insp", "--label", "k=v", "hello:1", "sleep", "30",
    ]);
    let out = w.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}}|{{json .Config.Labels}}|{{.Config.Cmd}}|{{.NetworkSettings.IPAddress}}",
        "insp",
    ]);
    let inspected = w.inspect("insp");
    let ip = inspected["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(out, format!("running|{{\"k\":\"v\"}}|[sleep 30]|{ip}\n"));
    // Images too, and --format (the long flag) with several names.
    let out = w.ok(&[
        "inspect",
        "--format",
        "{{.Kind}} {{.Os}}",
        "hello:1",
        "insp",
    ]);
    let lines = lines(&out);
    assert_eq!(lines[0], format!("wasm {}", inspected_os(&w)));
    assert!(lines[1].starts_with("wasm "), "{out}");
    // `json`: one line per object.
    let rows = json_lines(&w.ok(&["inspect", "--format", "json", "insp"]));
    assert_eq!(rows[0]["Name"], "/insp");
    let out = w.fails(&["inspect", "-f", "{{if}}", "insp"]);
    assert!(stderr(&out).contains("template"), "{}", describe(&out));
}

fn inspected_os(w: &Wharf) -> String {
    let v: Value = w.inspect("hello:1");
    v["Os"].as_str().unwrap().to_string()
}

#[test]
fn images_filters_and_templates() {
    let w = Wharf::new();
    let first = w.build_hello();
    assert!(first.contains("Successfully tagged"), "{first}");
    let old_id = w.ok(&["images", "-q"]).trim().to_string();
    // Building another image as hello:1 leaves the first without a name.
    let out = w.build_text(
        "FROM scratch\nCOPY hello.wasm /hello.wasm\nLABEL v=2\nENTRYPOINT [\"/hello.wasm\"]\n",
        &["--platform", "wasi/wasm", "-t", "hello:1"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    w.ok(&["tag", "hello:1", "other/app:2"]);

    let dangling = w.ok(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling, format!("{old_id}\n"));
    let named = w.ok(&[
        "images",
        "--filter",
        "dangling=false",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    let mut named = lines(&named);
    named.sort();
    assert_eq!(named, ["hello:1", "other/app:2"]);
    let by_ref = w.ok(&[
        "images",
        "--filter",
        "reference=other/*",
        "--format",
        "{{.Repository}} {{.Tag}}",
    ]);
    assert_eq!(by_ref, "other/app 2\n");
    let by_tag = w.ok(&["images", "--filter", "reference=hello:1", "-q"]);
    assert_eq!(lines(&by_tag).len(), 1);
    assert_ne!(by_tag.trim(), old_id);
    assert_eq!(
        w.ok(&["images", "--filter", "reference=nothing*"])
            .lines()
            .count(),
        1
    );
    let out = w.fails(&["images", "--filter", "colour=blue"]);
    assert!(stderr(&out).contains("dangling="), "{}", describe(&out));

    let rows = json_lines(&w.ok(&["images", "--format", "{{json .}}"]));
    assert_eq!(rows.len(), 3);
    for field in [
        "ID",
        "Repository",
        "Tag",
        "Digest",
        "CreatedSince",
        "CreatedAt",
        "Size",
    ] {
        assert!(rows[0].get(field).is_some(), "no {field} in {}", rows[0]);
    }
    let table = w.ok(&[
        "images",
        "--format",
        "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}",
    ]);
    let lines = lines(&table);
    let starts = column_starts(&lines[0], &["REPOSITORY", "TAG", "IMAGE ID"]);
    let row = lines.iter().find(|l| l.starts_with("other/app")).unwrap();
    assert_eq!(row.find('2'), Some(starts[1]), "{table}");
}

#[test]
fn network_and_volume_ls_templates() {
    let w = Wharf::new();
    w.ok(&["volume", "create", "--label", "team=a", "vol-one"]);
    let out = w.ok(&[
        "volume",
        "ls",
        "--format",
        "{{.Name}} {{.Driver}} {{.Labels}}",
    ]);
    assert_eq!(out, "vol-one local team=a\n");
    let table = w.ok(&["volume", "ls", "--format", "table {{.Name}}\\t{{.Driver}}"]);
    assert_eq!(
        lines(&table),
        ["VOLUME NAME   DRIVER", "vol-one       local"]
    );
    let v = json_lines(&w.ok(&["volume", "ls", "--format", "json"]));
    assert_eq!(
        v[0]["Mountpoint"].as_str().map(|m| m.ends_with("_data")),
        Some(true)
    );

    let nets = w.ok(&["network", "ls", "--format", "{{.Name}}/{{.Driver}}"]);
    assert!(
        lines(&nets).contains(&"bridge/bridge".to_string()),
        "{nets}"
    );
    let table = w.ok(&["network", "ls", "--format", "table {{.Name}}\\t{{.Driver}}"]);
    assert_eq!(lines(&table)[0], "NAME      DRIVER");
    let rows = json_lines(&w.ok(&["network", "ls", "--format", "json"]));
    assert!(rows
        .iter()
        .any(|r| r["Name"] == "bridge" && r["ID"].as_str().unwrap().len() == 12));
}

#[test]
fn version_needs_no_store() {
    let w = Wharf::new();
    let missing = w.root().join("not-made");
    let out = run_with_timeout(
        {
            let mut c = std::process::Command::new(BIN);
            c.env("WHARF_ROOT", &missing).arg("version");
            c
        },
        None,
        CMD_TIMEOUT,
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!missing.exists(), "version must not make a store");
    let text = stdout(&out);
    let v: Value = serde_json::from_str(&w.ok(&["version", "--format", "json"])).unwrap();
    let client = &v["Client"];
    for (label, key) in [
        ("Version:", "Version"),
        ("Wasmtime version:", "WasmtimeVersion"),
        ("libcontainer:", "LibcontainerVersion"),
    ] {
        let value = client[key].as_str().unwrap();
        assert!(!value.is_empty() && value != "unknown", "{v}");
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap();
        assert!(line.ends_with(value), "{text}");
    }
    assert_eq!(client["Version"], env!("CARGO_PKG_VERSION"));
    assert!(text.contains(&format!(
        " OS/Arch:           linux/{}",
        client["Arch"].as_str().unwrap()
    )));
    let one = w.ok(&["version", "--format", "{{.Client.WasmtimeVersion}}"]);
    assert_eq!(one.trim(), client["WasmtimeVersion"]);
}

#[test]
fn info_counts_and_host() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["run", "--name", "done", "hello:1"]);
    w.ok(&["run", "-d", "--name", "up", "hello:1", "sleep", "30"]);
    let info: Value = serde_json::from_str(&w.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(info["Containers"], 2, "{info:#}");
    assert_eq!(info["ContainersRunning"], 1, "{info:#}");
    assert_eq!(info["ContainersStopped"], 1, "{info:#}");
    assert_eq!(info["Images"], 1, "{info:#}");
    assert!(info["RootDirSize"].as_u64().unwrap() > 0);
    let cg = std::path::Path::new("/sys/fs/cgroup");
    let layout = if cg.join("cgroup.controllers").exists() {
        "v2"
    } else if cg.join("unified").is_dir() {
        "hybrid"
    } else {
        "v1"
    };
    assert_eq!(info["CgroupLayout"], layout, "{info:#}");
    assert_eq!(info["Executors"], serde_json::json!(["wasm", "linux"]));
    let netavark = std::path::Path::new("/usr/lib/podman/netavark");
    assert_eq!(
        info["Peers"]["netavark"]["Path"].is_string(),
        netavark.exists()
    );

    let text = w.ok(&["info"]);
    assert!(
        text.contains("  Running: 1\n") && text.contains("  Stopped: 1\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(" Root Dir: {}\n", w.root_str())),
        "{text}"
    );
    assert_eq!(
        w.ok(&["info", "-f", "{{.Images}} {{.CgroupLayout}}"]),
        format!("1 {layout}\n")
    );
}

#[test]
fn image_and_container_groups_alias_the_commands() {
    let w = Wharf::new();
    w.build_hello();
    assert_eq!(w.ok(&["image", "ls", "-q"]), w.ok(&["images", "-q"]));
    let id = w.ok(&["image", "inspect", "--format", "{{.Id}}", "hello:1"]);
    assert!(id.starts_with("sha256:"), "{id}");
    w.ok(&["image", "tag", "hello:1", "again:2"]);
    assert_eq!(
        w.ok(&["images", "--filter", "reference=again", "-q"])
            .lines()
            .count(),
        1
    );

    let out = w.ok(&["container", "run", "--name", "c1", "hello:1"]);
    assert!(out.contains(WASM_GREETING), "{out}");
    assert_eq!(
        w.ok(&["container", "ls", "-a", "--format", "{{.Names}}"]),
        "c1\n"
    );
    assert_eq!(
        w.ok(&["container", "inspect", "-f", "{{.State.ExitCode}}", "c1"]),
        "0\n"
    );
    assert!(w.ok(&["container", "logs", "c1"]).contains(WASM_GREETING));
    // Each group inspects only its own type.
    w.fails(&["image", "inspect", "c1"]);
    w.fails(&["container", "inspect", "hello:1"]);
    // `container run` fails as `run` does: 125 before the container starts.
    let out = w.cmd(&["container", "run", "--rm", "nosuch:1"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert_eq!(w.ok(&["container", "rm", "c1"]), "c1\n");
    assert_eq!(w.ok(&["ps", "-aq"]), "");
    w.ok(&["image", "rm", "again:2"]);
}

#[test]
fn prunes_and_disk_usage() {
    let w = Wharf::new();
    w.build_hello();
    let first = w.ok(&["images", "-q", "--no-trunc"]).trim().to_string();
    w.ok(&["run", "--name", "old", "hello:1"]);
    let old = w.ok(&["ps", "-aq", "--no-trunc"]).trim().to_string();
    // A second hello:1 leaves the first dangling, still used by `old`.
    let out = w.build_text(
        "FROM scratch\nCOPY hello.wasm /hello.wasm\nLABEL v=2\nENTRYPOINT [\"/hello.wasm\"]\n",
        &["--platform", "wasi/wasm", "-t", "hello:1"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    w.ok(&["volume", "create", "spare"]);

    let df = w.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}",
    ]);
    assert_eq!(df, "Images|2|1\nContainers|1|0\nLocal Volumes|1|0\n");
    let table = w.ok(&["system", "df"]);
    assert!(table.starts_with("TYPE "), "{table}");
    assert!(table.contains("RECLAIMABLE"), "{table}");

    // Without a terminal to ask on, a prune needs -f, and removes nothing.
    for args in [
        &["image", "prune"][..],
        &["container", "prune"],
        &["system", "prune"],
        &["volume", "prune"],
        &["network", "prune"],
    ] {
        let out = w.fails(args);
        assert!(stderr(&out).contains("-f (--force)"), "{}", describe(&out));
    }
    assert_eq!(w.ok(&["images", "-q"]).lines().count(), 2);
    assert_eq!(w.ok(&["ps", "-aq"]).lines().count(), 1);
    assert_eq!(w.ok(&["volume", "ls", "-q"]), "spare\n");

    // The dangling image is still used: image prune leaves it.
    assert_eq!(
        w.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    let out = w.ok(&["container", "prune", "-f"]);
    assert!(
        out.starts_with(&format!("Deleted Containers:\n{old}\n")),
        "{out}"
    );
    assert_eq!(w.ok(&["ps", "-aq"]), "");
    let out = w.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {first}\n")), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    assert_eq!(
        w.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "hello:1\n"
    );

    // system prune: -a takes the named image no container uses, --volumes
    // the unused volume.
    w.ok(&["run", "-d", "--name", "up", "hello:1", "sleep", "30"]);
    let out = w.ok(&["system", "prune", "-a", "--volumes", "-f"]);
    assert!(out.contains("Deleted Volumes:\nspare\n"), "{out}");
    assert!(
        !out.contains("Deleted Images"),
        "hello:1 is used by `up`: {out}"
    );
    assert_eq!(w.ok(&["images", "-q"]).lines().count(), 1);
    w.ok(&["rm", "-f", "up"]);
    let out = w.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: hello:1\n"), "{out}");
    assert_eq!(w.ok(&["images", "-q"]), "");
    assert_eq!(w.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn history_of_an_image() {
    let w = Wharf::new();
    let long = "x".repeat(60);
    let dockerfile = format!(
        "FROM scratch\nCOPY hello.wasm /hello.wasm\nENV LONG={long}\nENTRYPOINT [\"/hello.wasm\"]\n"
    );
    let out = w.build_text(&dockerfile, &["--platform", "wasi/wasm", "-t", "hist:1"]);
    assert!(out.status.success(), "{}", describe(&out));
    let id = w.ok(&["images", "-q"]).trim().to_string();
    let layer_size = w.inspect("hist:1")["Layers"][0]["Size"].as_u64().unwrap();

    let rows = json_lines(&w.ok(&["history", "--no-trunc", "--format", "json", "hist:1"]));
    let by: Vec<&str> = rows
        .iter()
        .map(|r| r["CreatedBy"].as_str().unwrap())
        .collect();
    assert_eq!(
        by,
        [
            "ENTRYPOINT [\"/hello.wasm\"]".to_string(),
            format!("ENV LONG={long}"),
            // BuildKit's record of a step that made a layer.
            "COPY hello.wasm /hello.wasm # buildkit".to_string()
        ]
    );
    let top = rows[0]["ID"].as_str().unwrap();
    assert!(
        top.trim_start_matches("sha256:").starts_with(&id),
        "{rows:?}"
    );
    assert_eq!(rows[1]["ID"], "<missing>");
    // Steps that made no layer are 0B; COPY's is its layer's size.
    assert_eq!(rows[1]["Size"], "0B");
    let shown = w.ok(&["history", "--format", "{{.Size}}", "hist:1"]);
    let copy = shown.lines().nth(2).unwrap();
    let kb: f64 = copy.strip_suffix("kB").unwrap().parse().unwrap();
    assert_eq!((kb * 1000.0).round() as u64, layer_size, "{shown}");
    let exact = w.ok(&[
        "history",
        "-H=false",
        "--format",
        "{{.Size}} {{.CreatedSince}}",
        "hist:1",
    ]);
    let copy = exact.lines().nth(2).unwrap();
    assert_eq!(
        copy.split(' ').next(),
        Some(layer_size.to_string().as_str()),
        "{exact}"
    );
    assert!(
        copy.contains('T') && !copy.contains("ago"),
        "RFC 3339 times: {exact}"
    );

    let table = w.ok(&["image", "history", "hist:1"]);
    let lines = lines(&table);
    assert_eq!(lines.len(), 4, "{table}");
    let starts = column_starts(
        &lines[0],
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
    );
    assert!(lines[1].starts_with(&id), "{table}");
    assert_eq!(lines[2].find("ENV LONG="), Some(starts[2]), "{table}");
    // CREATED BY is cut to 45 characters, as Docker does.
    assert!(
        lines[2].contains(&format!("ENV LONG={}…", "x".repeat(35))),
        "{table}"
    );
    assert!(!lines[2].contains(&long), "{table}");
    assert_eq!(table, w.ok(&["history", "hist:1"]));

    assert_eq!(
        w.ok(&["history", "-q", "hist:1"]),
        format!("{id}\n<missing>\n<missing>\n")
    );
    let out = w.fails(&["history", "nosuch:1"]);
    assert!(stderr(&out).contains("nosuch"), "{}", describe(&out));
}

/// Runs the binary without a store option or WHARF_ROOT, plus `envs`.
fn bare(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = std::process::Command::new(BIN);
    c.env_remove("WHARF_ROOT").args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    run_with_timeout(c, None, CMD_TIMEOUT)
}

#[test]
fn completion_scripts_and_man_pages() {
    let w = Wharf::new();
    let bash = w.ok(&["completion", "bash"]);
    assert!(bash.contains("complete -F _wharf"), "{bash:.300}");
    for word in ["prune", "history", "--format", "--no-trunc"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    assert!(
        !bash.contains("__monitor"),
        "hidden commands are not completed"
    );
    let script = w.scratch("c").join("wharf.bash");
    std::fs::write(&script, &bash).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", describe(&check));
    assert!(w.ok(&["completion", "zsh"]).starts_with("#compdef wharf"));
    assert!(w.ok(&["completion", "fish"]).contains("complete -c wharf"));
    let out = w.cmd(&["completion", "tcsh"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bash, zsh, fish"),
        "{}",
        describe(&out)
    );

    let dir = w.scratch("man");
    let said = w.ok(&["__man", dir.to_str().unwrap()]);
    assert!(said.contains("man pages in"), "{said}");
    for page in [
        "wharf.1",
        "wharf-ps.1",
        "wharf-image-ls.1",
        "wharf-system-prune.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text:.200}"
        );
    }
    let ps = std::fs::read_to_string(dir.join("wharf-ps.1")).unwrap();
    assert!(ps.contains("no\\-trunc"), "{ps:.2000}");
    assert!(!dir.join("wharf-__monitor.1").exists());
}

#[test]
fn help_usage_and_tips() {
    // clap's tips suggested `stop` for `top` and `push` for `pause`:
    // different commands, not typos.
    for (typed, wrong) in [("top", "'stop'"), ("pause", "'push'")] {
        let out = bare(&[typed], &[]);
        assert!(!out.status.success());
        assert!(!stderr(&out).contains(wrong), "{}", describe(&out));
    }
    let out = bare(&["imagse"], &[]);
    assert!(
        stderr(&out).contains("'images'"),
        "a typo gets its tip: {}",
        describe(&out)
    );

    // --root only where a store is used.
    let help = stdout(&bare(&["version", "--help"], &[]));
    assert!(!help.contains("--root"), "{help}");
    for command in ["completion", "login", "logout", "bench"] {
        let help = stdout(&bare(&[command, "--help"], &[]));
        assert!(!help.contains("--root"), "{command}: {help}");
    }
    assert!(stdout(&bare(&["ps", "--help"], &[])).contains("--root <DIR>"));
    // A hidden --root is still accepted (scripts pass it everywhere).
    let w = Wharf::new();
    w.ok(&["version"]);

    // WHARF_ROOT set: usage lines do not show a --root nobody typed.
    let out = bare(&["rm"], &[("WHARF_ROOT", w.root_str())]);
    let err = stderr(&out);
    assert!(err.contains("Usage: wharf rm <CONTAINER>..."), "{err}");
    assert!(!err.contains("--root"), "{err}");
    // ... and it still picks the store.
    w.build_hello();
    let out = bare(&["images", "-q"], &[("WHARF_ROOT", w.root_str())]);
    assert_eq!(stdout(&out), w.ok(&["images", "-q"]));

    // Arguments are described (a unit test walks every command; this is
    // what a user sees).
    let help = stdout(&bare(&["rm", "--help"], &[]));
    assert!(
        help.contains("<CONTAINER>...  Names or ids of containers"),
        "{help}"
    );
}

/// On a terminal, a prune asks Docker's question and does what it is told.
/// (`script` gives the command a terminal; it is in every Debian.)
#[test]
fn prune_asks_on_a_terminal() {
    let w = Wharf::new();
    w.ok(&["volume", "create", "kept"]);
    let line = format!("{BIN} --root {} system prune --volumes", w.root_str());
    let on_terminal = |answer: &str| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &line, "/dev/null"])
            .env_remove("WHARF_ROOT");
        run_with_timeout(c, Some(answer.as_bytes()), CMD_TIMEOUT)
    };
    let out = on_terminal("n\n");
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    assert!(
        text.contains("  - all volumes not used by at least one container"),
        "{text}"
    );
    assert!(
        text.contains("Are you sure you want to continue? [y/N]"),
        "{text}"
    );
    assert_eq!(
        w.ok(&["volume", "ls", "-q"]),
        "kept\n",
        "declined: nothing removed"
    );
    let out = on_terminal("y\n");
    assert!(
        stdout(&out).contains("Deleted Volumes:\r\nkept"),
        "{}",
        describe(&out)
    );
    assert_eq!(w.ok(&["volume", "ls", "-q"]), "");
}

/// A Linux container's writes (its overlay's upper directory) are its SIZE
/// in `ps -s` and `system df`, and what `container prune` reclaims.
#[test]
fn linux_container_size() {
    let w = Wharf::new();
    let ctx = hello_context();
    w.ok(&[
        "build",
        "-f",
        ctx.join("Dockerfile.linux").to_str().unwrap(),
        "--platform",
        "linux/amd64",
        "-t",
        "hl:1",
        ctx.to_str().unwrap(),
    ]);
    w.ok(&[
        "run",
        "--name",
        "writer",
        "hl:1",
        "write",
        "/out.txt",
        "0123456789",
    ]);
    let size = w.ok(&["ps", "-a", "-s", "--format", "{{.Size}}"]);
    assert!(size.starts_with("10B (virtual "), "{size}");
    let df = w.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.Size}} {{.Reclaimable}}",
    ]);
    assert!(df.contains("Containers 10B 10B (100%)\n"), "{df}");
    let out = w.ok(&["container", "prune", "-f"]);
    assert!(out.ends_with("Total reclaimed space: 10B\n"), "{out}");
}

/// The cells of a table row (columns are at least three spaces apart).
fn cells(row: &str) -> Vec<String> {
    row.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn disk_usage_verbose() {
    let w = Wharf::new();
    w.build_hello();
    let ctx = hello_context();
    w.ok(&[
        "build",
        "-f",
        ctx.join("Dockerfile.linux").to_str().unwrap(),
        "--platform",
        "linux/amd64",
        "-t",
        "hl:1",
        ctx.to_str().unwrap(),
    ]);
    w.ok(&["volume", "create", "vv"]);
    w.ok(&["run", "--name", "user", "-v", "vv:/d", "hello:1"]);
    // Both images COPY the same greeting.txt: that layer is shared.
    let layers = |image: &str| -> Vec<(String, u64)> {
        w.inspect(image)["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["Digest"].as_str().unwrap().to_string(),
                    l["Size"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let linux = layers("hl:1");
    let shared: u64 = layers("hello:1")
        .into_iter()
        .filter(|l| linux.contains(l))
        .map(|(_, size)| size)
        .sum();
    assert!(shared > 0);

    let out = w.ok(&["system", "df", "-v"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Images space usage:", "{out}");
    assert_eq!(
        cells(lines[2]),
        [
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS"
        ]
    );
    let row = |repo: &str| {
        let line = lines.iter().find(|l| l.starts_with(repo)).unwrap();
        cells(line)
    };
    let (wasm, lin) = (row("hello "), row("hl "));
    assert_eq!(wasm[5], format!("{shared}B"), "{out}");
    assert_eq!(lin[5], format!("{shared}B"), "{out}");
    assert_eq!((wasm[7].as_str(), lin[7].as_str()), ("1", "0"), "{out}");
    let at = lines
        .iter()
        .position(|l| *l == "Local Volumes space usage:")
        .unwrap();
    assert_eq!(cells(lines[at + 3]), ["vv", "1", "0B"], "{out}");
    assert!(out.contains("Containers space usage:"), "{out}");
    assert!(lines.iter().any(|l| l.ends_with("   user")), "{out}");
    w.fails(&["system", "df", "-v", "--format", "json"]);
}

#[test]
fn prune_filters() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.build_text(
        "FROM scratch\nCOPY hello.wasm /hello.wasm\nLABEL tier=scratch\nENTRYPOINT [\"/hello.wasm\"]\n",
        &["--platform", "wasi/wasm", "-t", "labelled:1"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    w.ok(&["run", "--name", "plain", "hello:1"]);
    w.ok(&["run", "--name", "kept", "--label", "keep=yes", "hello:1"]);

    // A bad filter is refused before anything is removed.
    let out = w.fails(&["container", "prune", "-f", "--filter", "colour=red"]);
    assert!(stderr(&out).contains("until=TIME"), "{}", describe(&out));
    assert_eq!(w.ok(&["ps", "-aq"]).lines().count(), 2);
    // Made just now: none was made before an hour ago.
    assert_eq!(
        w.ok(&["container", "prune", "-f", "--filter", "until=1h"]),
        "Total reclaimed space: 0B\n"
    );
    w.ok(&["container", "prune", "-f", "--filter", "label!=keep"]);
    assert_eq!(w.ok(&["ps", "-a", "--format", "{{.Names}}"]), "kept\n");
    w.ok(&[
        "container",
        "prune",
        "-f",
        "--filter",
        "label=keep=yes",
        "--filter",
        "until=0s",
    ]);
    assert_eq!(w.ok(&["ps", "-aq"]), "");

    let out = w.ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "label=tier=scratch",
    ]);
    assert!(out.contains("untagged: labelled:1\n"), "{out}");
    assert!(!out.contains("hello:1"), "{out}");
    assert_eq!(w.ok(&["images", "--format", "{{.Repository}}"]), "hello\n");
}
