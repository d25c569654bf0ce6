//! `--user` resolution against the image's /etc/passwd and /etc/group.

use std::path::Path;

use wharf_snapshot::resolve_in_root;

use crate::{Error, Result};

/// A user resolved from the rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the groups listing the user as a member.
    pub additional_gids: Vec<u32>,
    /// Home directory from /etc/passwd (`/` when unknown).
    pub home: String,
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read_lines(rootfs: &Path, file: &str) -> Option<String> {
    resolve_in_root(rootfs, file).and_then(|p| std::fs::read_to_string(p).ok())
}

fn parse_passwd(text: &str) -> Vec<Passwd> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(Passwd {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(Group {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .unwrap_or(&"")
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

/// Resolves `user` (`name`, `uid`, `uid:gid`, `name:group`, ...) the way
/// Docker does; `None` means root.
pub fn resolve_user(rootfs: &Path, user: Option<&str>) -> Result<ResolvedUser> {
    let spec = user.map(str::trim).filter(|u| !u.is_empty()).unwrap_or("0");
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user_part.is_empty() {
        return Err(Error::invalid(
            "user",
            spec,
            "expected name, uid, uid:gid or name:group",
        ));
    }
    let passwd = read_lines(rootfs, "/etc/passwd")
        .map(|t| parse_passwd(&t))
        .unwrap_or_default();
    let groups = read_lines(rootfs, "/etc/group")
        .map(|t| parse_group(&t))
        .unwrap_or_default();

    let entry =
        match user_part.parse::<u32>() {
            Ok(uid) => passwd.iter().find(|p| p.uid == uid),
            Err(_) => Some(passwd.iter().find(|p| p.name == user_part).ok_or_else(|| {
                Error::UnknownUser {
                    user: user_part.to_string(),
                    path: rootfs.join("etc/passwd"),
                }
            })?),
        };
    let uid = match entry {
        Some(e) => e.uid,
        None => user_part.parse::<u32>().unwrap_or(0),
    };
    let mut gid = entry.map(|e| e.gid).unwrap_or(0);
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|gr| gr.name == g)
                .map(|gr| gr.gid)
                .ok_or_else(|| Error::UnknownGroup {
                    group: g.to_string(),
                    path: rootfs.join("etc/group"),
                })?,
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(e) = entry {
        for g in &groups {
            if g.gid != gid && g.members.contains(&e.name) && !additional_gids.contains(&g.gid) {
                additional_gids.push(g.gid);
            }
        }
    }
    let home = entry
        .map(|e| e.home.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string());
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:root,app\napp:x:1000:\nstaff:x:50:app\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn forms() {
        let r = rootfs();
        let u = resolve_user(r.path(), Some("app")).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/app"));
        assert_eq!(u.additional_gids, vec![10, 50]);
        let u = resolve_user(r.path(), Some("1000:50")).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        let u = resolve_user(r.path(), Some("app:wheel")).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        let u = resolve_user(r.path(), Some("4242")).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let u = resolve_user(r.path(), None).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert_eq!(u.additional_gids, vec![10]);
        let e = resolve_user(r.path(), Some("nobody")).unwrap_err();
        assert!(matches!(e, Error::UnknownUser { .. }), "{e}");
        let e = resolve_user(r.path(), Some("app:nogroup")).unwrap_err();
        assert!(matches!(e, Error::UnknownGroup { .. }), "{e}");
    }

    #[test]
    fn symlinks_stay_inside_root() {
        let r = rootfs();
        std::os::unix::fs::symlink("/etc/../../../etc/shadow-not-here", r.path().join("link"))
            .unwrap();
        std::fs::create_dir_all(r.path().join("etc")).unwrap();
        std::fs::write(r.path().join("etc/shadow-not-here"), "inside").unwrap();
        let p = resolve_in_root(r.path(), "/link").unwrap();
        assert_eq!(p, r.path().join("etc/shadow-not-here"));
    }
}
