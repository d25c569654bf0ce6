//! Registries, end to end, against Debian's `docker-registry` (distribution)
//! started by each test on 127.0.0.1 with temporary storage, and `skopeo`
//! for interoperability. Both are installed by scripts/setup.sh; a missing
//! tool fails the test with instructions (it never skips).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tempfile::TempDir;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const USER: &str = "wharf";
const PASSWORD: &str = "s3cret-pass";
/// bcrypt (cost 5) of PASSWORD, for the registry's htpasswd file.
const PASSWORD_BCRYPT: &str = "$2b$05$cWY2PsakkQ8tCel4mz2CneVCZfXHiXOKCPRnhP5fAcZxPw3nqu7Ci";

fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{tool} is not installed: run `bash scripts/setup.sh` (it installs docker-registry, skopeo and curl)"
    );
}

/// A distribution registry on 127.0.0.1, killed on drop.
struct Registry {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    fn start() -> Registry {
        Registry::start_with(false)
    }

    fn start_with(basic_auth: bool) -> Registry {
        require("docker-registry");
        assert!(
            Path::new(REGISTRY_BIN).is_file(),
            "{REGISTRY_BIN} is missing: run `bash scripts/setup.sh`"
        );
        let dir = tempfile::Builder::new()
            .prefix("wharf-registry-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if basic_auth {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{USER}:{PASSWORD_BCRYPT}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wharf-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start docker-registry");
        let mut reg = Registry {
            child: Some(child),
            port,
            dir,
        };
        let up = poll(Duration::from_secs(20), || {
            if let Some(c) = reg.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("docker-registry exited ({st}):\n{}", reg.log());
                }
            }
            let ok = TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http(&reg.host(), "GET", "/v2/", &[], b"").0 != 0;
            ok.then_some(())
        });
        assert!(
            up.is_some(),
            "docker-registry did not start:\n{}",
            reg.log()
        );
        reg
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The file holding a blob in the registry's storage.
    fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal HTTP/1.1 client for the registry API: (status, headers, body).
/// Status 0 when the connection failed.
fn http(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let Ok(mut s) = TcpStream::connect(host) else {
        return (0, Vec::new(), Vec::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    if s.write_all(req.as_bytes()).is_err() || s.write_all(body).is_err() {
        return (0, Vec::new(), Vec::new());
    }
    let mut raw = Vec::new();
    if s.read_to_end(&mut raw).is_err() && raw.is_empty() {
        return (0, Vec::new(), Vec::new());
    }
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, Vec::new(), Vec::new());
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let hdrs: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if hdrs
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
            let n =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..i]).trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[i + 2..i + 2 + n]);
            rest = &rest[i + 2 + n + 2..];
        }
        body = out;
    }
    (status, hdrs, body)
}

fn header<'a>(hdrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hdrs.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Uploads a blob through the raw API (monolithic POST + PUT).
fn api_put_blob(host: &str, repo: &str, data: &[u8]) -> String {
    let digest = format!("sha256:{}", sha256_hex(data));
    let (st, hdrs, body) = http(
        host,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(st, 202, "upload start: {}", String::from_utf8_lossy(&body));
    let loc = header(&hdrs, "location")
        .expect("upload location")
        .to_string();
    let loc = loc
        .strip_prefix(&format!("http://{host}"))
        .unwrap_or(&loc)
        .to_string();
    let sep = if loc.contains('?') { '&' } else { '?' };
    let (st, _, body) = http(
        host,
        "PUT",
        &format!("{loc}{sep}digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        data,
    );
    assert_eq!(st, 201, "blob upload: {}", String::from_utf8_lossy(&body));
    digest
}

fn api_put_manifest(host: &str, repo: &str, tag: &str, media_type: &str, bytes: &[u8]) {
    let (st, _, body) = http(
        host,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Content-Type", media_type)],
        bytes,
    );
    assert_eq!(
        st,
        201,
        "manifest upload: {}",
        String::from_utf8_lossy(&body)
    );
}

fn api_get_manifest(host: &str, repo: &str, tag: &str) -> (String, Vec<u8>) {
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
    let (st, hdrs, body) = http(
        host,
        "GET",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Accept", accept)],
        b"",
    );
    assert_eq!(
        st,
        200,
        "GET manifest {repo}:{tag}: {}",
        String::from_utf8_lossy(&body)
    );
    (
        header(&hdrs, "content-type").unwrap_or("").to_string(),
        body,
    )
}

/// Each test's credentials file lives in its own directory, never ~/.docker.
struct Env {
    docker_config: TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            docker_config: tempfile::Builder::new()
                .prefix("wharf-docker-config-")
                .tempdir()
                .unwrap(),
        }
    }

    fn vars(&self) -> Vec<(&str, &str)> {
        vec![("DOCKER_CONFIG", self.docker_config.path().to_str().unwrap())]
    }

    fn cmd(&self, w: &Wharf, args: &[&str]) -> std::process::Output {
        w.cmd_env(args, &self.vars())
    }

    fn ok(&self, w: &Wharf, args: &[&str]) -> String {
        let out = self.cmd(w, args);
        assert!(
            out.status.success(),
            "`wharf {}` failed\n{}",
            args.join(" "),
            describe(&out)
        );
        stdout(&out)
    }

    fn fails(&self, w: &Wharf, args: &[&str]) -> String {
        let out = self.cmd(w, args);
        assert_error(&out, &format!("wharf {}", args.join(" ")));
        stderr(&out)
    }

    fn config_json(&self) -> PathBuf {
        self.docker_config.path().join("config.json")
    }
}

