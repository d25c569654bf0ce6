//! index.json: the store's list of images, and the tags on them. Every
//! change is a read-modify-write under the store's lock, replaced durably.

use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use super::names::{entry_display_name, entry_is_untagged, entry_matches, entry_reference};
use super::resolve::Target;
use super::{Store, StoreLock};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::layout::{with_names, without_names};
use crate::media;
use crate::reference::Reference;

impl Store {
    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.root.join("index.json");
        let bytes = std::fs::read(&path).ctx(|| {
            format!(
                "cannot read {}; is {} an image store?",
                path.display(),
                self.root.display()
            )
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::json(
                format!(
                    "{} (fix or remove the file; blobs are kept)",
                    path.display()
                ),
                e,
            )
        })
    }

    /// Read-modify-write of index.json under the caller's lock.
    pub fn update_index<R>(
        &self,
        lock: &StoreLock,
        f: impl FnOnce(&mut ImageIndex) -> Result<R>,
    ) -> Result<R> {
        debug_assert_eq!(lock.root, self.root, "lock taken on another store");
        let mut index = self.index()?;
        let r = f(&mut index)?;
        index.set_media_type(Some(MediaType::ImageIndex));
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| Error::json("index.json", e))?;
        fsutil::write_durable(&self.root.join("index.json"), &bytes)?;
        Ok(r)
    }

    /// Names `target` (a manifest or index whose whole graph is in the store).
    /// An image that loses its last name this way stays as an untagged entry,
    /// like Docker's `<none>` images.
    pub fn tag(&self, lock: &StoreLock, reference: &Reference, target: &Descriptor) -> Result<()> {
        self.tag_all(lock, &[(Some(reference.clone()), target.clone())])
    }

    /// [`tag`](Self::tag) for many names at once, in one write of index.json
    /// (a load of an archive with thousands of names is one transaction,
    /// not thousands of rewrites); a `None` name adds the target as an
    /// untagged entry unless it is already in the index.
    pub fn tag_all(
        &self,
        lock: &StoreLock,
        names: &[(Option<Reference>, Descriptor)],
    ) -> Result<()> {
        let mut checked = std::collections::HashSet::new();
        for (reference, target) in names {
            let mt = target.media_type().to_string();
            let shown = reference
                .as_ref()
                .map_or_else(|| target.digest().to_string(), |r| r.to_string());
            if !media::is_manifest(&mt) && !media::is_index(&mt) {
                return Err(Error::UnsupportedMediaType {
                    media_type: mt,
                    context: format!(
                        "tagging '{shown}' (the target must be an image manifest or index)"
                    ),
                });
            }
            if checked.insert(target.digest().to_string()) {
                self.verify_graph(target, &format!("image '{shown}'"), false)?;
            }
        }
        self.update_index(lock, |index| {
            // Each entry's name is parsed once, not once per name given.
            let mut entries: Vec<Entry> = index.manifests().iter().map(Entry::of).collect();
            let mut ids = std::collections::HashMap::new();
            let mut image_of = |d: &Descriptor| -> String {
                ids.entry(d.digest().to_string())
                    .or_insert_with(|| self.image_identity(d))
                    .clone()
            };
            for (reference, target) in names {
                match reference {
                    Some(reference) => {
                        let inside: std::collections::HashSet<String> = self
                            .leaf_manifests(target, 0)
                            .iter()
                            .map(|d| d.digest().to_string())
                            .collect();
                        name_entry(&mut entries, reference, target, &inside, &mut image_of)
                    }
                    None => {
                        if !entries.iter().any(|e| e.desc.digest() == target.digest()) {
                            entries.push(Entry::of(target));
                        }
                    }
                }
            }
            index.set_manifests(entries.into_iter().map(|e| e.desc).collect());
            Ok(())
        })
    }

    /// What identifies the image an index entry holds: a manifest's config
    /// digest (the image id), else the entry's own digest (an index, or a
    /// manifest that cannot be read).
    fn image_identity(&self, d: &Descriptor) -> String {
        let digest = d.digest().to_string();
        if media::is_manifest(d.media_type().as_ref()) {
            if let Ok(m) =
                self.read_json::<oci_spec::image::ImageManifest>(&digest, "image manifest")
            {
                return m.config().digest().to_string();
            }
        }
        digest
    }

    /// Removes the entry named `reference`; returns what it pointed at.
    pub fn untag(&self, lock: &StoreLock, reference: &Reference) -> Result<Descriptor> {
        self.update_index(lock, |index| {
            let mut entries = index.manifests().clone();
            let pos = entries
                .iter()
                .position(|e| entry_matches(e, reference))
                .ok_or_else(|| Error::ImageNotFound(reference.familiar()))?;
            let removed = entries.remove(pos);
            entries.retain(|e| !entry_matches(e, reference));
            index.set_manifests(entries);
            Ok(removed)
        })
    }

    /// Untags `name`; if `name` is an ID or digest, removes every entry of
    /// that image. Returns the names removed (the digest for untagged entries).
    pub fn remove(&self, lock: &StoreLock, name: &str) -> Result<Vec<String>> {
        self.update_index(lock, |index| {
            let target = self.lookup(index, name)?;
            let mut entries = index.manifests().clone();
            let mut removed = Vec::new();
            let mut pos = 0;
            entries.retain(|e| {
                let hit = match &target {
                    Target::Named(p) => p.contains(&pos),
                    Target::Digest(d) => e.digest().as_ref() == d,
                    Target::Config { entries, .. } => entries.contains(e.digest().as_ref()),
                };
                pos += 1;
                if hit {
                    removed.push(entry_display_name(e).unwrap_or_else(|| e.digest().to_string()));
                }
                !hit
            });
            index.set_manifests(entries);
            Ok(removed)
        })
    }
}

