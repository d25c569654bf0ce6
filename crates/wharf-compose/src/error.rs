//! Errors of loading a Compose project. Each says what was wrong, where
//! (file, line, or key path like `services.web.ports[0]`), and what to do.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// `Result` with a [`ComposeError`].
pub type Result<T> = std::result::Result<T, ComposeError>;

/// Why a project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(
        "no Compose file found in {dir} or its parent directories (looked for {names}); \
         create compose.yaml or name a file with -f"
    )]
    NoComposeFile { dir: PathBuf, names: String },

    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("{file}: YAML syntax error at line {line}, column {column}: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },

    #[error("{file}: {path}: {message}")]
    Interpolation {
        file: PathBuf,
        path: String,
        message: String,
    },

    #[error("{file}, line {line}: {message}")]
    EnvFile {
        file: PathBuf,
        line: usize,
        message: String,
    },

    #[error(
        "invalid project name {given:?} (from {source_of_name}): nothing is left after keeping \
         only lowercase letters, digits, '-' and '_' and dropping leading '-' and '_'; \
         choose a name like \"myapp\" with -p"
    )]
    ProjectName {
        given: String,
        source_of_name: NameSource,
    },

    /// A value that does not parse or is of the wrong type.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },

    #[error("the Compose file(s) {files} define no services; add a `services:` section")]
    NoServices { files: String },

    #[error(
        "service {service:?} has neither `image` nor `build`; give it an image to run \
         or a build context"
    )]
    NoImage { service: String },

    #[error(
        "service {service:?} depends on undefined service {dependency:?}; define it under \
         `services:` or remove it from depends_on (or mark it `required: false`)"
    )]
    UnknownDependency { service: String, dependency: String },

    #[error("dependency cycle between services: {cycle}; remove one of these depends_on entries")]
    DependencyCycle { cycle: String },

    #[error(
        "service {service:?} refers to undefined network {network:?}; declare it under \
         the top-level `networks:` section"
    )]
    UndefinedNetwork { service: String, network: String },

    #[error(
        "service {service:?} refers to undefined volume {volume:?}; declare it under \
         the top-level `volumes:` section"
    )]
    UndefinedVolume { service: String, volume: String },

    #[error("no such service: {name:?} (the project's services are: {known})")]
    NoSuchService { name: String, known: String },
}

/// Where a project name came from, for [`ComposeError::ProjectName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    /// `-p NAME`.
    Option,
    /// `COMPOSE_PROJECT_NAME`.
    Environment,
    /// The top-level `name:`.
    File,
    /// The directory of the first Compose file.
    Directory,
}

impl fmt::Display for NameSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameSource::Option => "-p",
            NameSource::Environment => "COMPOSE_PROJECT_NAME",
            NameSource::File => "the top-level `name:`",
            NameSource::Directory => "the project directory's name",
        })
    }
}

pub(crate) fn invalid(path: &str, message: impl Into<String>) -> ComposeError {
    ComposeError::Invalid {
        path: path.to_string(),
        message: message.into(),
    }
}
