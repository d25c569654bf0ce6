//! Which files make a project, and what the project is called, as compose-go's
//! `cli` options resolve them.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::error::{ComposeError, NameSource, Result};
use crate::Diagnostic;

/// Looked for, in this order, when no file is named (compose-go's
/// `DefaultFileNames`).
pub const DEFAULT_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// Loaded after the default file, from the same directory, when present
/// (compose-go's `DefaultOverrideFileNames`).
pub const OVERRIDE_FILE_NAMES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// The Compose files to load, absolute, in merge order: the `-f` files; else
/// `COMPOSE_FILE` (split on `COMPOSE_PATH_SEPARATOR`, default `:`); else the
/// first default name found in `working_dir` or the nearest parent that has
/// one, plus its override file.
pub(crate) fn config_files(
    files: &[PathBuf],
    working_dir: &Path,
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<PathBuf>> {
    if !files.is_empty() {
        return Ok(files.iter().map(|f| clean_join(working_dir, f)).collect());
    }
    if let Some(list) = env.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
        let separator = env
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .map_or(":", String::as_str);
        return Ok(list
            .split(separator)
            .filter(|f| !f.is_empty())
            .map(|f| clean_join(working_dir, Path::new(f)))
            .collect());
    }
    let mut dir = working_dir.to_path_buf();
    loop {
        let found = existing(&dir, &DEFAULT_FILE_NAMES);
        if let Some(first) = found.first() {
            let mut chosen = vec![first.clone()];
            if found.len() > 1 {
                warnings.push(several_found(&found, "config files"));
            }
            let overrides = existing(&dir, &OVERRIDE_FILE_NAMES);
            if let Some(over) = overrides.first() {
                chosen.push(over.clone());
                if overrides.len() > 1 {
                    warnings.push(several_found(&overrides, "override files"));
                }
            }
            return Ok(chosen);
        }
        if !dir.pop() {
            return Err(ComposeError::NoComposeFile {
                dir: working_dir.to_path_buf(),
                names: DEFAULT_FILE_NAMES.join(", "),
            });
        }
    }
}

fn existing(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| path.is_file())
        .collect()
}

fn several_found(found: &[PathBuf], what: &str) -> Diagnostic {
    let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
    Diagnostic {
        path: found[0].display().to_string(),
        message: format!(
            "found several {what} with supported names ({}); using this one",
            names.join(", ")
        ),
    }
}

/// Compose's normalisation: lowercase, keep only `[a-z0-9_-]`, and drop
/// leading `_`/`-` so the name starts with a letter or digit.
pub fn normalize_project_name(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// The project name by Compose's precedence: `-p`, `COMPOSE_PROJECT_NAME`,
/// the files' `name:`, the project directory's name; then normalised.
pub(crate) fn project_name(
    option: Option<&str>,
    env: &BTreeMap<String, String>,
    from_file: Option<&str>,
    project_dir: &Path,
) -> Result<String> {
    let dir_name = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (given, source) = if let Some(name) = option.filter(|n| !n.is_empty()) {
        (name.to_string(), NameSource::Option)
    } else if let Some(name) = env.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()) {
        (name.clone(), NameSource::Environment)
    } else if let Some(name) = from_file.filter(|n| !n.is_empty()) {
        (name.to_string(), NameSource::File)
    } else {
        (dir_name, NameSource::Directory)
    };
    let name = normalize_project_name(&given);
    if name.is_empty() {
        return Err(ComposeError::ProjectName {
            given,
            source_of_name: source,
        });
    }
    Ok(name)
}

/// `base` joined with `path` and cleaned lexically (`.` dropped, `..` pops),
/// as Go's `filepath.Join`; an absolute `path` ignores `base`.
pub(crate) fn clean_join(base: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    let joined = base.join(path);
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                // `..` at the root stays at the root.
                if out.parent().is_some() {
                    out.pop();
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("__-web_1-x"), "web_1-x");
        assert_eq!(normalize_project_name("Wharf-Demo"), "wharf-demo");
        assert_eq!(normalize_project_name("ÄÖ!"), "");
        assert_eq!(normalize_project_name("--"), "");
    }

    #[test]
    fn name_precedence() {
        let dir = Path::new("/home/me/My Project");
        let mut env = BTreeMap::new();
        assert_eq!(project_name(None, &env, None, dir).unwrap(), "myproject");
        assert_eq!(
            project_name(None, &env, Some("FromFile"), dir).unwrap(),
            "fromfile"
        );
        env.insert("COMPOSE_PROJECT_NAME".to_string(), "from_env".to_string());
        assert_eq!(
            project_name(None, &env, Some("FromFile"), dir).unwrap(),
            "from_env"
        );
        assert_eq!(
            project_name(Some("Opt"), &env, Some("FromFile"), dir).unwrap(),
            "opt"
        );
        let e = project_name(Some("!!!"), &env, None, dir).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid project name \"!!!\" (from -p): nothing is left after keeping only \
             lowercase letters, digits, '-' and '_' and dropping leading '-' and '_'; \
             choose a name like \"myapp\" with -p"
        );
        let e = project_name(None, &BTreeMap::new(), None, Path::new("/srv/__")).unwrap_err();
        assert!(
            e.to_string()
                .contains("(from the project directory's name)"),
            "{e}"
        );
    }

    #[test]
    fn paths_join_and_clean() {
        let base = Path::new("/p/app");
        assert_eq!(
            clean_join(base, Path::new("./data")),
            Path::new("/p/app/data")
        );
        assert_eq!(clean_join(base, Path::new("../x/./y")), Path::new("/p/x/y"));
        assert_eq!(clean_join(base, Path::new("/abs")), Path::new("/abs"));
        assert_eq!(clean_join(base, Path::new("../../../..")), Path::new("/"));
    }
}
