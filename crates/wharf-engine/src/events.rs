//! The engine's event log, read by `wharf events`: one JSON object per line
//! in `<root>/events.jsonl`, in Docker's event shape (`Type`, `Action`,
//! `Actor`, `time`, `timeNano`).
//!
//! Wharf has no daemon to broadcast events, so every process that changes
//! the store appends its events to one file. Each line goes out in a single
//! write(2) on an O_APPEND descriptor: the kernel places each write at the
//! end atomically, so lines from concurrent processes never interleave.
//! Past [`MAX_LOG`] bytes the log is renamed to `events.jsonl.1` (replacing
//! the older generation), which keeps it bounded while keeping the newest.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Engine, Error, Result};

const LOG: &str = "events.jsonl";
/// Rotate past this: a few thousand events each generation.
const MAX_LOG: u64 = 4 << 20;
/// How often a follower looks for new lines.
const POLL: Duration = Duration::from_millis(100);

/// One event, serialized as Docker's API and `--format '{{json .}}'` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Docker's older fields, kept on container and image events as Docker does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    pub fn new<'a>(
        kind: &str,
        action: &str,
        id: &str,
        attributes: impl IntoIterator<Item = (&'a str, String)>,
    ) -> Event {
        let attributes: BTreeMap<String, String> = attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let legacy = matches!(kind, "container" | "image");
        Event {
            status: if legacy {
                action.to_string()
            } else {
                String::new()
            },
            id: if legacy {
                id.to_string()
            } else {
                String::new()
            },
            from: match (kind, attributes.get("image")) {
                ("container", Some(image)) => image.clone(),
                _ => String::new(),
            },
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: nanos.div_euclid(1_000_000_000),
            time_nano: nanos,
        }
    }

    pub fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.time_nano.max(0) as u64)
    }

    /// Docker's line: `<time> <type> <action> <id> (k=v, ...)`.
    pub fn line(&self) -> String {
        let time = humantime::format_rfc3339_nanos(self.system_time());
        let attrs: Vec<String> = self
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut line = format!("{time} {} {} {}", self.kind, self.action, self.actor.id);
        if !attrs.is_empty() {
            line.push_str(&format!(" ({})", attrs.join(", ")));
        }
        line
    }
}

/// `--filter KEY=VALUE` of `wharf events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    key: FilterKey,
    value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilterKey {
    Type,
    Event,
    Container,
    Image,
    Network,
    Volume,
    Label,
}

impl FromStr for EventFilter {
    type Err = Error;
    fn from_str(text: &str) -> Result<EventFilter> {
        let (key, value) = text.split_once('=').ok_or_else(|| {
            Error::InvalidArgument(format!(
                "bad filter \"{text}\": give KEY=VALUE, e.g. type=container or event=start"
            ))
        })?;
        let key = match key {
            "type" => FilterKey::Type,
            "event" => FilterKey::Event,
            "container" => FilterKey::Container,
            "image" => FilterKey::Image,
            "network" => FilterKey::Network,
            "volume" => FilterKey::Volume,
            "label" => FilterKey::Label,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "invalid filter '{key}': events can be filtered by type, event, container, image, network, volume or label"
                )))
            }
        };
        if key == FilterKey::Type && !matches!(value, "container" | "image" | "network" | "volume")
        {
            return Err(Error::InvalidArgument(format!(
                "invalid type filter '{value}': give container, image, network or volume"
            )));
        }
        Ok(EventFilter {
            key,
            value: value.to_string(),
        })
    }
}

