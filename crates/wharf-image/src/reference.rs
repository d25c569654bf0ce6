//! Image references with Docker's normalisation rules (`hello` is
//! `docker.io/library/hello:latest`).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

pub const DEFAULT_REGISTRY: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `docker.io`, `registry:5000`, `localhost`, ...
    pub registry: String,
    /// Path inside the registry, `library/hello` for official images.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`
    pub digest: Option<String>,
}

impl Reference {
    /// Docker's short form: `hello:1`, `ns/x:latest`, `registry:5000/ns/name:tag`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// The short name without tag or digest: `hello`, `registry:5000/ns/name`.
    pub fn familiar_name(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            if let Some(rest) = self.repository.strip_prefix("library/") {
                if !rest.contains('/') {
                    return rest.to_string();
                }
            }
            return self.repository.clone();
        }
        format!("{}/{}", self.registry, self.repository)
    }

    /// Fully qualified: `docker.io/library/hello:1`.
    pub fn full(&self) -> String {
        let mut s = format!("{}/{}", self.registry, self.repository);
        self.push_suffix(&mut s);
        s
    }

    /// The same repository with another tag. A digest is kept, as Docker does,
    /// so the result still pins the content.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar())
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Reference> {
        let err = |reason: &str| Error::InvalidReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(err(
                "it is empty; use a name like 'hello', 'hello:1' or 'registry:5000/ns/app:tag'",
            ));
        }
        if s.len() == 64 && is_lower_hex(s) {
            return Err(err(
                "a 64-character hex string is an image ID, not a name; use it where an ID is accepted",
            ));
        }

        let (rest, digest) = match s.split_once('@') {
            Some((name, digest)) => {
                if !is_sha256_digest(digest) {
                    return Err(err(
                        "the digest after '@' must be 'sha256:' followed by 64 lowercase hex characters",
                    ));
                }
                (name, Some(digest.to_string()))
            }
            None => (s, None),
        };

        // A ':' after the last '/' starts the tag; before it, it is a registry port.
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(i) if last_slash.is_none_or(|j| i > j) => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|r| err(&r))?;
        }
        if name.is_empty() {
            return Err(err("the repository name is empty"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(err("the repository name is longer than 255 characters"));
        }

        // Docker's rule: the first component is a registry if it looks like a
        // host (has '.' or ':'), is 'localhost', or has uppercase letters.
        let (registry, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                validate_registry(first).map_err(|r| err(&r))?;
                (first.to_string(), remainder)
            }
            _ => (DEFAULT_REGISTRY.to_string(), name),
        };
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        for component in path.split('/') {
            validate_component(component).map_err(|r| err(&r))?;
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// `sha256:` + 64 lowercase hex.
pub(crate) fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && is_lower_hex(hex))
}

pub(crate) fn is_lower_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn validate_tag(tag: &str) -> std::result::Result<(), String> {
    if tag.is_empty() {
        return Err("the tag after ':' is empty".into());
    }
    if tag.len() > MAX_TAG_LEN {
        return Err("the tag is longer than 128 characters".into());
    }
    let mut chars = tag.chars();
    let first = chars.next().unwrap_or('_');
    if !(first.is_ascii_alphanumeric() || first == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(format!(
            "tag '{tag}' may only contain letters, digits, '_', '.' and '-', and must not start with '.' or '-'"
        ));
    }
    Ok(())
}

fn validate_registry(host: &str) -> std::result::Result<(), String> {
    let (hostname, port) = if let Some(rest) = host.strip_prefix('[') {
        // IPv6 literal: [::1]:5000
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry '{host}' has an unclosed '['"))?;
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(format!("registry '{host}' is not a valid IPv6 address"));
        }
        match after {
            "" => return Ok(()),
            p => (
                "",
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("registry '{host}' is not host[:port]"))?,
                ),
            ),
        }
    } else {
        match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("registry '{host}' has an invalid port"));
        }
    }
    if !host.starts_with('[') {
        let ok = !hostname.is_empty()
            && hostname.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !ok {
            return Err(format!("registry '{host}' is not a valid host name"));
        }
    }
    Ok(())
}