fn skopeo(args: &[&str]) -> String {
    require("skopeo");
    let mut c = Command::new("skopeo");
    c.args(args);
    let out = run_with_timeout(c, None, CMD_TIMEOUT);
    assert!(
        out.status.success(),
        "skopeo {} failed\n{}",
        args.join(" "),
        describe(&out)
    );
    stdout(&out)
}

/// The blob files of a store (names only), to check nothing was left behind.
fn store_blobs(w: &Wharf) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(w.root().join("blobs/sha256"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn push_with_wharf_and_read_with_skopeo() {
    let reg = Registry::start();
    let env = Env::new();
    let w = Wharf::new();
    w.build_hello();
    let name = format!("{}/hello:1", reg.host());
    w.ok(&["tag", "hello:1", &name]);
    let out = env.ok(&w, &["push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");

    let inspected: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]))
    .unwrap();
    let local = w.inspect("hello:1");
    assert_eq!(inspected["Digest"], local["Digest"], "{inspected:#}");
    let dir = w.scratch("skopeo-oci");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{name}"),
        &format!("oci:{}:copied", dir.display()),
    ]);
    // What skopeo copied, loaded into a fresh store, runs.
    let w2 = Wharf::new();
    let archive = w2.scratch("a").join("copied.tar");
    skopeo(&[
        "copy",
        &format!("oci:{}:copied", dir.display()),
        &format!("oci-archive:{}:copied:1", archive.display()),
    ]);
    w2.load(&archive);
    let out = w2.ok(&["run", "--rm", "copied:1"]);
    assert!(out.contains(WASM_GREETING), "{out}");

    // A second push uploads nothing new and still succeeds.
    env.ok(&w, &["push", "-q", &name]);

    // Pulled from one repository and pushed to another of the same
    // registry, layers are mounted rather than uploaded.
    let w3 = Wharf::new();
    env.ok(&w3, &["pull", "-q", &name]);
    let other = format!("{}/elsewhere/hello:2", reg.host());
    w3.ok(&["tag", &name, &other]);
    env.ok(&w3, &["push", &other]);
    let log = reg.log();
    assert!(
        log.lines()
            .any(|l| l.contains("mount=sha256") && l.contains("201")),
        "expected a cross-repository mount (201) in the registry log:\n{log}"
    );
    assert!(
        w3.root().join("registry-sources").is_dir(),
        "pull should remember where blobs came from"
    );
}

