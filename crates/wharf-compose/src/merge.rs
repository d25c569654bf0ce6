//! Merging several Compose files (`-f a.yaml -f b.yaml`) into one, on the
//! generic YAML values, by the Compose specification's merge rules
//! (compose-go's `override` package), in their common form:
//!
//! - mappings merge key by key, recursively; scalars and other sequences
//!   (`command`, `entrypoint`, `healthcheck.test`, ...) are replaced;
//! - `environment`, `labels` and `build.args` merge by variable name, with
//!   the list form (`K=V`) read as a map first;
//! - `ports`, `expose`, `dns`, `cap_add`, `cap_drop`, `security_opt`,
//!   `extra_hosts` and `env_file` are unions (an identical entry is kept once);
//! - `volumes` merge by container path (a later mount of the same target
//!   replaces the earlier one);
//! - `depends_on` and `networks` merge by name (list form read as a map);
//! - the `!reset` tag removes a value, `!override` replaces it whole.

use serde_norway::{Mapping, Value};

use crate::error::{ComposeError, Result};

/// Removes `!reset` values and unwraps `!override` in a file that is not
/// merged onto anything (the first file); other tags are errors.
pub(crate) fn strip_tags(value: Value, path: &str) -> Result<Option<Value>> {
    match value {
        Value::Tagged(tagged) => {
            if tagged.tag == "reset" {
                Ok(None)
            } else if tagged.tag == "override" {
                strip_tags(tagged.value, path)
            } else {
                Err(unsupported_tag(path, &tagged.tag.to_string()))
            }
        }
        Value::Mapping(map) => {
            let mut out = Mapping::with_capacity(map.len());
            for (k, v) in map {
                let child = child_path(path, &k);
                if let Some(v) = strip_tags(v, &child)? {
                    out.insert(k, v);
                }
            }
            Ok(Some(Value::Mapping(out)))
        }
        Value::Sequence(seq) => {
            let mut out = Vec::with_capacity(seq.len());
            for (i, v) in seq.into_iter().enumerate() {
                if let Some(v) = strip_tags(v, &format!("{path}[{i}]"))? {
                    out.push(v);
                }
            }
            Ok(Some(Value::Sequence(out)))
        }
        other => Ok(Some(other)),
    }
}

fn unsupported_tag(path: &str, tag: &str) -> ComposeError {
    ComposeError::Invalid {
        path: path.to_string(),
        message: format!("unsupported YAML tag {tag}; Compose files only use !reset and !override"),
    }
}