/// A path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn validate_component(c: &str) -> std::result::Result<(), String> {
    if c.is_empty() {
        return Err(
            "the repository name has an empty path component ('//' or a trailing '/')".into(),
        );
    }
    if c.chars().any(|ch| ch.is_ascii_uppercase()) {
        return Err(format!("repository name component '{c}' must be lowercase"));
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bad = || {
        Err(format!(
            "repository name component '{c}' may only contain lowercase letters, digits and single '.', '_' or '__' or dashes between them"
        ))
    };
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return bad();
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return bad();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    #[allow(clippy::type_complexity)]
    fn parse_table() {
        // input, registry, repository, tag, digest, familiar, full
        let cases: Vec<(
            String,
            &str,
            &str,
            Option<&str>,
            Option<&str>,
            String,
            String,
        )> = vec![
            (
                "hello".into(),
                "docker.io",
                "library/hello",
                Some("latest"),
                None,
                "hello:latest".into(),
                "docker.io/library/hello:latest".into(),
            ),
            (
                "hello:1".into(),
                "docker.io",
                "library/hello",
                Some("1"),
                None,
                "hello:1".into(),
                "docker.io/library/hello:1".into(),
            ),
            (
                "ns/x".into(),
                "docker.io",
                "ns/x",
                Some("latest"),
                None,
                "ns/x:latest".into(),
                "docker.io/ns/x:latest".into(),
            ),
            (
                "docker.io/library/hello:1".into(),
                "docker.io",
                "library/hello",
                Some("1"),
                None,
                "hello:1".into(),
                "docker.io/library/hello:1".into(),
            ),
            (
                "index.docker.io/ns/x:2".into(),
                "docker.io",
                "ns/x",
                Some("2"),
                None,
                "ns/x:2".into(),
                "docker.io/ns/x:2".into(),
            ),
            (
                "registry:5000/ns/name:tag".into(),
                "registry:5000",
                "ns/name",
                Some("tag"),
                None,
                "registry:5000/ns/name:tag".into(),
                "registry:5000/ns/name:tag".into(),
            ),
            (
                "localhost/x".into(),
                "localhost",
                "x",
                Some("latest"),
                None,
                "localhost/x:latest".into(),
                "localhost/x:latest".into(),
            ),
            (
                "ghcr.io/a/b/c:v1.2-rc_3".into(),
                "ghcr.io",
                "a/b/c",
                Some("v1.2-rc_3"),
                None,
                "ghcr.io/a/b/c:v1.2-rc_3".into(),
                "ghcr.io/a/b/c:v1.2-rc_3".into(),
            ),
            (
                format!("name@{D}"),
                "docker.io",
                "library/name",
                None,
                Some(D),
                format!("name@{D}"),
                format!("docker.io/library/name@{D}"),
            ),
            (
                format!("name:tag@{D}"),
                "docker.io",
                "library/name",
                Some("tag"),
                Some(D),
                format!("name:tag@{D}"),
                format!("docker.io/library/name:tag@{D}"),
            ),
            (
                "localhost:5000/a__b.c-d--e:x".into(),
                "localhost:5000",
                "a__b.c-d--e",
                Some("x"),
                None,
                "localhost:5000/a__b.c-d--e:x".into(),
                "localhost:5000/a__b.c-d--e:x".into(),
            ),
            (
                "[::1]:5000/x:y".into(),
                "[::1]:5000",
                "x",
                Some("y"),
                None,
                "[::1]:5000/x:y".into(),
                "[::1]:5000/x:y".into(),
            ),
        ];
        for (input, registry, repository, tag, digest, familiar, full) in cases {
            let r: Reference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry, registry, "{input}");
            assert_eq!(r.repository, repository, "{input}");
            assert_eq!(r.tag.as_deref(), tag, "{input}");
            assert_eq!(r.digest.as_deref(), digest, "{input}");
            assert_eq!(r.familiar(), familiar, "{input}");
            assert_eq!(r.to_string(), familiar, "{input}");
            assert_eq!(r.full(), full, "{input}");
            // Both forms parse back to the same reference.
            assert_eq!(familiar.parse::<Reference>().unwrap(), r, "{input}");
            assert_eq!(full.parse::<Reference>().unwrap(), r, "{input}");
        }
    }

    #[test]
    fn familiar_name_and_with_tag() {
        let r: Reference = "hello:1".parse().unwrap();
        assert_eq!(r.familiar_name(), "hello");
        assert_eq!(r.with_tag("2").familiar(), "hello:2");
        let r: Reference = "registry:5000/ns/name".parse().unwrap();
        assert_eq!(r.familiar_name(), "registry:5000/ns/name");
        let r: Reference = "docker.io/library/a/b".parse().unwrap();
        assert_eq!(r.familiar_name(), "library/a/b");
    }

    #[test]
    fn rejects() {
        let long_tag = format!("x:{}", "a".repeat(129));
        let hex64 = "a".repeat(64);
        let bad = [
            "",
            "Hello",
            "ns/Hello",
            "hello:",
            "hello:-x",
            "hello:a/b",
            "hello:a b",
            long_tag.as_str(),
            "hello@sha256:abc",
            "hello@md5:0123",
            "a//b",
            "a/",
            "-a",
            "a..b",
            "a___b",
            "registry:port/x",
            hex64.as_str(),
            "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ];
        for input in bad {
            match input.parse::<Reference>() {
                Err(Error::InvalidReference { reference, reason }) => {
                    assert_eq!(reference, input);
                    assert!(!reason.is_empty());
                }
                other => panic!("{input:?} should be rejected, got {other:?}"),
            }
        }
        let msg = "Hello".parse::<Reference>().unwrap_err().to_string();
        assert!(msg.contains("lowercase"), "{msg}");
    }

    #[test]
    fn digest_helpers() {
        assert!(is_sha256_digest(D));
        assert!(!is_sha256_digest(&D.to_uppercase()));
        assert!(!is_sha256_digest("sha256:abc"));
    }
}