#[test]
fn push_with_skopeo_pull_and_run_with_wharf() {
    let reg = Registry::start();
    let env = Env::new();
    let w = Wharf::new();
    w.build_hello();
    let src = format!("oci:{}:hello:1", w.root().display());
    // OCI manifest, and Docker v2 schema 2.
    for (tag, format) in [("oci", "oci"), ("v2s2", "v2s2")] {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--format",
            format,
            &src,
            &format!("docker://{}/sk/hello:{tag}", reg.host()),
        ]);
    }
    let (ct, _) = api_get_manifest(&reg.host(), "sk/hello", "v2s2");
    assert_eq!(ct, "application/vnd.docker.distribution.manifest.v2+json");

    for tag in ["oci", "v2s2"] {
        let w2 = Wharf::new();
        let name = format!("{}/sk/hello:{tag}", reg.host());
        let out = env.ok(&w2, &["pull", &name]);
        assert!(out.contains("Digest: sha256:"), "{out}");
        let imgs = w2.images();
        assert_eq!(imgs.len(), 1, "{imgs:?}");
        assert_eq!(imgs[0]["Repository"], format!("{}/sk/hello", reg.host()));
        assert_eq!(imgs[0]["Tag"], tag);
        let out = w2.ok(&["run", "--rm", &name]);
        assert!(out.contains(WASM_GREETING), "{out}");
        let out = w2.ok(&["run", "--rm", &name, "cat", "/etc/greeting.txt"]);
        assert_eq!(out, GREETING_FILE);
        // Pulling again fetches nothing and keeps one image.
        env.ok(&w2, &["pull", "-q", &name]);
        assert_eq!(w2.images().len(), 1);
    }
}

/// Files in a directory of the store (0 when it does not exist); names
/// of one file (hard links: a code-cache entry known by two identities)
/// count once.
fn count_in(dir: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let inodes: std::collections::HashSet<u64> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.ino())
                .collect()
        })
        .unwrap_or_default();
    inodes.len()
}

/// Pull compiles the module the first run will use, straight from the packed
/// layers: here a later layer replaces it (a component over a module) and
/// ENTRYPOINT names it relative to WORKDIR. Layers are unpacked by the run.
#[test]
fn pull_compiles_the_module_the_run_uses() {
    let reg = Registry::start();
    let env = Env::new();
    let w = Wharf::new();
    let ctx = w.context_with_hello(
        "FROM scratch\nCOPY hello.wasm /app/hello.wasm\nCOPY greeting.txt /etc/greeting.txt\n\
         COPY hello-p2.wasm /app/hello.wasm\nWORKDIR /app\nENTRYPOINT [\"hello.wasm\"]\n",
    );
    std::fs::copy(artifact("hello/hello-p2.wasm"), ctx.join("hello-p2.wasm")).unwrap();
    w.ok(&[
        "build",
        "-q",
        "--platform",
        "wasi/wasm",
        "-t",
        "two:1",
        ctx.to_str().unwrap(),
    ]);
    let name = format!("{}/two/hello:1", reg.host());
    w.ok(&["tag", "two:1", &name]);
    env.ok(&w, &["push", "-q", &name]);

    let w2 = Wharf::new();
    env.ok(&w2, &["pull", "-q", &name]);
    let cache = w2.root().join("cache/wasm");
    // Only the module the run uses: a guess compiled on the way from the
    // lower layer's copy does not stay.
    let compiled = count_in(&cache);
    assert_eq!(compiled, 1, "pull compiled {compiled} modules");
    assert_eq!(
        count_in(&w2.root().join("snapshots")),
        0,
        "pull unpacked layers"
    );
    let out = w2.ok(&["run", "--rm", &name]);
    assert!(out.contains(WASM_GREETING), "{out}");
    assert_eq!(
        count_in(&cache),
        compiled,
        "the run compiled its module again: pull compiled another one"
    );
    assert!(count_in(&w2.root().join("snapshots")) > 0);
}

