//! The OCI image layout rules that the store and archives both apply: the
//! `oci-layout` file, how far an image graph is walked, which index entries
//! are attestations, and the annotations that name an entry.
//!
//! A module of its own so that the store and the archive code share these
//! without depending on each other.

use oci_spec::image::Descriptor;

use crate::reference::Reference;

/// Annotation holding the tag of an index.json entry, in Docker's short form.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation containerd (and Docker's OCI export) uses for the full name.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Contents of the `oci-layout` file of a store or an OCI archive.
pub(crate) const OCI_LAYOUT_JSON: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Manifests, indexes and configs larger than this are refused rather than
/// read into memory: no real one comes close, a hostile archive might.
pub(crate) const MAX_JSON_BLOB: u64 = 64 << 20;
/// Index → index → ... nesting deeper than this is refused.
pub(crate) const MAX_DEPTH: usize = 8;

const ATTESTATION_ANNOTATION: &str = "vnd.docker.reference.type";

pub(crate) fn annotation<'a>(d: &'a Descriptor, key: &str) -> Option<&'a str> {
    d.annotations().as_ref()?.get(key).map(String::as_str)
}

/// Whether an index entry is a build attestation (BuildKit's provenance or
/// SBOM manifest) rather than an image: never picked, optional to keep.
pub(crate) fn is_attestation(d: &Descriptor) -> bool {
    annotation(d, ATTESTATION_ANNOTATION) == Some("attestation-manifest")
        || d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == "unknown" && p.architecture().to_string() == "unknown"
        })
}

/// `d` named `reference` the way Docker and containerd read index entries:
/// the short form in ref.name, the full name in the containerd annotation.
pub(crate) fn with_names(d: &Descriptor, reference: &Reference) -> Descriptor {
    let mut d = d.clone();
    let mut ann = d.annotations().clone().unwrap_or_default();
    ann.insert(ANNOTATION_REF_NAME.to_string(), reference.familiar());
    ann.insert(ANNOTATION_CONTAINERD_NAME.to_string(), reference.full());
    d.set_annotations(Some(ann));
    d
}

/// `d` without the name annotations [`with_names`] adds (and without an
/// annotation map at all when nothing else is left in it).
pub(crate) fn without_names(d: &Descriptor) -> Descriptor {
    let mut d = d.clone();
    if let Some(mut ann) = d.annotations().clone() {
        ann.remove(ANNOTATION_REF_NAME);
        ann.remove(ANNOTATION_CONTAINERD_NAME);
        d.set_annotations(if ann.is_empty() { None } else { Some(ann) });
    }
    d
}