impl EventFilter {
    fn matches(&self, e: &Event) -> bool {
        let v = self.value.as_str();
        let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str);
        let names_container = |id: &str, name: Option<&str>| {
            id == v || (v.len() >= 12 && id.starts_with(v)) || name == Some(v)
        };
        match self.key {
            FilterKey::Type => e.kind == v,
            FilterKey::Event => e.action == v,
            FilterKey::Container => match e.kind.as_str() {
                "container" => names_container(&e.actor.id, attr("name")),
                _ => attr("container").is_some_and(|c| names_container(c, None)),
            },
            FilterKey::Image => {
                let same = |name: &str| name == v || name == format!("{v}:latest");
                match e.kind.as_str() {
                    "image" => same(&e.actor.id) || attr("name").is_some_and(same),
                    _ => attr("image").is_some_and(same),
                }
            }
            FilterKey::Network => {
                e.kind == "network" && (e.actor.id == v || attr("name") == Some(v))
            }
            FilterKey::Volume => e.kind == "volume" && e.actor.id == v,
            FilterKey::Label => match v.split_once('=') {
                Some((k, val)) => attr(k) == Some(val),
                None => attr(v).is_some(),
            },
        }
    }

    /// Docker's rule: several filters of one key need one to match, and
    /// every key given must.
    pub fn all_match(filters: &[EventFilter], e: &Event) -> bool {
        let mut keys: Vec<FilterKey> = filters.iter().map(|f| f.key).collect();
        keys.dedup();
        keys.iter().all(|key| {
            filters
                .iter()
                .filter(|f| f.key == *key)
                .any(|f| f.matches(e))
        })
    }
}

fn log_path(root: &Path) -> PathBuf {
    root.join(LOG)
}

fn old_log_path(root: &Path) -> PathBuf {
    root.join(format!("{LOG}.1"))
}

/// Appends `event` to the log of the store at `root`. An event that cannot
/// be written is dropped: the operation it reports has already happened, and
/// failing it (or a container's exit) over its record would be worse.
pub(crate) fn record(root: &Path, event: &Event) {
    let _ = append(root, event);
}

fn append(root: &Path, event: &Event) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(event).expect("event serializes");
    line.push(b'\n');
    let path = log_path(root);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)?;
    // One write(2): a regular file takes it whole.
    let written = f.write(&line)?;
    if written != line.len() {
        return Err(std::io::Error::other("short write to the event log"));
    }
    if f.metadata()?.len() > MAX_LOG {
        rotate(&path, &old_log_path(root), &f)?;
    }
    Ok(())
}

/// Renames the full log aside. Under an exclusive lock, and only if `f` is
/// still the current log, so two processes that both saw it full rotate once.
fn rotate(path: &Path, old: &Path, f: &File) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor we own; released when `f` closes.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ours = f.metadata()?.ino();
    match std::fs::metadata(path) {
        Ok(current) if current.ino() == ours && current.len() > MAX_LOG => {
            std::fs::rename(path, old)
        }
        _ => Ok(()),
    }
}

/// [`Engine::container_event`], for a thread that has no engine.
pub(crate) fn container_event<'a>(
    root: &Path,
    c: &crate::Container,
    action: &str,
    extra: impl IntoIterator<Item = (&'a str, String)>,
) {
    let mut attrs: Vec<(String, String)> = c.state.labels.clone().into_iter().collect();
    attrs.push(("image".into(), c.state.image.clone()));
    attrs.push(("name".into(), c.state.name.clone()));
    attrs.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
    let attrs = attrs.iter().map(|(k, v)| (k.as_str(), v.clone()));
    record(root, &Event::new("container", action, c.id(), attrs));
}