/// The CNCF Wasm artifact and runwasi's component layer, pushed through the
/// raw API, pulled and run; pushed back by Wharf byte for byte.
#[test]
fn wasm_artifacts_through_the_raw_api_round_trip() {
    let reg = Registry::start();
    let env = Env::new();
    let host = reg.host();

    // CNCF: config application/vnd.wasm.config.v0+json, one application/wasm layer.
    let module = hello_wasm_bytes();
    let config = serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "wasm",
        "os": "wasip1",
        "layerDigests": [format!("sha256:{}", sha256_hex(&module))],
        "component": {}
    }))
    .unwrap();
    let cncf = [(
        "cncf/hello",
        MT_WASM_CONFIG,
        config,
        "application/wasm",
        module,
    )];
    // runwasi: an image config and a raw component layer.
    let component = std::fs::read(artifact("hello/hello-p2.wasm")).unwrap();
    let rw_config = serde_json::to_vec(&json!({
        "architecture": "wasm",
        "os": "wasip2",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .unwrap();
    let runwasi = [(
        "runwasi/hello",
        MT_CONFIG,
        rw_config,
        "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
        component,
    )];
    for (repo, cmt, config, lmt, layer) in cncf.into_iter().chain(runwasi) {
        let cd = api_put_blob(&host, repo, &config);
        let ld = api_put_blob(&host, repo, &layer);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "artifactType": if cmt == MT_WASM_CONFIG { json!(MT_WASM_CONFIG) } else { Value::Null },
            "config": {"mediaType": cmt, "digest": cd, "size": config.len()},
            "layers": [{"mediaType": lmt, "digest": ld, "size": layer.len()}],
        }))
        .unwrap();
        api_put_manifest(&host, repo, "1", MT_MANIFEST, &manifest);

        let w = Wharf::new();
        let name = format!("{host}/{repo}:1");
        env.ok(&w, &["pull", &name]);
        let out = w.ok(&["run", "--rm", &name]);
        assert!(out.contains(WASM_GREETING), "{repo}: {out}");
        // Precompiled on pull: the code cache is warm before the first run.
        let cache = w.root().join("cache/wasm");
        assert!(cache.is_dir(), "{repo}: no code cache after pull");

        // Pushed back by Wharf under another name: the same manifest bytes.
        let copy = format!("{host}/copies/{}:1", repo.replace('/', "-"));
        w.ok(&["tag", &name, &copy]);
        env.ok(&w, &["push", &copy]);
        let (ct, bytes) =
            api_get_manifest(&host, &format!("copies/{}", repo.replace('/', "-")), "1");
        assert_eq!(ct, MT_MANIFEST, "{repo}");
        assert_eq!(bytes, manifest, "{repo}: push changed the manifest");
    }
}

#[test]
fn multi_platform_index_with_manifest_create_and_push() {
    let reg = Registry::start();
    let env = Env::new();
    let w = Wharf::new();
    w.build_hello_as("multi:wasm");
    let ctx = hello_context();
    w.ok(&[
        "build",
        "-f",
        ctx.join("Dockerfile.linux").to_str().unwrap(),
        "--platform",
        "linux/amd64",
        "-t",
        "multi:linux",
        ctx.to_str().unwrap(),
    ]);
    let list = format!("{}/multi:1", reg.host());
    env.ok(
        &w,
        &["manifest", "create", &list, "multi:wasm", "multi:linux"],
    );
    let local: Value = serde_json::from_str(&env.ok(&w, &["manifest", "inspect", &list])).unwrap();
    assert_eq!(local["manifests"].as_array().unwrap().len(), 2, "{local:#}");
    env.ok(&w, &["manifest", "push", &list]);

    // Remote inspect from an empty store.
    let w0 = Wharf::new();
    let remote: Value =
        serde_json::from_str(&env.ok(&w0, &["manifest", "inspect", &list])).unwrap();
    assert_eq!(remote, local);
    let platforms: Vec<String> = remote["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        platforms.contains(&"linux/amd64".to_string()),
        "{platforms:?}"
    );
    assert!(
        platforms.iter().any(|p| p.ends_with("/wasm")),
        "{platforms:?}"
    );

    // --platform wasi/wasm: the Wasm variant, which runs.
    let w1 = Wharf::new();
    env.ok(&w1, &["pull", "--platform", "wasi/wasm", &list]);
    let imgs = w1.images();
    assert_eq!(imgs.len(), 1, "{imgs:?}");
    assert!(
        imgs[0]["Platform"].as_str().unwrap().ends_with("/wasm"),
        "{imgs:?}"
    );
    let out = w1.ok(&["run", "--rm", &list]);
    assert!(out.contains(WASM_GREETING), "{out}");

    // No --platform on a linux/amd64 host: the Linux variant.
    if cfg!(target_arch = "x86_64") {
        let w2 = Wharf::new();
        env.ok(&w2, &["pull", &list]);
        let imgs = w2.images();
        assert_eq!(imgs[0]["Platform"], "linux/amd64", "{imgs:?}");
    }

    // --all-platforms keeps the index: both variants, and it pushes again.
    let w3 = Wharf::new();
    env.ok(&w3, &["pull", "--all-platforms", &list]);
    let imgs = w3.images();
    let p = imgs[0]["Platform"].as_str().unwrap();
    assert!(p.contains("linux/amd64") && p.contains("wasm"), "{imgs:?}");
    let copy = format!("{}/multi-copy:1", reg.host());
    w3.ok(&["tag", &list, &copy]);
    env.ok(&w3, &["push", &copy]);
    let (ct, _) = api_get_manifest(&reg.host(), "multi-copy", "1");
    assert_eq!(ct, MT_INDEX);

    // A platform the index does not have: a clear error, nothing stored.
    let w4 = Wharf::new();
    let err = env.fails(&w4, &["pull", "--platform", "linux/arm64", &list]);
    assert!(
        err.contains("linux/arm64") && err.contains("available"),
        "{err}"
    );
    assert!(w4.images().is_empty());
}

