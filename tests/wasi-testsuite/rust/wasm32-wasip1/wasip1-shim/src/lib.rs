//! Re-exports the `wasi` 0.11 crate under the name `wasip1`, as upstream's Buck
//! build does.
pub use wasi::*;
