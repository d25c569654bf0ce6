//! Wharf's OCI distribution client.
//!
//! Pulls images into the content store (`wharf-image`) and pushes them from
//! it, over the OCI distribution API, with Docker-compatible credentials
//! ([`auth`]). The transport is the `oci-client` crate (async, on reqwest);
//! a small tokio runtime lives inside [`Client`], so callers get a blocking
//! API. This crate writes blobs but never tags: making a pulled image visible
//! (after precompiling its Wasm module, read out of the layers with
//! [`layer_file`]) is the engine's job.
//!
//! Transport choice follows Docker: registries on loopback (`localhost`,
//! 127.0.0.0/8, `[::1]`) are spoken to over plain HTTP; others over HTTPS,
//! unless marked insecure (`--tls-verify=false` or listed in
//! `$WHARF_INSECURE_REGISTRIES`), in which case HTTPS without certificate
//! checks is tried first and plain HTTP after.

pub mod auth;
pub mod layer_file;
mod progress;
mod pull;
mod push;

use std::net::IpAddr;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_spec::image::{ImageIndex, ImageManifest};
use wharf_image::{media, Reference};

pub use auth::Credentials;
pub use pull::{PullObserver, PullOptions, Pulled};

/// Environment variable listing registries (host[:port], comma-separated)
/// that may be used without TLS verification.
pub const INSECURE_ENV: &str = "WHARF_INSECURE_REGISTRIES";

/// How deeply image indexes may nest (an index of indexes of ...) before a
/// pull or push refuses the reference.
const MAX_INDEX_DEPTH: usize = 4;
/// Layers pushed at the same time, per command.
const PARALLEL_BLOBS: usize = 3;
/// Blobs fetched at the same time, per pull (skopeo's default is 6). Their
/// writing and hashing runs on blocking threads, so more than one core helps.
const PARALLEL_PULLS: usize = 4;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "{reference}: not found in the registry ({detail}); check the repository name and tag"
    )]
    NotFound { reference: String, detail: String },

    #[error("{reference}: authentication failed ({detail}); log in with `wharf login {registry}`, or check the credentials stored for it")]
    Auth {
        reference: String,
        registry: String,
        detail: String,
    },

    #[error("{reference}: {detail}")]
    Transfer { reference: String, detail: String },

    #[error("{reference}: {what}: {source}")]
    Store {
        reference: String,
        what: String,
        #[source]
        source: Box<wharf_image::Error>,
    },

    #[error("{reference}: unsupported media type '{media_type}' for {what}; Wharf handles OCI and Docker v2 images and Wasm artifacts")]
    Unsupported {
        reference: String,
        media_type: String,
        what: String,
    },

    #[error("{reference}: {detail}")]
    Invalid { reference: String, detail: String },

    #[error("{0}")]
    Config(String),
}

impl Error {
    /// The user's mistake rather than the registry's or the network's.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to talk to a registry.
#[derive(Debug, Clone)]
pub struct Options {
    /// false: accept self-signed certificates and fall back to plain HTTP.
    pub tls_verify: bool,
    /// Progress bars on stderr (shown only when stderr is a terminal).
    pub progress: bool,
    /// Use these instead of the stored credentials (for `login`).
    pub credentials: Option<Credentials>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls_verify: true,
            progress: true,
            credentials: None,
        }
    }
}

/// A connection to one registry.
pub struct Client {
    rt: tokio::runtime::Runtime,
    oci: oci_client::Client,
    http: reqwest::Client,
    /// host[:port] as in the reference (`docker.io` for Docker Hub).
    registry: String,
    scheme: &'static str,
    auth: RegistryAuth,
    progress: progress::Progress,
}

/// Whether `registry` (host[:port]) is on this machine's loopback.
pub fn is_loopback(registry: &str) -> bool {
    let host = host_of(registry);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of host[:port], without IPv6 brackets.
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

fn listed_insecure(registry: &str) -> bool {
    std::env::var(INSECURE_ENV).is_ok_and(|v| {
        v.split(',')
            .map(auth::normalize_server)
            .any(|r| r == registry || (!r.contains(':') && r == host_of(registry)))
    })
}

/// The host that serves the API (Docker Hub's differs from its name).
fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    }
}