/// The `images` rows for `repo` and the untagged ones, from `images -a`.
fn rows_for(w: &Wharf, repo: &str) -> (Vec<Value>, Vec<Value>) {
    let all = json_lines(&w.ok(&["images", "-a", "--format", "json"]));
    let named = all
        .iter()
        .filter(|i| i["Repository"] == repo)
        .cloned()
        .collect();
    let none = all
        .into_iter()
        .filter(|i| i["Repository"] == "<none>" || i["Tag"] == "<none>")
        .collect();
    (named, none)
}

#[test]
fn pull_of_a_multi_platform_tag_keeps_the_tag_on_the_index() {
    let reg = Registry::start();
    let env = Env::new();
    let w = Wharf::new();
    w.build_hello_as("multi:wasm");
    let ctx = hello_context();
    w.ok(&[
        "build",
        "-f",
        ctx.join("Dockerfile.linux").to_str().unwrap(),
        "--platform",
        "linux/amd64",
        "-t",
        "multi:linux",
        ctx.to_str().unwrap(),
    ]);
    let repo = format!("{}/multi", reg.host());
    let list = format!("{repo}:1");
    let index_digest = env.ok(
        &w,
        &["manifest", "create", &list, "multi:wasm", "multi:linux"],
    );
    let index_digest = index_digest.trim().to_string();
    env.ok(&w, &["manifest", "push", &list]);
    // The host's variant is the one `run` must pick; the hello example has
    // a Linux build for amd64 only, so elsewhere the Wasm one is picked.
    let expected = if cfg!(target_arch = "x86_64") {
        "Hello from Linux!"
    } else {
        WASM_GREETING
    };

    // Where the index was made: pulling its tag leaves it on the index
    // (it used to move to the platform image, leaving the index <none>).
    env.ok(&w, &["pull", &list]);
    let (named, none) = rows_for(&w, &repo);
    assert_eq!(named.len(), 1, "{named:?}");
    assert_eq!(named[0]["Digest"], index_digest.as_str(), "{named:?}");
    assert!(none.is_empty(), "untagged images left: {none:?}");

    // After --all-platforms, a plain pull of the same tag changes nothing.
    let all = Wharf::new();
    env.ok(&all, &["pull", "--all-platforms", &list]);
    env.ok(&all, &["pull", &list]);
    let (named, none) = rows_for(&all, &repo);
    assert_eq!(named.len(), 1, "{named:?}");
    assert_eq!(named[0]["Digest"], index_digest.as_str(), "{named:?}");
    assert!(none.is_empty(), "untagged images left: {none:?}");
    let out = all.ok(&["run", "--rm", &list]);
    assert!(out.contains(expected), "{out}");

    // A fresh store: the tag once, nothing untagged, and run takes the
    // host's variant.
    let fresh = Wharf::new();
    env.ok(&fresh, &["pull", &list]);
    let (named, none) = rows_for(&fresh, &repo);
    assert_eq!(named.len(), 1, "{named:?}");
    assert!(none.is_empty(), "untagged images left: {none:?}");
    // Pulling again (now with the variant already here) keeps it so.
    env.ok(&fresh, &["pull", &list]);
    let (named, none) = rows_for(&fresh, &repo);
    assert_eq!(named.len(), 1, "{named:?}");
    assert!(none.is_empty(), "untagged images left: {none:?}");
    let out = fresh.ok(&["run", "--rm", &list]);
    assert!(out.contains(expected), "{out}");
}

