//! One file read out of an image's tar layers without unpacking them.
//!
//! Pull precompiles a Wasm image's module, which for Docker-style `wasi/wasm`
//! images is a file inside the layers; unpacking every layer into snapshots
//! just for that would cost more than the transfer (the first `wharf run`
//! unpacks them anyway). [`find_file`] scans the layers instead, in parallel,
//! topmost first, and stops looking below the layer that decides. It answers
//! [`Found::Unknown`] whenever the answer is not plain (the path or one of its
//! parents is a link or not a directory, an unreadable layer, a file too big
//! to hold): the caller then unpacks as before, which gives the authoritative
//! answer or error.

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What the layers hold at a path.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A regular file with this content.
    File(Vec<u8>),
    /// Nothing: no layer has it, or a whiteout hides it.
    Absent,
    /// Not a plain answer; unpack to know.
    Unknown,
}

/// What one layer says about the path.
#[derive(Debug, Default)]
struct Seen {
    /// This layer holds the path as a regular file.
    file: Option<Vec<u8>>,
    /// The layers below do not count (whiteout, opaque directory).
    hides_below: bool,
    /// Something this scan does not resolve (links, non-directories on the way).
    unsure: bool,
}

impl Seen {
    /// Whether the layers below need no look.
    fn decides(&self) -> bool {
        self.file.is_some() || self.hides_below || self.unsure
    }
}

/// The components of a path in an image: `/a/./b/` -> `["a", "b"]`; `None`
/// for paths with `..`.
fn components(path: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Scans one uncompressed layer tar for `target` (as components).
fn scan(tar: impl Read, target: &[&str], limit: u64) -> io::Result<Seen> {
    let mut seen = Seen::default();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path_bytes();
        let Ok(path) = std::str::from_utf8(&raw) else {
            continue;
        };
        let Some(parts) = components(path) else {
            continue;
        };
        let Some((name, dir)) = parts.split_last() else {
            continue;
        };
        if let Some(hidden) = name.strip_prefix(".wh.") {
            // A whiteout hides the layers below: `.wh..wh..opq` all of its
            // directory, `.wh.NAME` the path NAME.
            let hides_target = if hidden == ".wh..opq" {
                target.starts_with(dir)
            } else {
                let mut whited = dir.to_vec();
                whited.push(hidden);
                target.starts_with(&whited)
            };
            seen.hides_below |= hides_target;
            continue;
        }
        let kind = entry.header().entry_type();
        if parts.as_slice() == target {
            // Later entries for a path replace earlier ones.
            seen.file = None;
            seen.unsure = false;
            let regular = matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous);
            if !regular || entry.size() > limit {
                seen.unsure = true;
                continue;
            }
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes)?;
            seen.file = Some(bytes);
        } else if (target.starts_with(&parts) && !kind.is_dir()) || parts.starts_with(target) {
            // A parent directory replaced by a file or link, or the path
            // made a directory.
            seen.unsure = true;
        }
    }
    Ok(seen)
}

/// The content of `path` (absolute, in the image) when one uncompressed
/// layer tar holds it as a regular file of at most `limit` bytes; `None`
/// otherwise (absent, whited out, a link, ...). Says nothing about what the
/// layers above make of it: for a guess, [`find_file`] for the answer.
pub fn find_in_layer(tar: impl Read, path: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let Some(target) = components(path).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let seen = scan(tar, &target, limit)?;
    Ok(if seen.unsure { None } else { seen.file })
}

