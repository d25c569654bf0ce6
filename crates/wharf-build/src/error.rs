//! The crate's error type and the two ways builds construct one: an I/O
//! failure with what was being done, and a refused step naming its line.

use std::io;

use crate::dockerfile::Instruction;

/// Build errors. Every message names the Dockerfile line (or file) and what
/// to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Dockerfile line {line}: {message}")]
    Parse { line: usize, message: String },
    #[error("Dockerfile line {line} ({instruction}): {message}")]
    Step {
        line: usize,
        instruction: String,
        message: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Image(#[from] wharf_image::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(context: impl Into<String>, source: io::Error) -> Error {
    Error::Io {
        context: context.into(),
        source,
    }
}

/// The error of instruction `ins`, so the message names its line and
/// keyword.
pub(crate) fn step_err(ins: &Instruction, message: impl Into<String>) -> Error {
    Error::Step {
        line: ins.line,
        instruction: ins.keyword().to_string(),
        message: message.into(),
    }
}