/// An index.json entry with the name it carries, parsed once.
struct Entry {
    desc: Descriptor,
    reference: Option<Reference>,
    ref_name: Option<String>,
}

impl Entry {
    fn of(desc: &Descriptor) -> Entry {
        Entry {
            desc: desc.clone(),
            reference: entry_reference(desc),
            ref_name: desc
                .annotations()
                .as_ref()
                .and_then(|a| a.get(crate::ANNOTATION_REF_NAME))
                .cloned(),
        }
    }

    /// [`entry_matches`], on the parsed name.
    fn matches(&self, reference: &Reference, familiar: &str) -> bool {
        self.ref_name.as_deref() == Some(familiar) || self.reference.as_ref() == Some(reference)
    }

    fn untagged(&self) -> bool {
        entry_is_untagged(&self.desc)
    }
}

/// Puts `reference` on `target` in the index's entries: the entry it named
/// before loses it (and stays, untagged, if nothing else holds its image),
/// an untagged entry of the same image is replaced. "The same image" is
/// the same image id (`image_of`: a manifest's config digest), as in
/// Docker: the same image loaded once from an OCI archive (gzip layers)
/// and once from a docker-archive (plain tars) has two manifests but is
/// one image, not a tagged one beside a `<none>`.
fn name_entry(
    entries: &mut Vec<Entry>,
    reference: &Reference,
    target: &Descriptor,
    inside: &std::collections::HashSet<String>,
    image_of: &mut dyn FnMut(&Descriptor) -> String,
) {
    let desc = with_names(target, reference);
    let familiar = reference.familiar();
    let id = image_of(&desc);
    let mut displaced = Vec::new();
    entries.retain(|e| {
        let same = e.matches(reference, &familiar);
        if same {
            displaced.push(e.desc.clone());
        }
        !same
    });
    // A platform image the new target (an index) holds is not dangling:
    // it is one of the variants the name now stands for.
    let within = |d: &Descriptor| inside.contains(AsRef::<str>::as_ref(d.digest()));
    entries.retain(|e| {
        !(e.untagged()
            && (e.desc.digest() == desc.digest() || within(&e.desc) || image_of(&e.desc) == id))
    });
    for old in displaced {
        let old_id = image_of(&old);
        let held =
            old_id == id || within(&old) || entries.iter().any(|e| image_of(&e.desc) == old_id);
        if !held {
            entries.push(Entry::of(&without_names(&old)));
        }
    }
    entries.push(Entry::of(&desc));
}