impl Engine {
    /// Records an event of this store (see [`Event::new`]).
    pub(crate) fn event<'a>(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: impl IntoIterator<Item = (&'a str, String)>,
    ) {
        record(self.root(), &Event::new(kind, action, id, attributes));
    }

    /// A container event, with its image, name and labels as attributes.
    pub(crate) fn container_event<'a>(
        &self,
        c: &crate::Container,
        action: &str,
        extra: impl IntoIterator<Item = (&'a str, String)>,
    ) {
        container_event(self.root(), c, action, extra);
    }

    /// `wharf events`: hands `out` each event that matches `filters`, in
    /// order. Without `since`, only events from now on; without `until`,
    /// follows the log until `out` returns false; with `until`, returns
    /// once that time has passed.
    pub fn events(
        &self,
        since: Option<SystemTime>,
        until: Option<SystemTime>,
        filters: &[EventFilter],
        mut out: impl FnMut(&Event) -> bool,
    ) -> Result<()> {
        let root = self.root();
        let path = log_path(root);
        let io = |e| Error::io(format!("reading the event log {}", path.display()), e);
        // Past `until`: no more to print. Returns false to stop.
        let mut handle = |e: &Event| -> std::io::Result<bool> {
            if until.is_some_and(|u| e.system_time() > u) {
                return Ok(false);
            }
            if since.is_some_and(|s| e.system_time() < s) || !EventFilter::all_match(filters, e) {
                return Ok(true);
            }
            Ok(out(e))
        };
        let mut reader = Tail::default();
        if since.is_some() {
            let old = old_log_path(root);
            if let Some(mut f) = open_if_exists(&old).map_err(io)? {
                if !reader.drain(&mut f, &mut handle).map_err(io)? {
                    return Ok(());
                }
            }
        }
        let mut current = open_if_exists(&path).map_err(io)?;
        if since.is_none() {
            if let Some(f) = &mut current {
                f.seek(SeekFrom::End(0)).map_err(io)?;
            }
        }
        loop {
            if let Some(f) = &mut current {
                if !reader.drain(f, &mut handle).map_err(io)? {
                    return Ok(());
                }
            }
            if until.is_some_and(|u| SystemTime::now() > u) {
                return Ok(());
            }
            // Rotated (or created) since we opened it: what was written to
            // the old file has been read above; go on with the new one.
            let now_ino = std::fs::metadata(&path).ok().map(|m| m.ino());
            let our_ino = match &current {
                Some(f) => Some(f.metadata().map_err(io)?.ino()),
                None => None,
            };
            if now_ino.is_some() && now_ino != our_ino {
                current = open_if_exists(&path).map_err(io)?;
                reader = Tail::default();
                continue;
            }
            std::thread::sleep(POLL);
        }
    }
}

fn open_if_exists(path: &Path) -> std::io::Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads whole lines as they appear; a line read before its end arrived
/// waits in `partial`.
#[derive(Default)]
struct Tail {
    partial: Vec<u8>,
}

impl Tail {
    /// Hands each complete event to `handle`; false once it says stop.
    fn drain(
        &mut self,
        f: &mut File,
        handle: &mut impl FnMut(&Event) -> std::io::Result<bool>,
    ) -> std::io::Result<bool> {
        let mut buf = [0u8; 64 << 10];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(true);
            }
            self.partial.extend_from_slice(&buf[..n]);
            let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            let rest = self.partial.split_off(end + 1);
            let lines = std::mem::replace(&mut self.partial, rest);
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                // A line that does not parse (a crash mid-write) is skipped:
                // the rest of the log is still good.
                if let Ok(e) = serde_json::from_slice::<Event>(line) {
                    if !handle(&e)? {
                        return Ok(false);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_dockers() {
        let mut e = Event::new(
            "container",
            "start",
            "abc",
            [("name", "web".to_string()), ("image", "hello:wasm".into())],
        );
        e.time_nano = 1_796_605_323_000_000_000;
        assert_eq!(
            e.line(),
            "2026-12-07T01:02:03.000000000Z container start abc (image=hello:wasm, name=web)"
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["Actor"]["Attributes"]["name"], "web");
        assert_eq!(json["from"], "hello:wasm");
    }

    #[test]
    fn filters_or_within_a_key_and_across_keys() {
        let e = Event::new(
            "container",
            "die",
            "0123456789abcdef",
            [("name", "web".into())],
        );
        let f = |s: &str| s.parse::<EventFilter>().unwrap();
        assert!(EventFilter::all_match(
            &[f("event=start"), f("event=die")],
            &e
        ));
        assert!(!EventFilter::all_match(
            &[f("event=die"), f("type=image")],
            &e
        ));
        assert!(EventFilter::all_match(&[f("container=web")], &e));
        assert!(EventFilter::all_match(&[f("container=0123456789ab")], &e));
        assert!("type=pod".parse::<EventFilter>().is_err());
        assert!("nope".parse::<EventFilter>().is_err());
    }

    #[test]
    fn rotation_keeps_the_log_bounded() {
        let dir = std::env::temp_dir().join(format!("wharf-events-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = "x".repeat(1 << 20);
        for i in 0..6 {
            record(
                &dir,
                &Event::new("volume", "create", &format!("v{i}"), [("pad", big.clone())]),
            );
        }
        let cur = std::fs::metadata(log_path(&dir)).unwrap().len();
        assert!(cur <= MAX_LOG, "{cur} bytes");
        assert!(old_log_path(&dir).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
