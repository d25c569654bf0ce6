//! Platforms (`os/arch[/variant]`) and how an index entry is picked for one.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A target platform, in Go's GOOS/GOARCH vocabulary like OCI indexes use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

const WASI_OSES: [&str; 3] = ["wasi", "wasip1", "wasip2"];

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// The platform Linux containers run on here.
    pub fn host() -> Platform {
        Platform::new("linux", host_arch(), None)
    }

    pub fn is_wasm(&self) -> bool {
        self.architecture == "wasm"
    }

    /// Whether an image for `os/arch[/variant]` can serve a request for `self`.
    /// A request without a variant accepts any; `wasi` accepts every WASI
    /// flavour and `wasip1` also accepts the older `wasi` name.
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        let os_ok = self.os == os
            || (self.is_wasm()
                && WASI_OSES.contains(&os)
                && (self.os == "wasi" || (self.os == "wasip1" && os == "wasi")));
        if !os_ok || normalize_arch(arch) != self.architecture {
            return false;
        }
        match (self.variant.as_deref(), variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => default_variant(&self.architecture) == Some(want),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = Error;

    fn from_str(s: &str) -> Result<Platform> {
        let err = |reason: &str| Error::InvalidPlatform {
            platform: s.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(err("expected two or three '/'-separated parts"));
        }
        let valid = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !parts.iter().all(|p| valid(p)) {
            return Err(err(
                "each part must be non-empty lowercase letters and digits",
            ));
        }
        let os = parts[0];
        let arch = normalize_arch(parts[1]);
        let wasi_os = WASI_OSES.contains(&os);
        if wasi_os != (arch == "wasm") {
            return Err(err(
                "WASI operating systems (wasi, wasip1, wasip2) go with the 'wasm' architecture and only with it",
            ));
        }
        Ok(Platform::new(os, arch, parts.get(2).copied()))
    }
}

/// Go's name for the architecture this binary was built for.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}

fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for (input, os, arch, variant, shown) in [
            ("linux/amd64", "linux", "amd64", None, "linux/amd64"),
            ("wasi/wasm", "wasi", "wasm", None, "wasi/wasm"),
            ("wasip1/wasm", "wasip1", "wasm", None, "wasip1/wasm"),
            ("wasip2/wasm", "wasip2", "wasm", None, "wasip2/wasm"),
            (
                "linux/arm64/v8",
                "linux",
                "arm64",
                Some("v8"),
                "linux/arm64/v8",
            ),
            ("linux/x86_64", "linux", "amd64", None, "linux/amd64"),
        ] {
            let p: Platform = input.parse().unwrap();
            assert_eq!(p, Platform::new(os, arch, variant), "{input}");
            assert_eq!(p.to_string(), shown);
        }
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "Linux/amd64",
            "wasi/amd64",
            "linux/wasm",
        ] {
            assert!(
                matches!(bad.parse::<Platform>(), Err(Error::InvalidPlatform { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn host_is_linux() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        assert!(!h.is_wasm());
        assert!(!h.architecture.is_empty());
        #[cfg(target_arch = "x86_64")]
        assert_eq!(h.architecture, "amd64");
        #[cfg(target_arch = "aarch64")]
        assert_eq!(h.architecture, "arm64");
    }

    #[test]
    fn matching() {
        let amd: Platform = "linux/amd64".parse().unwrap();
        assert!(amd.matches("linux", "amd64", None));
        assert!(amd.matches("linux", "amd64", Some("v3")));
        assert!(!amd.matches("linux", "arm64", None));
        assert!(!amd.matches("windows", "amd64", None));

        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(arm.matches("linux", "arm64", Some("v8")));
        assert!(arm.matches("linux", "arm64", None));
        assert!(!arm.matches("linux", "arm64", Some("v9")));

        let wasi: Platform = "wasi/wasm".parse().unwrap();
        assert!(wasi.is_wasm());
        for os in ["wasi", "wasip1", "wasip2"] {
            assert!(wasi.matches(os, "wasm", None), "{os}");
        }
        assert!(!wasi.matches("linux", "amd64", None));
        let p2: Platform = "wasip2/wasm".parse().unwrap();
        assert!(p2.matches("wasip2", "wasm", None));
        assert!(!p2.matches("wasip1", "wasm", None));
        let p1: Platform = "wasip1/wasm".parse().unwrap();
        assert!(p1.matches("wasi", "wasm", None));
        assert!(!p1.matches("wasip2", "wasm", None));
    }
}
