//! `wharf import`: a root filesystem tarball (plain, gzip or zstd) becomes a
//! one-layer image, as `docker import` makes one. The tarball is stored as
//! it came (its compression names the layer's media type) while one pass
//! over it checks that it is a tar and hashes the uncompressed stream for
//! the diff_id; `--change` lines (Dockerfile syntax) set the config. The
//! image is tagged only after its layer unpacked cleanly, inside the
//! store's transaction: bad input leaves the store as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::str::FromStr;

use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use wharf_build::dockerfile::{self, Command, CommandForm, Instruction};
use wharf_image::media::{self, Compression};
use wharf_image::{BlobWriter, Descriptor, Platform, Reference};

use crate::{Engine, Error, Result};

/// What `wharf import` was asked for, besides the tarball.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `--change` lines, applied in order.
    pub changes: Vec<String>,
    /// The image's platform; the host's Linux platform when `None`.
    pub platform: Option<Platform>,
    /// `-m`: the history entry's comment.
    pub message: Option<String>,
    /// Where the tarball came from ("-" for stdin), for the default comment
    /// and for messages.
    pub source: String,
}

/// What `wharf import` made.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The image id: the config's digest (`sha256:...`), as Docker prints it.
    pub id: String,
    pub manifest_digest: String,
    /// The name it was tagged with, if one was given.
    pub tag: Option<String>,
}

/// The instructions `docker import --change` accepts that Wharf applies.
/// Docker also takes HEALTHCHECK and ONBUILD, which Wharf's images do not
/// carry.
const ALLOWED: &str = "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR";

impl Engine {
    /// Imports the tarball `input` as a one-layer image, tagged `reference`
    /// when given (else an untagged `<none>` image). Everything is checked
    /// before the store changes: the name and the changes first, then the
    /// tarball as it streams in; on any failure what was written is removed.
    pub fn import(
        &self,
        input: impl Read,
        reference: Option<&str>,
        opts: &ImportOptions,
    ) -> Result<Imported> {
        let reference = reference
            .map(|r| r.parse::<Reference>().map_err(Error::from))
            .transpose()?;
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let mut config = ImageConfig::default();
        for change in &opts.changes {
            config.apply(&parse_change(change)?, platform.is_wasm(), change)?;
        }
        let lock = self.store.lock()?;
        self.transaction(&lock, || {
            let layer = self.ingest_layer(input, &opts.source)?;
            let created = wharf_image::fsutil::rfc3339_nano(std::time::SystemTime::now());
            let comment = opts
                .message
                .clone()
                .unwrap_or_else(|| format!("Imported from {}", opts.source));
            let config_json = config.to_json(&platform, &layer.diff_id, &created, &comment);
            let config_bytes = serde_json::to_vec(&config_json).expect("serialising JSON");
            let (config_digest, config_size) = self.store.put_blob(&config_bytes)?;
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_MANIFEST,
                "config": {
                    "mediaType": media::OCI_CONFIG,
                    "digest": config_digest,
                    "size": config_size,
                },
                "layers": [{
                    "mediaType": layer.media_type,
                    "digest": layer.digest,
                    "size": layer.size,
                }],
            });
            let manifest_bytes = serde_json::to_vec(&manifest).expect("serialising JSON");
            let (manifest_digest, manifest_size) = self.store.put_blob(&manifest_bytes)?;
            let desc = Descriptor::new(
                oci_spec::image::MediaType::ImageManifest,
                manifest_size,
                oci_spec::image::Digest::from_str(&manifest_digest).map_err(|e| {
                    Error::Corrupt(format!("manifest digest {manifest_digest}: {e}"))
                })?,
            );
            // Unpacking checks every entry (no devices, no escapes) and the
            // diff_id; for a Wasm platform the module is compiled too.
            for image in self.images_at(&desc)? {
                self.ready_image(&image)?;
            }
            match &reference {
                Some(r) => self.store.tag(&lock, r, &desc)?,
                None => self.add_untagged(&lock, &desc)?,
            }
            Ok(Imported {
                id: config_digest,
                manifest_digest,
                tag: reference.as_ref().map(Reference::familiar),
            })
        })
        .inspect(|imported| {
            let name = imported.tag.clone().map(|t| ("name", t));
            self.event("image", "import", &imported.id, name);
        })
    }

    /// Streams the tarball into a blob as it came, checking it is a tar and
    /// hashing its uncompressed bytes on the way.
    fn ingest_layer(&self, input: impl Read, source: &str) -> Result<Layer> {
        let mut input = BufReader::with_capacity(256 * 1024, input);
        let head = input
            .fill_buf()
            .map_err(|e| Error::io(format!("cannot read {}", shown(source)), e))?;
        if head.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{} is empty; {EXPECTED}",
                shown(source)
            )));
        }
        let compression = Compression::from_magic(head);
        let mut blob = self.store.blob_writer()?;
        let tee = Tee {
            inner: input,
            copy: &mut blob,
        };
        let decompressed = media::decompress(tee, Some(compression)).map_err(|e| {
            Error::InvalidArgument(format!(
                "{}: cannot start zstd decompression: {e}",
                shown(source)
            ))
        })?;
        let (entries, diff_id) =
            hash_tar(decompressed).map_err(|e| e.into_error(source, compression))?;
        if entries == 0 {
            return Err(Error::InvalidArgument(format!(
                "{} is an empty tar archive: it holds no files; {EXPECTED}",
                shown(source)
            )));
        }
        let (digest, size) = blob.commit(None)?;
        Ok(Layer {
            media_type: compression.oci_layer_media_type(),
            digest,
            size,
            diff_id,
        })
    }
}

