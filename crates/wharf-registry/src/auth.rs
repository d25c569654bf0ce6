//! Credentials in Docker's `config.json` (`auths` → base64 `user:password`),
//! so logins made with `docker login` work and ours work for Docker.
//!
//! The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//! Keys Wharf does not understand (credsStore, proxies, ...) are kept as they
//! are when it rewrites the file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::{Error, Result};

/// The key Docker files Docker Hub credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ****)", self.username)
    }
}

/// Where credentials are read from and written to.
pub fn config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker").join("config.json")
}

/// The host[:port] a config key or a user's server argument names:
/// `https://index.docker.io/v1/` → `docker.io`, `http://r:5000/x` → `r:5000`.
pub fn normalize_server(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "" => "docker.io".to_string(),
        _ => host,
    }
}

fn key_for(registry: &str) -> String {
    if registry == "docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

fn read_config() -> Result<Map<String, Value>> {
    let path = config_path();
    match fs::read(&path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(Error::Config(format!(
                "{} is not a JSON object; fix or remove it",
                path.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(Error::Config(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn write_config(config: &Map<String, Value>) -> Result<()> {
    let path = config_path();
    let err = |what: &str, e: std::io::Error| {
        Error::Config(format!("cannot {what} {}: {e}", path.display()))
    };
    let dir = path.parent().expect("config path has a parent");
    fs::create_dir_all(dir).map_err(|e| err("create the directory of", e))?;
    let tmp = dir.join(format!(".config.json.tmp.{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(config).expect("serialising a JSON map");
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| err("write", e))
}

/// The credentials stored for `registry` (host[:port], Docker Hub as
/// `docker.io`), if any.
pub fn lookup(registry: &str) -> Result<Option<Credentials>> {
    let config = read_config()?;
    let Some(Value::Object(auths)) = config.get("auths") else {
        return Ok(None);
    };
    let want = normalize_server(registry);
    for (key, entry) in auths {
        if normalize_server(key) != want {
            continue;
        }
        if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
            if auth.is_empty() {
                continue;
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    Error::Config(format!(
                        "the credentials for {key} in {} are not valid base64 'user:password'; log in again",
                        config_path().display()
                    ))
                })?;
            let (user, pass) = decoded.split_once(':').ok_or_else(|| {
                Error::Config(format!(
                    "the credentials for {key} in {} are not 'user:password'; log in again",
                    config_path().display()
                ))
            })?;
            return Ok(Some(Credentials {
                username: user.to_string(),
                password: pass.to_string(),
            }));
        }
        if let (Some(u), Some(p)) = (
            entry.get("username").and_then(Value::as_str),
            entry.get("password").and_then(Value::as_str),
        ) {
            return Ok(Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }));
        }
    }
    Ok(None)
}

/// Stores credentials for `registry` (atomically, mode 0600).
pub fn store(registry: &str, creds: &Credentials) -> Result<()> {
    let mut config = read_config()?;
    let registry = normalize_server(registry);
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    let auths = auths.as_object_mut().expect("just made an object");
    // One entry per registry: drop other spellings of the same server.
    auths.retain(|k, _| normalize_server(k) != registry);
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", creds.username, creds.password));
    auths.insert(key_for(&registry), serde_json::json!({ "auth": auth }));
    write_config(&config)
}

/// Removes the credentials for `registry`; false if there were none.
pub fn remove(registry: &str) -> Result<bool> {
    let mut config = read_config()?;
    let registry = normalize_server(registry);
    let Some(Value::Object(auths)) = config.get_mut("auths") else {
        return Ok(false);
    };
    let before = auths.len();
    auths.retain(|k, _| normalize_server(k) != registry);
    if auths.len() == before {
        return Ok(false);
    }
    write_config(&config)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert_eq!(normalize_server("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_server("docker.io"), "docker.io");
        assert_eq!(normalize_server("http://r:5000/v2/"), "r:5000");
        assert_eq!(normalize_server("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(normalize_server("GHCR.io"), "ghcr.io");
    }

    #[test]
    fn store_lookup_remove() {
        let dir = tempfile::tempdir().unwrap();
        // Tests in this crate that touch DOCKER_CONFIG run in this one test only.
        std::env::set_var("DOCKER_CONFIG", dir.path());
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"}},"credsStore":"x"}"#,
        )
        .unwrap();
        let hub = lookup("docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("user", "pass")
        );
        assert!(lookup("r:5000").unwrap().is_none());
        let c = Credentials {
            username: "u".into(),
            password: "p:w".into(),
        };
        store("r:5000", &c).unwrap();
        assert_eq!(lookup("http://r:5000").unwrap(), Some(c));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["credsStore"], "x");
        assert!(remove("r:5000").unwrap());
        assert!(!remove("r:5000").unwrap());
        assert!(lookup("r:5000").unwrap().is_none());
        assert!(lookup("docker.io").unwrap().is_some());
    }
}
