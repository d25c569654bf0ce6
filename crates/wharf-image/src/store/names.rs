//! How index.json entries carry their names: Docker's short form in
//! ref.name, containerd's full name in its own annotation, either or both.

use oci_spec::image::{Descriptor, ImageIndex};

use crate::layout::{annotation, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
use crate::reference::Reference;

pub(super) fn entry_is_untagged(d: &Descriptor) -> bool {
    annotation(d, ANNOTATION_REF_NAME).is_none()
        && annotation(d, ANNOTATION_CONTAINERD_NAME).is_none()
}

/// The reference an index.json entry is named by: the containerd name when
/// present (Docker writes a bare tag into ref.name), else ref.name.
pub(super) fn entry_reference(d: &Descriptor) -> Option<Reference> {
    if let Some(full) = annotation(d, ANNOTATION_CONTAINERD_NAME) {
        if let Ok(r) = full.parse() {
            return Some(r);
        }
    }
    annotation(d, ANNOTATION_REF_NAME)?.parse().ok()
}

pub(super) fn entry_display_name(d: &Descriptor) -> Option<String> {
    entry_reference(d)
        .map(|r| r.familiar())
        .or_else(|| annotation(d, ANNOTATION_REF_NAME).map(str::to_string))
}

pub(super) fn entry_matches(d: &Descriptor, r: &Reference) -> bool {
    annotation(d, ANNOTATION_REF_NAME) == Some(r.familiar().as_str())
        || entry_reference(d).as_ref() == Some(r)
}

/// The names of every entry for `digest`, each once.
pub(super) fn names_of(index: &ImageIndex, digest: &str) -> Vec<String> {
    let mut names = Vec::new();
    for e in index.manifests() {
        if e.digest().as_ref() == digest {
            if let Some(n) = entry_display_name(e) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    names
}