const EXPECTED: &str = "expected a tar archive of a root filesystem (plain, gzip or zstd), \
     e.g. made with `tar -C ROOTFS -c .`";

fn shown(source: &str) -> String {
    if source == "-" {
        "the input on stdin".to_string()
    } else {
        source.to_string()
    }
}

/// The layer blob written.
struct Layer {
    media_type: &'static str,
    digest: String,
    size: u64,
    diff_id: String,
}

/// Copies every byte read from `inner` into the layer blob.
struct Tee<'a, R> {
    inner: R,
    copy: &'a mut BlobWriter,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Hashes what is read through it: the uncompressed tar, for the diff_id.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

// ---------------------------------------------------------------- the tar walk

/// Why the stream is not a whole tar archive.
#[derive(Debug)]
enum TarError {
    /// The first block is not a tar header.
    NotTar(String),
    /// A later header is damaged, or the archive ends inside an entry.
    Corrupt {
        entry: String,
        problem: String,
    },
    Read(io::Error),
}

impl TarError {
    fn into_error(self, source: &str, compression: Compression) -> Error {
        let what = shown(source);
        let packed = match compression {
            Compression::None => "",
            Compression::Gzip => " (after gzip decompression)",
            Compression::Zstd => " (after zstd decompression)",
        };
        match self {
            TarError::NotTar(why) => Error::InvalidArgument(format!(
                "{what} is not a tar archive{packed}: {why}; {EXPECTED}"
            )),
            TarError::Corrupt { entry, problem } => Error::InvalidArgument(format!(
                "{what} is a damaged tar archive{packed}: {problem} at entry {entry:?}; make the tarball again"
            )),
            TarError::Read(e) => Error::InvalidArgument(format!(
                "cannot read {what}{packed}: {e}; the file is truncated or is not what it claims to be"
            )),
        }
    }
}

/// Walks the whole uncompressed stream: the number of entries and the
/// diff_id (the digest of every byte, the padding after the end-of-archive
/// blocks included).
fn hash_tar(reader: impl Read) -> std::result::Result<(u64, String), TarError> {
    let mut hashing = Hashing {
        inner: reader,
        hasher: Sha256::new(),
    };
    let entries = walk_tar(&mut hashing)?;
    io::copy(&mut hashing, &mut io::sink()).map_err(TarError::Read)?;
    let digest = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
    Ok((entries, digest))
}

const BLOCK: usize = 512;
/// A pax extended header larger than this is not a header anyone writes.
const MAX_PAX: u64 = 1 << 20;