#[test]
fn login_and_logout_with_basic_auth() {
    let reg = Registry::start_with(true);
    let env = Env::new();
    let w = Wharf::new();
    w.build_hello();
    let name = format!("{}/private/hello:1", reg.host());
    w.ok(&["tag", "hello:1", &name]);

    let err = env.fails(&w, &["push", &name]);
    assert!(
        err.contains("authentication") && err.contains("wharf login"),
        "{err}"
    );

    let err = env.fails(&w, &["login", &reg.host(), "-u", USER, "-p", "wrong"]);
    assert!(err.contains("authentication failed"), "{err}");
    assert!(
        !env.config_json().exists(),
        "a failed login must not save anything"
    );

    let mut c = w.command(&["login", &reg.host(), "-u", USER, "--password-stdin"]);
    for (k, v) in env.vars() {
        c.env(k, v);
    }
    let out = run_with_timeout(c, Some(format!("{PASSWORD}\n").as_bytes()), CMD_TIMEOUT);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(stdout(&out).contains("Login Succeeded"));
    let cfg: Value = serde_json::from_slice(&std::fs::read(env.config_json()).unwrap()).unwrap();
    let auth = cfg["auths"][reg.host()]["auth"]
        .as_str()
        .unwrap()
        .to_string();
    let expect = {
        // base64 of user:password, computed by hand to stay dependency-free.
        let raw = format!("{USER}:{PASSWORD}");
        base64(raw.as_bytes())
    };
    assert_eq!(auth, expect);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.config_json())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    env.ok(&w, &["push", &name]);
    let w2 = Wharf::new();
    env.ok(&w2, &["pull", &name]);
    assert!(w2.ok(&["run", "--rm", &name]).contains(WASM_GREETING));

    let out = env.ok(&w, &["logout", &reg.host()]);
    assert!(out.contains("Removing login credentials"), "{out}");
    let cfg: Value = serde_json::from_slice(&std::fs::read(env.config_json()).unwrap()).unwrap();
    assert!(cfg["auths"].get(reg.host()).is_none(), "{cfg}");
    let w3 = Wharf::new();
    let err = env.fails(&w3, &["pull", &name]);
    assert!(err.contains("authentication"), "{err}");
    assert!(w3.images().is_empty());
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[test]
fn corrupted_blob_in_the_registry_fails_on_its_digest() {
    let reg = Registry::start();
    let env = Env::new();
    let w = Wharf::new();
    w.build_hello();
    let name = format!("{}/corrupt/hello:1", reg.host());
    w.ok(&["tag", "hello:1", &name]);
    env.ok(&w, &["push", &name]);
    let layer = w.inspect("hello:1")["Layers"][0]["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    let data = reg.blob_data(&layer);
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    // Another image in the store, sharing no layer with the one pulled.
    let w2 = Wharf::new();
    let out = w2.build_text(
        "FROM scratch\nCOPY greeting.txt /g.txt\n",
        &["-t", "other:1"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let before = w2.images_json();
    let blobs = store_blobs(&w2);
    let err = env.fails(&w2, &["pull", &name]);
    eprintln!("corrupt blob: {err}");
    assert!(
        err.contains(&layer),
        "the error should name {layer}:\n{err}"
    );
    assert!(err.contains("digest"), "{err}");
    assert!(err.contains(&name), "the error should name {name}:\n{err}");
    assert_eq!(w2.images_json(), before, "the store changed");
    assert_eq!(store_blobs(&w2), blobs, "blobs were left behind");
}

#[test]
fn unknown_tag_and_repository_are_clear_errors() {
    let reg = Registry::start();
    let env = Env::new();
    let w = Wharf::new();
    w.build_hello();
    let name = format!("{}/known/hello:1", reg.host());
    w.ok(&["tag", "hello:1", &name]);
    env.ok(&w, &["push", "-q", &name]);

    let w2 = Wharf::new();
    for missing in [
        format!("{}/known/hello:nope", reg.host()),
        format!("{}/unknown/repo:1", reg.host()),
    ] {
        let err = env.fails(&w2, &["pull", &missing]);
        eprintln!("missing: {err}");
        assert!(err.contains(&missing), "{err}");
        assert!(err.contains("not found"), "{err}");
    }
    assert!(w2.images().is_empty());
    // Nothing listens here: the error says the registry cannot be reached.
    let port = free_port();
    let err = env.fails(&w2, &["pull", &format!("127.0.0.1:{port}/x:1")]);
    eprintln!("no registry: {err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

/// Forwards 127.0.0.1:port to `upstream`, responses throttled, counting the
/// bytes sent back; connections close when the upstream closes.
struct Proxy {
    port: u16,
    sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (sent2, stop2) = (sent.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut s_out);
                    let _ = s_out.shutdown(Shutdown::Write);
                });
                let sent = sent2.clone();
                thread::spawn(move || {
                    let (mut s_in, mut c_out) = (server, client);
                    let mut buf = [0u8; 32 * 1024];
                    loop {
                        match s_in.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if c_out.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                                sent.fetch_add(n as u64, Ordering::SeqCst);
                                thread::sleep(Duration::from_millis(5));
                            }
                        }
                    }
                    let _ = c_out.shutdown(Shutdown::Both);
                });
            }
        });
        Proxy { port, sent, stop }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[test]
