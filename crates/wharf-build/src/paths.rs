//! Lexical handling of `/`-separated paths, shared by image paths (layer
//! entries, WORKDIR, COPY destinations) and context paths (.dockerignore).
//! Lexical on purpose: image paths do not exist on the host, and context
//! paths must be matched as written.

/// Splits into segments, dropping empty and `.` segments and resolving `..`
/// lexically (like Go's filepath.Clean); `..` never climbs above the root.
pub(crate) fn clean_segments(p: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in p.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out
}

/// Lexically normalises an absolute image path; returns it without the
/// leading '/' ("" is the root).
pub(crate) fn normalize_image_path(p: &str) -> String {
    clean_segments(p).join("/")
}

/// `name` below `parent` ("" is the root, so no leading '/').
pub(crate) fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}