fn child_path(path: &str, key: &Value) -> String {
    let key = match key {
        Value::String(s) => s.clone(),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// Merges `overlay` (a later file) onto `base` (the files before it).
pub(crate) fn merge_files(base: Value, overlay: Value) -> Result<Value> {
    let (Value::Mapping(mut base), Value::Mapping(overlay)) = (base, overlay) else {
        unreachable!("both files were checked to be mappings at the top level")
    };
    for (key, value) in overlay {
        let path = child_path("", &key);
        match key.as_str() {
            Some("services") => merge_entry(&mut base, key, value, &path, merge_services)?,
            _ => merge_entry(&mut base, key, value, &path, deep_merge)?,
        }
    }
    Ok(Value::Mapping(base))
}

type Merger = fn(Value, Value, &str) -> Result<Value>;

/// Sets `base[key]` from the overlay's value: removed by `!reset`, replaced
/// by `!override`, else merged with `merger` when both exist.
fn merge_entry(
    base: &mut Mapping,
    key: Value,
    value: Value,
    path: &str,
    merger: Merger,
) -> Result<()> {
    if let Value::Tagged(tagged) = value {
        if tagged.tag == "reset" {
            base.remove(&key);
            return Ok(());
        }
        if tagged.tag == "override" {
            base.remove(&key);
            if let Some(v) = strip_tags(tagged.value, path)? {
                base.insert(key, v);
            }
            return Ok(());
        }
        return Err(unsupported_tag(path, &tagged.tag.to_string()));
    }
    match base.remove(&key) {
        Some(old) => {
            let merged = merger(old, value, path)?;
            base.insert(key, merged);
        }
        None => {
            if let Some(v) = strip_tags(value, path)? {
                base.insert(key, v);
            }
        }
    }
    Ok(())
}

fn stripped(value: Value, path: &str) -> Result<Value> {
    Ok(strip_tags(value, path)?.unwrap_or(Value::Null))
}

/// Mappings merge recursively; anything else is replaced by the overlay.
fn deep_merge(base: Value, overlay: Value, path: &str) -> Result<Value> {
    match (base, overlay) {
        (Value::Mapping(mut base), Value::Mapping(overlay)) => {
            for (key, value) in overlay {
                let child = child_path(path, &key);
                merge_entry(&mut base, key, value, &child, deep_merge)?;
            }
            Ok(Value::Mapping(base))
        }
        (_, overlay) => stripped(overlay, path),
    }
}

fn merge_services(base: Value, overlay: Value, path: &str) -> Result<Value> {
    match (base, overlay) {
        (Value::Mapping(mut base), Value::Mapping(overlay)) => {
            for (name, service) in overlay {
                let child = child_path(path, &name);
                merge_entry(&mut base, name, service, &child, merge_service)?;
            }
            Ok(Value::Mapping(base))
        }
        (_, overlay) => stripped(overlay, path),
    }
}

fn merge_service(base: Value, overlay: Value, path: &str) -> Result<Value> {
    let (mut base, overlay) = match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => (base, overlay),
        // Not mappings: the typed parse reports the wrong type.
        (_, overlay) => return stripped(overlay, path),
    };
    for (key, value) in overlay {
        let child = child_path(path, &key);
        let merger: Merger = match key.as_str().unwrap_or_default() {
            "environment" | "labels" => merge_by_key,
            "ports" | "expose" | "dns" | "cap_add" | "cap_drop" | "security_opt"
            | "extra_hosts" | "env_file" => merge_union,
            "volumes" => merge_volumes,
            "depends_on" | "networks" => merge_named_entries,
            "build" => merge_build,
            _ => deep_merge,
        };
        merge_entry(&mut base, key, value, &child, merger)?;
    }
    Ok(Value::Mapping(base))
}

/// `K=V` / `K` list entries as a map (`K` alone maps to null).
fn list_to_map(value: Value) -> Value {
    match value {
        Value::Sequence(items) => {
            let mut map = Mapping::new();
            for item in items {
                match item {
                    Value::String(s) => match s.split_once('=') {
                        Some((k, v)) => map.insert(k.into(), v.into()),
                        None => map.insert(s.into(), Value::Null),
                    },
                    other => map.insert(other, Value::Null),
                };
            }
            Value::Mapping(map)
        }
        other => other,
    }
}

fn merge_by_key(base: Value, overlay: Value, path: &str) -> Result<Value> {
    deep_merge(list_to_map(base), list_to_map(overlay), path)
}

fn as_list(value: Value) -> Vec<Value> {
    match value {
        Value::Sequence(items) => items,
        Value::Null => Vec::new(),
        single => vec![single],
    }
}

fn merge_union(base: Value, overlay: Value, path: &str) -> Result<Value> {
    let mut items = as_list(base);
    for item in as_list(overlay) {
        let Some(item) = strip_tags(item, path)? else {
            continue;
        };
        if !items.contains(&item) {
            items.push(item);
        }
    }
    Ok(Value::Sequence(items))
}

/// The container path of a volume entry, short or long syntax.
fn volume_target(entry: &Value) -> Option<String> {
    match entry {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(if parts.len() >= 2 { parts[1] } else { parts[0] }.to_string())
        }
        Value::Mapping(m) => m.get("target").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn merge_volumes(base: Value, overlay: Value, path: &str) -> Result<Value> {
    let mut items = as_list(base);
    for item in as_list(overlay) {
        let Some(item) = strip_tags(item, path)? else {
            continue;
        };
        let target = volume_target(&item);
        match items
            .iter()
            .position(|old| target.is_some() && volume_target(old) == target)
        {
            Some(i) => items[i] = item,
            None => items.push(item),
        }
    }
    Ok(Value::Sequence(items))
}

/// `depends_on` / `networks`: list form becomes `{name: null}`; entries merge
/// by name, and a bare (null) entry keeps what the base said about it.
fn merge_named_entries(base: Value, overlay: Value, path: &str) -> Result<Value> {
    let (mut base, overlay) = match (list_to_map(base), list_to_map(overlay)) {
        (Value::Mapping(base), Value::Mapping(overlay)) => (base, overlay),
        (_, overlay) => return stripped(overlay, path),
    };
    for (name, value) in overlay {
        if value.is_null() && base.contains_key(&name) {
            continue;
        }
        let child = child_path(path, &name);
        merge_entry(&mut base, name, value, &child, deep_merge)?;
    }
    Ok(Value::Mapping(base))
}

fn merge_build(base: Value, overlay: Value, path: &str) -> Result<Value> {
    fn normalise(build: Value) -> Value {
        match build {
            Value::String(context) => {
                let mut map = Mapping::new();
                map.insert("context".into(), context.into());
                Value::Mapping(map)
            }
            Value::Mapping(mut map) => {
                if let Some(args) = map.remove("args") {
                    map.insert("args".into(), list_to_map(args));
                }
                Value::Mapping(map)
            }
            other => other,
        }
    }
    deep_merge(normalise(base), normalise(overlay), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_norway::from_str(s).unwrap()
    }

    fn merged(a: &str, b: &str) -> Value {
        let base = strip_tags(yaml(a), "").unwrap().unwrap();
        merge_files(base, yaml(b)).unwrap()
    }

    #[test]
    fn service_fields_replace_and_maps_merge_by_key() {
        let m = merged(
            "services:\n  web:\n    image: a\n    command: [x, y]\n    environment: [A=1, B=2]\n    labels: {l1: a}\n",
            "services:\n  web:\n    image: b\n    command: z\n    environment: {B: 3, C: 4}\n    labels: [l2=b]\n  db:\n    image: pg\n",
        );
        let web = &m["services"]["web"];
        assert_eq!(web["image"], "b");
        assert_eq!(web["command"], "z");
        assert_eq!(web["environment"], yaml("{A: '1', B: 3, C: 4}"));
        assert_eq!(web["labels"], yaml("{l1: a, l2: b}"));
        assert_eq!(m["services"]["db"]["image"], "pg");
    }

    #[test]
    fn ports_union_and_volumes_by_target() {
        let m = merged(
            "services:\n  web:\n    ports: ['80:80', '443:443']\n    volumes: ['data:/data', './a:/a']\n",
            "services:\n  web:\n    ports: ['80:80', '8080:8080']\n    volumes: [{type: bind, source: ./b, target: /a}]\n",
        );
        let web = &m["services"]["web"];
        assert_eq!(web["ports"], yaml("['80:80', '443:443', '8080:8080']"));
        assert_eq!(
            web["volumes"],
            yaml("['data:/data', {type: bind, source: ./b, target: /a}]")
        );
    }

    #[test]
    fn named_entries_and_top_level_sections_merge() {
        let m = merged(
            "services:\n  web:\n    depends_on: [db]\n    networks: {front: {aliases: [w]}}\nnetworks:\n  front: {driver: bridge}\nname: one\n",
            "services:\n  web:\n    depends_on: {cache: {condition: service_healthy}}\n    networks: [front, back]\nnetworks:\n  front: {internal: true}\n  back:\nname: two\n",
        );
        let web = &m["services"]["web"];
        assert_eq!(
            web["depends_on"],
            yaml("{db: null, cache: {condition: service_healthy}}")
        );
        assert_eq!(web["networks"], yaml("{front: {aliases: [w]}, back: null}"));
        assert_eq!(
            m["networks"]["front"],
            yaml("{driver: bridge, internal: true}")
        );
        assert_eq!(m["name"], "two");
    }

    #[test]
    fn build_string_merges_with_map() {
        let m = merged(
            "services:\n  web:\n    build: ./app\n",
            "services:\n  web:\n    build: {target: prod, args: [V=2]}\n",
        );
        assert_eq!(
            m["services"]["web"]["build"],
            yaml("{context: ./app, target: prod, args: {V: '2'}}")
        );
    }

    #[test]
    fn reset_and_override_tags() {
        let m = merged(
            "services:\n  web:\n    image: a\n    ports: ['80:80']\n    environment: {A: 1, B: 2}\n",
            "services:\n  web:\n    ports: !reset []\n    environment: !override {C: 3}\n",
        );
        let web = &m["services"]["web"];
        assert!(web.get("ports").is_none());
        assert_eq!(web["environment"], yaml("{C: 3}"));
        let e = merge_files(
            yaml("services: {}"),
            yaml("services:\n  web:\n    image: !custom x\n"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "services.web.image: unsupported YAML tag !custom; Compose files only use !reset and !override"
        );
    }
}