fn registry_dying_mid_pull_leaves_the_store_unchanged() {
    let mut reg = Registry::start();
    let env = Env::new();
    let w = Wharf::new();
    // An image with a big incompressible layer.
    let ctx = w.context_with_hello(
        "FROM scratch\nCOPY hello.wasm /hello.wasm\nCOPY big.bin /big.bin\nENTRYPOINT [\"/hello.wasm\"]\n",
    );
    let mut big = vec![0u8; 48 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for chunk in big.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(ctx.join("big.bin"), &big).unwrap();
    drop(big);
    w.ok(&[
        "build",
        "-q",
        "--platform",
        "linux/amd64",
        "-t",
        "big:1",
        ctx.to_str().unwrap(),
    ]);
    let name = format!("{}/big/img:1", reg.host());
    w.ok(&["tag", "big:1", &name]);
    env.ok(&w, &["push", "-q", &name]);

    let proxy = Proxy::start(reg.host());
    let via = format!("127.0.0.1:{}/big/img:1", proxy.port);
    let w2 = Wharf::new();
    w2.build_hello_as("other:1");
    let before = w2.images_json();
    let blobs = store_blobs(&w2);
    let mut c = w2.command(&["pull", "-q", &via]);
    for (k, v) in env.vars() {
        c.env(k, v);
    }
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let child = c.spawn().unwrap();
    let started = Instant::now();
    let midway = poll(Duration::from_secs(60), || {
        (proxy.sent.load(Ordering::SeqCst) > 4 << 20).then_some(())
    });
    assert!(midway.is_some(), "the pull never got going");
    reg.kill();
    let out = child.wait_with_output().unwrap();
    assert_error(&out, &format!("wharf pull {via}"));
    let err = stderr(&out);
    eprintln!("registry died: {err}");
    assert!(err.contains(&via), "the error should name {via}:\n{err}");
    assert!(started.elapsed() < Duration::from_secs(120));
    assert_eq!(w2.images_json(), before, "the store changed");
    assert_eq!(
        store_blobs(&w2),
        blobs,
        "blobs or temp files were left behind"
    );
}

/// `wharf run` of a registry image that is not in the store pulls it.
/// Needs the run path to call `Engine::pull_for_run` (crates/wharf-engine/src/run.rs).
#[test]
fn run_pulls_a_missing_image() {
    let reg = Registry::start();
    let env = Env::new();
    let w = Wharf::new();
    w.build_hello();
    let name = format!("{}/x:1", reg.host());
    w.ok(&["tag", "hello:1", &name]);
    env.ok(&w, &["push", "-q", &name]);
    let w2 = Wharf::new();
    let out = env.cmd(&w2, &["run", "--rm", &name]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(stdout(&out).contains(WASM_GREETING), "{}", describe(&out));
    assert_eq!(w2.images().len(), 1);
}