/// Reads `buf` full; the number of bytes read (short only at end of input).
fn read_block(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Walks the archive's headers, skipping each entry's data, up to the
/// end-of-archive block; returns the number of entries (file, directory,
/// link...; the pax and GNU long-name records that describe them are not
/// counted). Validation is structural (header checksums, sizes, nothing cut
/// short); what the entries may be is the unpacker's to decide.
fn walk_tar(r: &mut impl Read) -> std::result::Result<u64, TarError> {
    let mut header = [0u8; BLOCK];
    let mut entries = 0u64;
    let mut first = true;
    let mut last_name = String::from("<start of archive>");
    let mut pax_size: Option<u64> = None;
    loop {
        let n = read_block(r, &mut header).map_err(|e| {
            if first {
                TarError::NotTar(e.to_string())
            } else {
                TarError::Read(e)
            }
        })?;
        if n < BLOCK {
            return Err(match (first, n) {
                (true, _) => TarError::NotTar(format!(
                    "it is {n} bytes long, shorter than one tar header (512 bytes)"
                )),
                (false, _) => TarError::Corrupt {
                    entry: last_name,
                    problem: "the archive ends without its end-of-archive blocks (truncated)"
                        .into(),
                },
            });
        }
        if header.iter().all(|b| *b == 0) {
            if first {
                return Ok(0);
            }
            return Ok(entries);
        }
        if !checksum_ok(&header) {
            return Err(if first {
                TarError::NotTar("its first block is not a tar header (bad checksum)".into())
            } else {
                TarError::Corrupt {
                    entry: last_name,
                    problem: "the header after this entry has a bad checksum".into(),
                }
            });
        }
        first = false;
        let name = header_name(&header);
        let kind = header[156];
        let size = match pax_size.take() {
            // A pax `size` overrides the header's field (files past 8 GiB).
            Some(s) if !matches!(kind, b'x' | b'g') => s,
            _ => field_size(&header[124..136]).ok_or_else(|| TarError::Corrupt {
                entry: name.clone(),
                problem: "its size field is not a number".into(),
            })?,
        };
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        match kind {
            b'x' if size <= MAX_PAX => {
                let mut data = vec![0u8; padded as usize];
                let got = read_block(r, &mut data).map_err(TarError::Read)?;
                if got < data.len() {
                    return Err(truncated(name));
                }
                pax_size = pax_record(&data[..size as usize], "size").and_then(|v| v.parse().ok());
                continue;
            }
            // GNU long names and links, global pax headers: records about
            // other entries, skipped like data.
            b'L' | b'K' | b'g' | b'x' => {}
            _ => {
                entries += 1;
                last_name = name.clone();
            }
        }
        let skipped =
            io::copy(&mut r.by_ref().take(padded), &mut io::sink()).map_err(TarError::Read)?;
        if skipped < padded {
            return Err(truncated(name));
        }
    }
}

fn truncated(entry: String) -> TarError {
    TarError::Corrupt {
        entry,
        problem: "the archive ends inside this entry's data (truncated)".into(),
    }
}

/// The header checksum (bytes 148..156, octal) against the sum of the
/// header's bytes with that field counted as spaces; old tars summed signed
/// bytes, so either sum is accepted, as GNU tar does.
fn checksum_ok(h: &[u8; BLOCK]) -> bool {
    let Some(declared) = octal(&h[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    declared == unsigned || i64::try_from(declared).is_ok_and(|d| d == signed)
}

/// An octal numeric field: digits padded with spaces or NULs.
fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

/// The size field: octal, or GNU's base-256 (high bit set) for large files.
fn field_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    octal(field)
}

/// The entry's path for messages: ustar prefix + name.
fn header_name(h: &[u8; BLOCK]) -> String {
    let cstr = |b: &[u8]| {
        let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    };
    let name = cstr(&h[0..100]);
    let prefix = if &h[257..262] == b"ustar" {
        cstr(&h[345..500])
    } else {
        String::new()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// The value of `key` in pax records (`LEN key=value\n`...).
fn pax_record(mut data: &[u8], key: &str) -> Option<String> {
    let mut found = None;
    while !data.is_empty() {
        let space = data.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..space]).ok()?.parse().ok()?;
        if len <= space || len > data.len() {
            return None;
        }
        let record = &data[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|b| *b == b'=') {
            if &record[..eq] == key.as_bytes() {
                found = Some(String::from_utf8_lossy(&record[eq + 1..]).into_owned());
            }
        }
        data = &data[len..];
    }
    found
}

// ---------------------------------------------------------------- --change

/// One `--change` line as a Dockerfile instruction, refused unless it is
/// one that only sets configuration.
fn parse_change(text: &str) -> Result<Instruction> {
    let bad = |why: String| Error::InvalidArgument(format!("--change {text:?}: {why}"));
    let keyword = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    match keyword.as_str() {
        "" => return Err(bad(format!("empty; give an instruction, one of {ALLOWED}"))),
        "HEALTHCHECK" | "ONBUILD" => {
            return Err(bad(format!(
                "{keyword} is not supported by wharf import; the instructions it applies are {ALLOWED}"
            )))
        }
        "CMD" | "ENTRYPOINT" | "ENV" | "EXPOSE" | "LABEL" | "STOPSIGNAL" | "USER" | "VOLUME"
        | "WORKDIR" => {}
        "FROM" | "RUN" | "COPY" | "ADD" | "ARG" | "SHELL" | "MAINTAINER" => {
            return Err(bad(format!(
                "{keyword} cannot be used with import: a change only sets the image's configuration, \
                 with one of {ALLOWED}; build on the imported image with a Dockerfile for the rest"
            )))
        }
        other => {
            return Err(bad(format!(
                "'{other}' is not an instruction wharf import applies; use one of {ALLOWED}, \
                 in Dockerfile syntax, e.g. --change 'CMD [\"/bin/sh\"]'"
            )))
        }
    }
    let mut parsed = dockerfile::parse(text).map_err(|e| match e {
        wharf_build::Error::Parse { message, .. } => bad(message),
        other => bad(other.to_string()),
    })?;
    if parsed.len() != 1 {
        return Err(bad(format!(
            "it holds {} instructions; give each with its own --change",
            parsed.len()
        )));
    }
    Ok(parsed.remove(0))
}

/// The image config the changes build, starting from Docker's empty one.
#[derive(Debug, Default)]
struct ImageConfig {
    env: Vec<(String, String)>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    cmd_set: bool,
    workdir: String,
    user: String,
    labels: BTreeMap<String, String>,
    exposed: BTreeSet<String>,
    volumes: BTreeSet<String>,
    stop_signal: Option<String>,
}

impl ImageConfig {
    fn lookup(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn subst(&self, text: &str, raw: &str) -> Result<String> {
        dockerfile::substitute(raw, &|k| self.lookup(k))
            .map_err(|e| Error::InvalidArgument(format!("--change {text:?}: {e}")))
    }

    fn subst_words(&self, text: &str, raw: &str) -> Result<Vec<String>> {
        dockerfile::substitute_words(raw, &|k| self.lookup(k))
            .map_err(|e| Error::InvalidArgument(format!("--change {text:?}: {e}")))
    }

    /// Applies one change as `docker build` would apply the instruction
    /// (ENV values substituted into later changes; ENTRYPOINT clears a CMD
    /// not set by an earlier change), without touching the filesystem:
    /// WORKDIR names a directory, it does not make one.
    fn apply(&mut self, ins: &Instruction, wasm: bool, text: &str) -> Result<()> {
        let bad = |why: String| Error::InvalidArgument(format!("--change {text:?}: {why}"));
        match &ins.command {
            Command::Env(pairs) => {
                for (k, v) in pairs {
                    let (k, v) = (self.subst(text, k)?, self.subst(text, v)?);
                    self.env.retain(|(n, _)| *n != k);
                    self.env.push((k, v));
                }
            }
            Command::Label(pairs) => {
                for (k, v) in pairs {
                    let (k, v) = (self.subst(text, k)?, self.subst(text, v)?);
                    self.labels.insert(k, v);
                }
            }
            Command::Workdir(raw) => {
                let dir = self.subst(text, raw)?;
                let joined = if dir.starts_with('/') {
                    dir
                } else {
                    format!("{}/{dir}", self.workdir)
                };
                self.workdir = normalize_path(&joined);
            }
            Command::User(raw) => self.user = self.subst(text, raw)?,
            Command::Expose(raw) => {
                for p in self.subst_words(text, raw)? {
                    self.exposed
                        .insert(dockerfile::exposed_port(&p).map_err(bad)?);
                }
            }
            Command::Volume(raw) => {
                let volumes = match serde_json::from_str::<Vec<String>>(raw) {
                    Ok(v) if raw.trim_start().starts_with('[') => v,
                    _ => self.subst_words(text, raw)?,
                };
                self.volumes.extend(volumes);
            }
            Command::StopSignal(raw) => self.stop_signal = Some(self.subst(text, raw)?),
            Command::Entrypoint(form) | Command::Cmd(form) => {
                let argv = match form {
                    CommandForm::Exec(v) => v.clone(),
                    CommandForm::Shell(_) if wasm => {
                        return Err(bad(
                            "the shell form cannot be used: Wasm images have no shell; use the exec form, \
                             e.g. CMD [\"/app.wasm\"]"
                                .into(),
                        ))
                    }
                    CommandForm::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
                };
                if matches!(ins.command, Command::Entrypoint(_)) {
                    self.entrypoint = Some(argv);
                    if !self.cmd_set {
                        self.cmd = None;
                    }
                } else {
                    self.cmd = Some(argv);
                    self.cmd_set = true;
                }
            }
            // parse_change lets nothing else through.
            _ => {
                return Err(bad(format!(
                    "{} cannot be used with import; use one of {ALLOWED}",
                    ins.keyword()
                )))
            }
        }
        Ok(())
    }

    /// The OCI image config: keys sorted (serde_json's map is ordered), so
    /// the same inputs at the same instant give the same id.
    fn to_json(&self, platform: &Platform, diff_id: &str, created: &str, comment: &str) -> Value {
        let mut c = Map::new();
        if !self.user.is_empty() {
            c.insert("User".into(), json!(self.user));
        }
        if !self.exposed.is_empty() {
            let m: Map<String, Value> = self
                .exposed
                .iter()
                .map(|p| (p.clone(), json!({})))
                .collect();
            c.insert("ExposedPorts".into(), Value::Object(m));
        }
        if !self.env.is_empty() {
            let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            c.insert("Env".into(), json!(env));
        }
        if let Some(e) = &self.entrypoint {
            c.insert("Entrypoint".into(), json!(e));
        }
        if let Some(cmd) = &self.cmd {
            c.insert("Cmd".into(), json!(cmd));
        }
        if !self.volumes.is_empty() {
            let m: Map<String, Value> = self
                .volumes
                .iter()
                .map(|p| (p.clone(), json!({})))
                .collect();
            c.insert("Volumes".into(), Value::Object(m));
        }
        if !self.workdir.is_empty() {
            c.insert("WorkingDir".into(), json!(self.workdir));
        }
        if !self.labels.is_empty() {
            c.insert("Labels".into(), json!(self.labels));
        }
        if let Some(sig) = &self.stop_signal {
            c.insert("StopSignal".into(), json!(sig));
        }
        let mut v = json!({
            "created": created,
            "architecture": platform.architecture,
            "os": platform.os,
            "config": Value::Object(c),
            "rootfs": { "type": "layers", "diff_ids": [diff_id] },
            "history": [{ "created": created, "comment": comment }],
        });
        if let Some(variant) = &platform.variant {
            v["variant"] = json!(variant);
        }
        v
    }
}

/// `/a/./b/../c` -> `/a/c`; never above `/`.
fn normalize_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
        // A hand-rolled ustar writer keeps this crate free of a tar
        // dependency; the end-to-end tests use real tars.
        let mut out = Vec::new();
        for (name, data) in files {
            let mut h = [0u8; BLOCK];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..107].copy_from_slice(b"0000644");
            h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
            h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        out.resize(out.len() + 2 * BLOCK, 0);
        out
    }

    #[test]
    fn walks_a_tar_and_refuses_what_is_not_one() {
        let tar = tar_with(&[("a.txt", b"hello"), ("b/c", &[7u8; 700])]);
        assert_eq!(walk_tar(&mut &tar[..]).unwrap(), 2);
        assert!(matches!(
            walk_tar(&mut &b"just some text, long enough?"[..]),
            Err(TarError::NotTar(_))
        ));
        assert!(matches!(
            walk_tar(&mut &[b'x'; 2048][..]),
            Err(TarError::NotTar(_))
        ));
        // Cut inside the second entry's data.
        let cut = &tar[..BLOCK * 3];
        assert!(matches!(
            walk_tar(&mut &cut[..]),
            Err(TarError::Corrupt { entry, .. }) if entry == "b/c"
        ));
        // A damaged second header.
        let mut bad = tar.clone();
        bad[BLOCK * 2 + 10] ^= 0x55;
        assert!(matches!(
            walk_tar(&mut &bad[..]),
            Err(TarError::Corrupt { .. })
        ));
    }

    #[test]
    fn pax_size_and_base256() {
        assert_eq!(
            pax_record(b"20 size=12345678901\n12 path=abc\n", "size").as_deref(),
            Some("12345678901")
        );
        let mut field = [0u8; 12];
        field[0] = 0x80;
        field[10] = 1;
        field[11] = 2;
        assert_eq!(field_size(&field), Some(258));
        assert_eq!(field_size(b"00000000017\0"), Some(15));
    }

    #[test]
    fn changes_apply_like_dockerfile_instructions() {
        let mut c = ImageConfig::default();
        for text in [
            "ENV APP=/srv/app GREETING=hello",
            "WORKDIR $APP",
            "WORKDIR data/..",
            "CMD echo $GREETING",
            "ENTRYPOINT [\"/bin/tini\", \"--\"]",
            "EXPOSE 8080 53/udp",
            "LABEL org.example.kind=\"imported rootfs\"",
            "VOLUME [\"/var/lib/data\"]",
            "USER 1000:1000",
        ] {
            c.apply(&parse_change(text).unwrap(), false, text).unwrap();
        }
        assert_eq!(c.workdir, "/srv/app");
        assert_eq!(
            c.cmd.as_deref(),
            Some(&["/bin/sh".to_string(), "-c".into(), "echo $GREETING".into()][..]),
            "a CMD given before ENTRYPOINT in the same import stays"
        );
        let v = c.to_json(&Platform::host(), "sha256:00", "now", "imported");
        assert_eq!(
            v["config"]["ExposedPorts"],
            json!({"53/udp": {}, "8080/tcp": {}})
        );
        assert_eq!(v["config"]["Labels"]["org.example.kind"], "imported rootfs");
        assert_eq!(
            v["config"]["Env"],
            json!(["APP=/srv/app", "GREETING=hello"])
        );
        assert_eq!(v["config"]["User"], "1000:1000");
        assert_eq!(v["rootfs"]["diff_ids"], json!(["sha256:00"]));

        for (text, says) in [
            ("RUN apt-get update", "cannot be used with import"),
            ("HEALTHCHECK CMD true", "not supported"),
            ("BOGUS x", "not an instruction"),
            ("EXPOSE http", "is not a port"),
            ("CMD", "needs a command"),
            ("", "empty"),
        ] {
            let e = parse_change(text)
                .and_then(|ins| ImageConfig::default().apply(&ins, false, text))
                .unwrap_err()
                .to_string();
            assert!(e.contains(says) && e.contains("--change"), "{text}: {e}");
        }
        let wasm = parse_change("CMD run it").unwrap();
        let e = ImageConfig::default()
            .apply(&wasm, true, "CMD run it")
            .unwrap_err();
        assert!(e.to_string().contains("Wasm images have no shell"), "{e}");
    }
}
