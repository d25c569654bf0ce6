//! OCI runtime peers (crun, runc, wharf-runtime): bundles over a plain
//! rootfs of the static guests, `rt run` commands, and their targets.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::machine;
use crate::proc::{self, Cmd};
use crate::session::{Bench, CpuRunner, Target};

impl Bench<'_> {
    /// Writes a bundle for `rt` running `args` over `rootfs`; returns its dir.
    pub(crate) fn bundle(
        &self,
        rt: &Path,
        name: &str,
        rootfs: &Path,
        args: &[String],
    ) -> Result<PathBuf> {
        let dir = self.work.join("bundles").join(name);
        std::fs::create_dir_all(&dir)?;
        let _ = std::fs::remove_file(dir.join("config.json"));
        proc::capture(&Cmd::new(&[
            self.path(rt),
            "spec".into(),
            "--bundle".into(),
            self.path(&dir),
        ]))?;
        let p = dir.join("config.json");
        let mut spec: Value = serde_json::from_slice(&std::fs::read(&p)?)?;
        spec["process"]["args"] = serde_json::json!(args);
        spec["process"]["terminal"] = Value::Bool(false);
        spec["root"]["path"] = Value::String(self.path(rootfs));
        spec["root"]["readonly"] = Value::Bool(true);
        std::fs::write(&p, serde_json::to_vec_pretty(&spec)?)?;
        Ok(dir)
    }

    /// `rt run` of a bundle, plain or (crun on a hybrid cgroup layout) inside
    /// a private mount namespace without the cgroup2 mount.
    pub(crate) fn oci_run_cmd(&self, rt: &Path, bundle: &Path, id: &str, wrapped: bool) -> Cmd {
        if wrapped {
            Cmd::new(&[
                "unshare".to_string(),
                "-m".into(),
                "--propagation".into(),
                "private".into(),
                "sh".into(),
                "-c".into(),
                format!(
                    "umount /sys/fs/cgroup/unified 2>/dev/null; exec {} run --bundle {} {}",
                    self.path(rt),
                    self.path(bundle),
                    id
                ),
            ])
        } else {
            Cmd::new(&[
                self.path(rt),
                "run".into(),
                "--bundle".into(),
                self.path(bundle),
                id.to_string(),
            ])
        }
    }

    /// `rt run` of the static hello with the spec `wharf run --rm
    /// hello:linux` gives it: Docker's defaults (seccomp profile, capability
    /// set, masked and read-only paths, cgroup namespace, /dev, the /etc
    /// files). A plain `rt spec` bundle has none of these, so this target
    /// tells Wharf's own cost apart from the cost of Docker's defaults. Only
    /// the overlay differs: the bundle runs over the plain rootfs.
    fn docker_defaults_target(
        &self,
        rt: &str,
        bin: &Path,
        rootfs: &Path,
        id: &str,
        wrapped: bool,
    ) -> Result<Target> {
        let name = format!("{rt}-docker");
        let dir = self.bundle(bin, &name, rootfs, &["/hello".into()])?;
        let plain: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)?;
        let cname = format!("wharf-bench-spec-{}", std::process::id());
        proc::capture(&self.wharf(&["run", "--name", &cname, "--network", "none", "hello:linux"]))?;
        let copied = (|| -> Result<Value> {
            let info: Value =
                serde_json::from_str(&proc::capture(&self.wharf(&["inspect", &cname]))?)?;
            let record = info[0]["LogPath"]
                .as_str()
                .and_then(|p| Path::new(p).parent())
                .context("`wharf inspect` shows no LogPath for the container")?
                .to_path_buf();
            let mut spec: Value =
                serde_json::from_slice(&std::fs::read(record.join("config.json"))?)?;
            // The /etc files Wharf wrote beside its record go with the bundle.
            for m in spec["mounts"].as_array_mut().into_iter().flatten() {
                let Some(src) = m["source"].as_str().map(PathBuf::from) else {
                    continue;
                };
                if let (true, Some(file)) = (src.starts_with(&record), src.file_name()) {
                    let to = dir.join(file);
                    std::fs::copy(&src, &to)?;
                    m["source"] = Value::String(self.path(&to));
                }
            }
            Ok(spec)
        })();
        self.remove_containers(&[&cname]);
        let mut spec = copied.context("reading the spec of `wharf run hello:linux`")?;
        // crun 1.8 refuses a spec version newer than the one it writes.
        spec["ociVersion"] = plain["ociVersion"].clone();
        spec["process"]["terminal"] = Value::Bool(false);
        spec["root"] = plain["root"].clone();
        spec["linux"]["cgroupsPath"] = Value::String(format!("/wharf-bench/{name}"));
        std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&spec)?)?;
        let cmd = self.oci_run_cmd(bin, &dir, id, wrapped);
        let (ok, out) = proc::try_capture(&cmd);
        if !ok {
            self.oci_delete(bin, id);
            bail!("`{rt} run` of it failed: {}", out.trim());
        }
        Ok(Target {
            key: name,
            label: format!("{rt} run (hello with the spec of `wharf run`: Docker's defaults)"),
            kind: "linux".into(),
            runner: rt.into(),
            networked: false,
            cmd,
        })
    }

    /// What a failed `rt run` may have left: `rt delete -f ID`.
    fn oci_delete(&self, rt: &Path, id: &str) {
        let _ = proc::try_capture(&Cmd::new(&[
            self.path(rt),
            "delete".into(),
            "-f".into(),
            id.into(),
        ]));
    }

    /// Sets up OCI runtime `rt` (crun, runc, wharf-runtime): checks it runs
    /// the static hello bundle, plain or wrapped, and adds its targets.
    pub(crate) fn setup_oci_runtime(
        &mut self,
        rt: &str,
        bin: &Path,
        rootfs: &Path,
    ) -> Result<String> {
        let id = |what: &str| format!("wharf-bench-{}-{rt}-{what}", std::process::id());
        let hello = self.bundle(bin, &format!("{rt}-hello"), rootfs, &["/hello".into()])?;
        let mut wrapped = false;
        let (ok, out) = proc::try_capture(&self.oci_run_cmd(bin, &hello, &id("hello"), false));
        if !ok {
            self.oci_delete(bin, &id("hello"));
            let (ok2, out2) = if rt == "crun" && machine::cgroup_layout() == "hybrid" {
                proc::try_capture(&self.oci_run_cmd(bin, &hello, &id("hello"), true))
            } else {
                (false, String::new())
            };
            if !ok2 {
                bail!(
                    "`{rt} run` of a static hello bundle failed: {}{}",
                    out.trim(),
                    if out2.is_empty() {
                        String::new()
                    } else {
                        format!(" / in a private mount namespace: {}", out2.trim())
                    }
                );
            }
            wrapped = true;
        }
        let cmd = self.oci_run_cmd(bin, &hello, &id("hello"), wrapped);
        let note = if wrapped {
            format!(
                "{rt} run --bundle B ID inside `unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified; exec {rt} run ...'` ({rt} refuses this machine's hybrid cgroup layout); the wrapper's own cost is measured separately"
            )
        } else {
            format!("{rt} run --bundle B ID of a static hello bundle")
        };
        self.targets.push(Target {
            key: rt.into(),
            label: format!("{rt} run (static hello bundle)"),
            kind: "linux".into(),
            runner: rt.into(),
            networked: false,
            cmd,
        });
        if wrapped {
            self.targets.push(Target {
                key: format!("{rt}-wrapper"),
                label: "unshare -m sh -c 'umount ...; exec true' (the wrapper alone)".into(),
                kind: "overhead".into(),
                runner: "unshare".into(),
                networked: false,
                cmd: Cmd::new(&[
                    "unshare",
                    "-m",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    "umount /sys/fs/cgroup/unified 2>/dev/null; exec true",
                ]),
            });
        }
        // The same hello with the spec `wharf run` writes, so a runtime is
        // also timed doing Wharf's work. runc is left out: it is 3x slower
        // than crun already and would only lengthen the bench.
        let mut note = note;
        if rt != "runc" {
            match self.docker_defaults_target(rt, bin, rootfs, &id("docker"), wrapped) {
                Ok(target) => self.targets.push(target),
                Err(e) => {
                    note.push_str(&format!("; not timed with Wharf's spec: {e:#}"));
                }
            }
        }
        // CPU kernels: one bundle per (kernel, argument), written in cpu().
        // wharf-runtime is timed for its start only (issue 4): inside the
        // container it runs the same native code as crun.
        if rt == "wharf-runtime" {
            return Ok(note);
        }
        self.cpu_runners.push(CpuRunner {
            key: rt.into(),
            label: format!("{rt} run (static cpu bundle)"),
            kind: "linux".into(),
            runner: rt.into(),
            prefix: Cmd::new(&[
                self.path(bin),
                if wrapped {
                    "wrapped".into()
                } else {
                    "plain".into()
                },
            ]),
        });
        Ok(note)
    }
}
