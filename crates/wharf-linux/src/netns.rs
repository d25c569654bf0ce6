//! Namespaces a container's spec gives it.

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// Does the spec make a namespace of type `typ` of its own (not join one)?
pub(crate) fn has_new_namespace(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == typ && n.path().is_none()))
}
