//! Docker-format seccomp profiles -> the runtime spec's `LinuxSeccomp`,
//! following moby's `profiles/seccomp` conversion (archMap, includes/excludes
//! by capability, architecture and minimum kernel).

use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::caps;
use crate::{Error, Result};

/// Docker's default profile, verbatim from moby/moby `profiles/seccomp/default.json`
/// (Apache-2.0).
const DOCKER_DEFAULT: &str = include_str!("data/docker-seccomp-default.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    syscalls: Option<Vec<Syscall>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// (Go's GOARCH name used in `includes.arches`, libseccomp's name).
fn native_arch() -> (&'static str, &'static str) {
    if cfg!(target_arch = "x86_64") {
        ("amd64", "SCMP_ARCH_X86_64")
    } else if cfg!(target_arch = "aarch64") {
        ("arm64", "SCMP_ARCH_AARCH64")
    } else if cfg!(target_arch = "x86") {
        ("x86", "SCMP_ARCH_X86")
    } else if cfg!(target_arch = "arm") {
        ("arm", "SCMP_ARCH_ARM")
    } else if cfg!(target_arch = "riscv64") {
        ("riscv64", "SCMP_ARCH_RISCV64")
    } else if cfg!(target_arch = "s390x") {
        ("s390x", "SCMP_ARCH_S390X")
    } else if cfg!(target_arch = "powerpc64") {
        ("ppc64le", "SCMP_ARCH_PPC64LE")
    } else if cfg!(target_arch = "loongarch64") {
        ("loong64", "SCMP_ARCH_LOONGARCH64")
    } else {
        ("unknown", "SCMP_ARCH_NATIVE")
    }
}

/// `(major, minor)` of the running kernel.
fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_version(&release).unwrap_or((0, 0))
}

fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

fn kernel_at_least(min: &str) -> Result<bool> {
    let want = parse_version(min).ok_or_else(|| Error::Seccomp {
        source_name: "profile".into(),
        message: format!("invalid minKernel {min:?}: expected MAJOR.MINOR like \"4.8\""),
    })?;
    Ok(kernel_version() >= want)
}

/// Docker's default profile for a process with capability set `caps`.
pub(crate) fn docker_default(caps: &[String]) -> Result<LinuxSeccomp> {
    convert("Docker's default profile", DOCKER_DEFAULT, caps)
}

/// A Docker-format profile read from `path`.
pub(crate) fn from_file(path: &Path, caps: &[String]) -> Result<LinuxSeccomp> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io("reading seccomp profile", path, e))?;
    convert(&path.display().to_string(), &text, caps)
}

/// Converts a Docker-format profile; `caps` is the container's bounding set.
pub(crate) fn convert(source_name: &str, text: &str, caps: &[String]) -> Result<LinuxSeccomp> {
    let err = |message: String| Error::Seccomp {
        source_name: source_name.to_string(),
        message,
    };
    let profile: Profile = serde_json::from_str(text)
        .map_err(|e| err(format!("not a valid Docker seccomp profile (JSON): {e}")))?;
    let (go_arch, scmp_arch) = native_arch();

    let mut architectures = Vec::new();
    match (&profile.architectures, &profile.arch_map) {
        (Some(a), Some(m)) if !a.is_empty() && !m.is_empty() => {
            return Err(err(
                "both 'architectures' and 'archMap' are set; use only one".into(),
            ))
        }
        _ => {}
    }
    for a in profile.architectures.iter().flatten() {
        architectures.push(a.clone());
    }
    for m in profile.arch_map.iter().flatten() {
        if m.architecture == scmp_arch {
            architectures.push(m.architecture.clone());
            architectures.extend(m.sub_architectures.iter().flatten().cloned());
        }
    }

    let mut syscalls = Vec::new();
    'rules: for call in profile.syscalls.iter().flatten() {
        let names = match (&call.name, &call.names) {
            (Some(_), Some(n)) if !n.is_empty() => {
                return Err(err(
                    "a syscall rule sets both 'name' and 'names'; use only 'names'".into(),
                ))
            }
            (Some(n), _) => vec![n.clone()],
            (None, Some(n)) => n.clone(),
            (None, None) => Vec::new(),
        };
        if let Some(ex) = &call.excludes {
            if ex.arches.iter().flatten().any(|a| a == go_arch) {
                continue;
            }
            if ex.caps.iter().flatten().any(|c| caps::contains(caps, c)) {
                continue;
            }
            if let Some(k) = &ex.min_kernel {
                if kernel_at_least(k)? {
                    continue;
                }
            }
        }
        if let Some(inc) = &call.includes {
            if let Some(arches) = &inc.arches {
                if !arches.is_empty() && !arches.iter().any(|a| a == go_arch) {
                    continue;
                }
            }
            for c in inc.caps.iter().flatten() {
                if !caps::contains(caps, c) {
                    continue 'rules;
                }
            }
            if let Some(k) = &inc.min_kernel {
                if !kernel_at_least(k)? {
                    continue;
                }
            }
        }
        let mut rule = json!({ "names": names, "action": call.action });
        if let Some(e) = call.errno_ret {
            rule["errnoRet"] = json!(e);
        }
        if let Some(args) = &call.args {
            let args: Vec<Value> = args.iter().map(convert_arg).collect();
            rule["args"] = Value::Array(args);
        }
        syscalls.push(rule);
    }

    let mut out = json!({
        "defaultAction": profile.default_action,
        "syscalls": syscalls,
    });
    if let Some(e) = profile.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    if !architectures.is_empty() {
        out["architectures"] = json!(architectures);
    }
    if let Some(flags) = &profile.flags {
        out["flags"] = json!(flags);
    }
    serde_json::from_value(out).map_err(|e| err(format!("unsupported value: {e}")))
}

/// One argument comparison. Docker/runc read `SCMP_CMP_MASKED_EQ` as
/// `(arg & value) == valueTwo`; libcontainer 0.7 hands libseccomp `valueTwo`
/// as the mask and `value` as the datum, so the two are swapped here to keep
/// Docker's meaning (otherwise `clone` would always be refused).
fn convert_arg(a: &Arg) -> Value {
    let (value, value_two) = if a.op == "SCMP_CMP_MASKED_EQ" {
        (a.value_two, a.value)
    } else {
        (a.value, a.value_two)
    };
    json!({ "index": a.index, "value": value, "valueTwo": value_two, "op": a.op })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_converts() {
        let caps = caps::tweak(&[], &[]).unwrap();
        let s = docker_default(&caps).unwrap();
        let calls = s.syscalls().as_ref().unwrap();
        let has = |n: &str| calls.iter().any(|c| c.names().iter().any(|x| x == n));
        assert!(has("read"));
        assert!(has("clone"));
        // CAP_SYS_ADMIN rules are left out without the capability.
        assert!(!has("mount"));
        assert!(has("chroot"));
        let with_admin = caps::tweak(&["SYS_ADMIN".into()], &[]).unwrap();
        let s = docker_default(&with_admin).unwrap();
        let calls = s.syscalls().as_ref().unwrap();
        assert!(calls.iter().any(|c| c.names().iter().any(|x| x == "mount")));
        if cfg!(target_arch = "x86_64") {
            assert_eq!(s.architectures().as_ref().unwrap().len(), 3);
        }
    }

    #[test]
    fn bad_profile_is_reported() {
        let e = convert("x.json", "{", &[]).unwrap_err().to_string();
        assert!(e.contains("x.json"), "{e}");
    }
}