/// Makes ring the process's TLS crypto provider (once; see Cargo.toml for
/// why not aws-lc). reqwest and oci-client build their TLS configs from it.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means a provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Client {
    pub fn new(registry: &str, opts: &Options) -> Result<Client> {
        install_crypto_provider();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the network runtime: {e}")))?;
        let insecure = !opts.tls_verify || listed_insecure(registry);
        let http = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(insecure)
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("cannot set up HTTP: {e}")))?;
        let scheme = if is_loopback(registry) {
            "http"
        } else if insecure {
            // Docker's rule for insecure registries: HTTPS without
            // verification if it answers, else plain HTTP.
            let url = format!("https://{}/v2/", api_host(registry));
            // The response is dropped inside the runtime: its timers need it.
            if rt.block_on(async { http.get(&url).send().await.is_ok() }) {
                "https"
            } else {
                "http"
            }
        } else {
            "https"
        };
        let config = ClientConfig {
            protocol: if scheme == "http" {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: insecure,
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("wharf/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let oci = oci_client::Client::try_from(config)
            .map_err(|e| Error::Config(format!("cannot set up the registry client: {e}")))?;
        let creds = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => auth::lookup(registry)?,
        };
        let auth = match creds {
            Some(c) => RegistryAuth::Basic(c.username, c.password),
            None => RegistryAuth::Anonymous,
        };
        Ok(Client {
            rt,
            oci,
            http,
            registry: registry.to_string(),
            scheme,
            auth,
            progress: progress::Progress::new(opts.progress),
        })
    }

    /// For the repository of `r` on this registry, pinned to `tag_or_digest`.
    fn oci_ref(&self, r: &Reference, tag_or_digest: &str) -> oci_client::Reference {
        if tag_or_digest.starts_with("sha256:") {
            oci_client::Reference::with_digest(
                self.registry.clone(),
                r.repository.clone(),
                tag_or_digest.to_string(),
            )
        } else {
            oci_client::Reference::with_tag(
                self.registry.clone(),
                r.repository.clone(),
                tag_or_digest.to_string(),
            )
        }
    }

    /// Checks credentials against the registry the way `docker login` does:
    /// `GET /v2/`, then the challenge it answers with (basic, or a token
    /// request for bearer registries).
    pub fn verify_login(&self) -> Result<()> {
        let (user, pass) = match &self.auth {
            RegistryAuth::Basic(u, p) => (u.clone(), p.clone()),
            _ => return Err(Error::Config("login needs a user name and password".into())),
        };
        let url = format!("{}://{}/v2/", self.scheme, api_host(&self.registry));
        let shown = self.registry.clone();
        let transfer = |e: reqwest::Error| Error::Transfer {
            reference: shown.clone(),
            detail: format!("cannot reach the registry at {url}: {e}"),
        };
        let auth_failed = |detail: String| Error::Auth {
            reference: shown.clone(),
            registry: shown.clone(),
            detail,
        };
        self.rt.block_on(async {
            let res = self.http.get(&url).send().await.map_err(transfer)?;
            if res.status().is_success() {
                return Ok(());
            }
            if res.status() != reqwest::StatusCode::UNAUTHORIZED {
                return Err(Error::Transfer {
                    reference: shown.clone(),
                    detail: format!("{url} answered {}", res.status()),
                });
            }
            let challenge = res
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string();
            let check = if challenge.to_ascii_lowercase().starts_with("bearer") {
                let param = |name: &str| {
                    challenge.split(',').find_map(|kv| {
                        let kv = kv.trim().trim_start_matches("Bearer ").trim();
                        let (k, v) = kv.split_once('=')?;
                        (k.trim().eq_ignore_ascii_case(name))
                            .then(|| v.trim().trim_matches('"').to_string())
                    })
                };
                let realm = param("realm").ok_or_else(|| {
                    auth_failed(format!(
                        "the registry's challenge has no realm: {challenge}"
                    ))
                })?;
                let mut query = vec![("account", user.clone())];
                if let Some(service) = param("service") {
                    query.push(("service", service));
                }
                self.http
                    .get(&realm)
                    .query(&query)
                    .basic_auth(&user, Some(&pass))
            } else {
                self.http.get(&url).basic_auth(&user, Some(&pass))
            };
            let res = check.send().await.map_err(transfer)?;
            if res.status().is_success() {
                Ok(())
            } else {
                Err(auth_failed(format!(
                    "the registry refused user '{user}': {}",
                    res.status()
                )))
            }
        })
    }

    /// Maps an oci-client error into ours, naming `reference`.
    fn map_err(&self, reference: &str, e: OciDistributionError) -> Error {
        let reference = reference.to_string();
        let auth = |detail: String| Error::Auth {
            reference: reference.clone(),
            registry: self.registry.clone(),
            detail,
        };
        match e {
            OciDistributionError::AuthenticationFailure(d) => auth(d.trim().to_string()),
            OciDistributionError::UnauthorizedError { .. } => {
                auth("the registry answered 401 Unauthorized".into())
            }
            OciDistributionError::ImageManifestNotFoundError(d) => Error::NotFound {
                reference,
                detail: d,
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let detail = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}: {}", e.code, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    Error::NotFound { reference, detail }
                } else if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    auth(detail)
                } else {
                    Error::Transfer { reference, detail }
                }
            }
            OciDistributionError::ServerError { code: 404, url, .. } => Error::NotFound {
                reference,
                detail: format!("{url} answered 404"),
            },
            OciDistributionError::ServerError {
                code: 401 | 403,
                url,
                ..
            } => auth(format!("{url} refused access")),
            OciDistributionError::RequestError(e)
                if matches!(e.status().map(|s| s.as_u16()), Some(401 | 403)) =>
            {
                auth(format!(
                    "the registry answered {}",
                    e.status().expect("checked")
                ))
            }
            OciDistributionError::RequestError(e)
                if e.status().map(|s| s.as_u16()) == Some(404) =>
            {
                Error::NotFound {
                    reference,
                    detail: "the registry answered 404 Not Found".into(),
                }
            }
            OciDistributionError::RequestError(e) => Error::Transfer {
                reference,
                detail: format!(
                    "cannot talk to the registry {} over {}: {}",
                    self.registry,
                    self.scheme.to_uppercase(),
                    error_chain(&e)
                ),
            },
            other => Error::Transfer {
                reference,
                detail: format!("registry error: {other}"),
            },
        }
    }
}

