//! Overlay upper dir -> OCI layer tar.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::{Error, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

fn is_opaque(path: &Path) -> bool {
    let c = match std::ffi::CString::new(path.as_os_str().as_bytes()) {
        Ok(c) => c,
        Err(_) => return false,
    };
    let mut buf = [0u8; 8];
    for name in [
        &b"trusted.overlay.opaque\0"[..],
        &b"user.overlay.opaque\0"[..],
    ] {
        // SAFETY: valid NUL-terminated strings and a buffer of the given size.
        let n = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                name.as_ptr().cast(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n == 1 && buf[0] == b'y' {
            return true;
        }
    }
    false
}

fn base_header(md: &std::fs::Metadata, typ: EntryType) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(typ);
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(md.uid().into());
    h.set_gid(md.gid().into());
    h.set_mtime(md.mtime().max(0) as u64);
    h.set_size(0);
    h
}

struct Writer<W: Write> {
    tar: tar::Builder<W>,
    /// (dev, ino) -> first path written, for hard links.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Writer<W> {
    fn empty(&mut self, mut h: Header, name: &Path) -> Result<()> {
        self.tar
            .append_data(&mut h, name, std::io::empty())
            .map_err(|e| Error::io("writing layer entry", name, e))
    }

    fn entry(&mut self, host: &Path, name: &Path) -> Result<bool> {
        let md = std::fs::symlink_metadata(host).map_err(|e| Error::io("reading", host, e))?;
        let ft = md.file_type();
        if ft.is_char_device() && md.rdev() == 0 {
            let parent = name.parent().unwrap_or(Path::new(""));
            let mut wh = OsString::from(WHITEOUT_PREFIX);
            wh.push(name.file_name().unwrap_or_default());
            let mut h = base_header(&md, EntryType::Regular);
            h.set_mode(0o600);
            return self.empty(h, &parent.join(wh)).map(|_| false);
        }
        if ft.is_dir() {
            let h = base_header(&md, EntryType::Directory);
            let mut dir_name = name.as_os_str().to_owned();
            dir_name.push("/");
            self.empty(h, Path::new(&dir_name))?;
            if is_opaque(host) {
                let mut h = base_header(&md, EntryType::Regular);
                h.set_mode(md.mode() & 0o777);
                self.empty(h, &name.join(OPAQUE))?;
            }
            return Ok(true);
        }
        if !ft.is_symlink() && md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&key).cloned() {
                let mut h = base_header(&md, EntryType::Link);
                self.tar
                    .append_link(&mut h, name, &first)
                    .map_err(|e| Error::io("writing layer entry", name, e))?;
                return Ok(false);
            }
            self.links.insert(key, name.to_path_buf());
        }
        if ft.is_symlink() {
            let target = std::fs::read_link(host).map_err(|e| Error::io("reading", host, e))?;
            let mut h = base_header(&md, EntryType::Symlink);
            self.tar
                .append_link(&mut h, name, &target)
                .map_err(|e| Error::io("writing layer entry", name, e))?;
        } else if ft.is_file() {
            let mut h = base_header(&md, EntryType::Regular);
            h.set_size(md.len());
            let f = std::fs::File::open(host).map_err(|e| Error::io("reading", host, e))?;
            self.tar
                .append_data(&mut h, name, f)
                .map_err(|e| Error::io("writing layer entry", name, e))?;
        } else if ft.is_char_device() || ft.is_block_device() {
            let typ = if ft.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            };
            let mut h = base_header(&md, typ);
            let rdev = md.rdev();
            h.set_device_major(libc::major(rdev))
                .map_err(|e| Error::io("writing layer entry", name, e))?;
            h.set_device_minor(libc::minor(rdev))
                .map_err(|e| Error::io("writing layer entry", name, e))?;
            self.empty(h, name)?;
        } else if ft.is_fifo() {
            self.empty(base_header(&md, EntryType::Fifo), name)?;
        }
        // Sockets are not representable in a layer and are skipped, as Docker does.
        Ok(false)
    }

    fn walk(&mut self, host: &Path, name: &Path) -> Result<()> {
        let mut children: Vec<OsString> = std::fs::read_dir(host)
            .map_err(|e| Error::io("listing", host, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io("listing", host, e))?;
        children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for c in children {
            let (h, n) = (host.join(&c), name.join(&c));
            if self.entry(&h, &n)? {
                self.walk(&h, &n)?;
            }
        }
        Ok(())
    }
}

/// Writes the overlay upper dir `upper` as an OCI layer tar to `out`: files,
/// directories, symlinks, hard links and devices as they are; overlay
/// whiteouts (0:0 character devices) as `.wh.<name>`; opaque directories
/// (`trusted.overlay.opaque=y`) as `<dir>/.wh..wh..opq`. Entries are sorted by
/// name, parents first, so the same tree always gives the same bytes.
pub fn layer_from_upper(upper: &Path, out: impl Write) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    tar.follow_symlinks(false);
    let mut w = Writer {
        tar,
        links: HashMap::new(),
    };
    w.walk(upper, Path::new(""))?;
    w.tar
        .into_inner()
        .and_then(|mut o| o.flush())
        .map_err(|e| Error::io("finishing layer tar for", upper, e))
}