/// Looks up the regular file at `path` (absolute, in the image) in `layers`
/// uncompressed tar layers, bottom one first; `open(i)` opens layer `i`.
/// Files larger than `limit` bytes are not read ([`Found::Unknown`]).
pub fn find_file<'a, F>(layers: usize, open: F, path: &str, limit: u64) -> Found
where
    F: Fn(usize) -> io::Result<Box<dyn Read + 'a>> + Sync,
{
    let Some(target) = components(path) else {
        return Found::Unknown;
    };
    if target.is_empty() || layers == 0 {
        return if target.is_empty() {
            Found::Unknown
        } else {
            Found::Absent
        };
    }
    // Layers are taken topmost first; `floor` rises above the layers that
    // no longer matter because one above them decides.
    let next = AtomicUsize::new(layers);
    let floor = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<io::Result<Seen>>>> =
        Mutex::new((0..layers).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(layers);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Ok(n) =
                    next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                {
                    let i = n - 1;
                    if i < floor.load(Ordering::SeqCst) {
                        continue;
                    }
                    let seen = open(i).and_then(|r| scan(r, &target, limit));
                    if seen.as_ref().map_or(true, Seen::decides) {
                        floor.fetch_max(i, Ordering::SeqCst);
                    }
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(seen);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    for seen in results.into_iter().rev() {
        match seen {
            // Skipped: a layer above decided (and was seen first, from the top).
            None => break,
            Some(Err(_)) => return Found::Unknown,
            Some(Ok(seen)) => {
                if let Some(bytes) = seen.file {
                    return Found::File(bytes);
                }
                if seen.unsure {
                    return Found::Unknown;
                }
                if seen.hides_below {
                    return Found::Absent;
                }
            }
        }
    }
    Found::Absent
}

#[cfg(test)]
mod tests {
    use super::*;

    enum E<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
    }

    fn layer(entries: &[E]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            match e {
                E::File(p, data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, p, *data).unwrap();
                }
                E::Dir(p) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    b.append_data(&mut h, p, io::empty()).unwrap();
                }
                E::Symlink(p, target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, p, target).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn find(layers: &[Vec<u8>], path: &str) -> Found {
        find_file(
            layers.len(),
            |i| Ok(Box::new(io::Cursor::new(layers[i].clone())) as Box<dyn Read>),
            path,
            1 << 20,
        )
    }

    #[test]
    fn topmost_regular_file_wins() {
        let layers = vec![
            layer(&[E::File("app.wasm", b"old"), E::File("big", &[0; 4096])]),
            layer(&[E::Dir("etc/"), E::File("etc/x", b"x")]),
            layer(&[E::File("./app.wasm", b"new")]),
        ];
        assert_eq!(find(&layers, "/app.wasm"), Found::File(b"new".to_vec()));
        assert_eq!(find(&layers, "/etc/x"), Found::File(b"x".to_vec()));
        assert_eq!(find(&layers, "/etc/./x"), Found::File(b"x".to_vec()));
        assert_eq!(find(&layers, "/nope"), Found::Absent);
        assert_eq!(find(&layers, "/etc"), Found::Unknown);
        assert_eq!(find(&layers, "/../etc/x"), Found::Unknown);
        assert_eq!(find(&[], "/x"), Found::Absent);
        // Later entries in one layer replace earlier ones.
        let twice = vec![layer(&[E::File("a", b"1"), E::File("a", b"2")])];
        assert_eq!(find(&twice, "/a"), Found::File(b"2".to_vec()));
    }

    #[test]
    fn whiteouts_hide_lower_layers_only() {
        let layers = vec![
            layer(&[E::File("d/app.wasm", b"low"), E::File("e/f", b"f")]),
            layer(&[
                E::File("d/.wh.app.wasm", b""),
                E::File("e/.wh..wh..opq", b""),
            ]),
        ];
        assert_eq!(find(&layers, "/d/app.wasm"), Found::Absent);
        assert_eq!(find(&layers, "/e/f"), Found::Absent);
        // A whited-out parent directory hides it too.
        let parent = vec![
            layer(&[E::File("d/app.wasm", b"low")]),
            layer(&[E::File(".wh.d", b"")]),
        ];
        assert_eq!(find(&parent, "/d/app.wasm"), Found::Absent);
        // The same layer's file counts; a higher layer brings it back.
        let back = vec![
            layer(&[E::File("d/app.wasm", b"low")]),
            layer(&[
                E::File("d/.wh.app.wasm", b""),
                E::File("d/app.wasm", b"mid"),
            ]),
            layer(&[E::File("d/.wh.other", b"")]),
        ];
        assert_eq!(find(&back, "/d/app.wasm"), Found::File(b"mid".to_vec()));
    }

    #[test]
    fn links_are_left_to_unpacking() {
        let layers = vec![
            layer(&[
                E::File("real.wasm", b"x"),
                E::Symlink("app.wasm", "real.wasm"),
            ]),
            layer(&[
                E::Symlink("lib", "usr/lib"),
                E::File("usr/lib/m.wasm", b"m"),
            ]),
        ];
        assert_eq!(find(&layers, "/app.wasm"), Found::Unknown);
        assert_eq!(find(&layers, "/lib/m.wasm"), Found::Unknown);
        // One layer alone.
        let one = |l: &Vec<u8>, p| find_in_layer(io::Cursor::new(l.clone()), p, 100).unwrap();
        assert_eq!(one(&layers[0], "/real.wasm"), Some(b"x".to_vec()));
        assert_eq!(one(&layers[0], "/app.wasm"), None);
        assert_eq!(one(&layers[1], "/lib/m.wasm"), None);
        assert_eq!(one(&layers[1], "/usr/lib/m.wasm"), Some(b"m".to_vec()));
        assert_eq!(one(&layers[1], "/"), None);
        // Too big to hold.
        let big = layer(&[E::File("big.wasm", &[0; 4096])]);
        assert_eq!(
            find_file(
                1,
                |_| Ok(Box::new(io::Cursor::new(big.clone())) as Box<dyn Read>),
                "/big.wasm",
                100
            ),
            Found::Unknown
        );
        // An unreadable layer.
        let bad = find_file(
            1,
            |_| Ok(Box::new(io::Cursor::new(vec![7u8; 1024])) as Box<dyn Read>),
            "/x",
            100,
        );
        assert_eq!(bad, Found::Unknown);
    }
}