/// An error and its causes on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// Parses the image index `digest` found `depth` indexes deep (0 for the
/// one a reference names), refusing indexes nested beyond
/// [`MAX_INDEX_DEPTH`] so a registry cannot make a pull or push recurse
/// without end.
pub(crate) fn parse_index(
    bytes: &[u8],
    digest: &str,
    depth: usize,
    shown: &str,
) -> Result<ImageIndex> {
    if depth > MAX_INDEX_DEPTH {
        return Err(Error::Invalid {
            reference: shown.to_string(),
            detail: "its indexes are nested too deeply".into(),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| Error::Invalid {
        reference: shown.to_string(),
        detail: format!("the image index {digest} is not valid: {e}"),
    })
}

/// Parses the image manifest `digest`.
pub(crate) fn parse_manifest(bytes: &[u8], digest: &str, shown: &str) -> Result<ImageManifest> {
    serde_json::from_slice(bytes).map_err(|e| Error::Invalid {
        reference: shown.to_string(),
        detail: format!("manifest {digest} is not valid: {e}"),
    })
}

/// The media type of a manifest or index, from its `mediaType` or, when
/// absent (OCI allows that), from its shape.
pub(crate) fn manifest_media_type(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return Some(mt.to_string());
    }
    if v.get("manifests").is_some() {
        Some(media::OCI_INDEX.to_string())
    } else if v.get("config").is_some() {
        Some(media::OCI_MANIFEST.to_string())
    } else {
        None
    }
}

/// Downloads `url` (http or https, redirects followed) into `dest`, for
/// `ADD <url>` in builds; returns the bytes written. The same HTTP client
/// and TLS setup as registry transfers.
pub fn download(url: &str, dest: &mut dyn std::io::Write) -> Result<u64> {
    install_crypto_provider();
    let fail = |detail: String| Error::Transfer {
        reference: url.to_string(),
        detail,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the network runtime: {e}")))?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Config(format!("cannot set up HTTP: {e}")))?;
    rt.block_on(async {
        let mut res = http
            .get(url)
            .send()
            .await
            .map_err(|e| fail(format!("cannot download: {e}")))?;
        if !res.status().is_success() {
            return Err(fail(format!(
                "the server answered {}; check the URL",
                res.status()
            )));
        }
        let mut written = 0;
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| fail(format!("download cut short: {e}")))?
        {
            dest.write_all(&chunk)
                .map_err(|e| fail(format!("cannot write the download: {e}")))?;
            written += chunk.len() as u64;
        }
        Ok(written)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback() {
        for r in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.9.9.9",
            "[::1]:5000",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["docker.io", "ghcr.io", "10.0.0.1:5000", "registry:5000"] {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn media_type_from_shape() {
        assert_eq!(
            manifest_media_type(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
            media::OCI_INDEX
        );
        assert_eq!(
            manifest_media_type(br#"{"schemaVersion":2,"config":{},"layers":[]}"#).unwrap(),
            media::OCI_MANIFEST
        );
        assert_eq!(manifest_media_type(br#"{"mediaType":"x"}"#).unwrap(), "x");
    }
}
