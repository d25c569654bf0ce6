//! Bounds on how far a compressed layer may expand.
//!
//! A gzip or zstd stream of zeros expands about a thousand times (zstd far
//! more), so a small hostile blob could fill the disk when unpacked, or
//! keep a process hashing for hours while it holds the store lock. Real
//! layers compress by 2-10 times; [`MAX_RATIO`] leaves a wide margin, and
//! [`FLOOR`] lets small, very repetitive layers through whatever their
//! ratio. Both the load's diff-id check and the snapshot extractor read
//! layers through an [`ExpansionMeter`], so a bomb is refused before it is
//! unpacked.

use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A layer may expand to this many times its compressed size...
pub const MAX_RATIO: u64 = 100;
/// ...or to this many bytes, whichever is more.
pub const FLOOR: u64 = 128 << 20;

/// What a refused layer did: carried by the I/O error the meter returns,
/// and kept by the meter (see [`ExpansionMeter::exceeded`]) because tar
/// readers may wrap the I/O error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooExpanded {
    /// Compressed bytes (the blob's size, or those read so far).
    pub compressed: u64,
    /// Uncompressed bytes read when the limit was crossed.
    pub expanded: u64,
}

impl fmt::Display for TooExpanded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "it expands to more than {} from {} compressed, over {MAX_RATIO} times its size (and past {}); \
             a layer that expands this much is a decompression bomb, not a filesystem: refused, nothing of it was kept",
            human(self.expanded),
            human(self.compressed),
            human(FLOOR)
        )
    }
}

impl std::error::Error for TooExpanded {}

/// Bytes in binary units, for messages.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Counts a layer's compressed and uncompressed bytes and fails the
/// uncompressed side once it passes the limit. Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct ExpansionMeter {
    /// The blob's size when known up front (a stored blob).
    known: Option<u64>,
    compressed: Arc<AtomicU64>,
    tripped: Arc<AtomicBool>,
    expanded_at_trip: Arc<AtomicU64>,
}

impl ExpansionMeter {
    /// A meter for a blob of `size` compressed bytes.
    pub fn for_blob(size: u64) -> ExpansionMeter {
        ExpansionMeter {
            known: Some(size),
            ..ExpansionMeter::default()
        }
    }

    /// A meter for a stream of unknown length: wrap the compressed input in
    /// [`ExpansionMeter::input`] so the ratio is taken against what was read.
    pub fn for_stream() -> ExpansionMeter {
        ExpansionMeter::default()
    }

    /// Wraps the compressed input (only needed for [`Self::for_stream`]).
    pub fn input<R: Read>(&self, inner: R) -> MeteredInput<R> {
        MeteredInput {
            inner,
            count: self.compressed.clone(),
        }
    }

    /// Wraps the uncompressed output: reads past the limit fail.
    pub fn output<R: Read>(&self, inner: R) -> MeteredOutput<R> {
        MeteredOutput {
            inner,
            meter: self.clone(),
            expanded: 0,
        }
    }

    /// The most the layer may expand to, given what is known now.
    fn limit(&self) -> u64 {
        let compressed = self
            .known
            .unwrap_or_else(|| self.compressed.load(Ordering::Relaxed));
        compressed.saturating_mul(MAX_RATIO).max(FLOOR)
    }

    /// Set once the output crossed the limit.
    pub fn exceeded(&self) -> Option<TooExpanded> {
        self.tripped.load(Ordering::Relaxed).then(|| TooExpanded {
            compressed: self
                .known
                .unwrap_or_else(|| self.compressed.load(Ordering::Relaxed)),
            expanded: self.expanded_at_trip.load(Ordering::Relaxed),
        })
    }
}

/// The compressed side of an [`ExpansionMeter`].
pub struct MeteredInput<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for MeteredInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The uncompressed side of an [`ExpansionMeter`].
pub struct MeteredOutput<R> {
    inner: R,
    meter: ExpansionMeter,
    expanded: u64,
}

impl<R: Read> Read for MeteredOutput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.expanded += n as u64;
        if self.expanded > self.meter.limit() {
            self.meter
                .expanded_at_trip
                .store(self.expanded, Ordering::Relaxed);
            self.meter.tripped.store(true, Ordering::Relaxed);
            let e = self.meter.exceeded().expect("just tripped");
            return Err(io::Error::other(e));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_may_expand_to_the_floor_or_the_ratio() {
        let m = ExpansionMeter::for_blob(2 << 20);
        let mut r = m.output(io::repeat(0).take(MAX_RATIO << 21));
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), MAX_RATIO << 21);
        assert!(m.exceeded().is_none());

        let m = ExpansionMeter::for_blob(2 << 20);
        let mut r = m.output(io::repeat(0).take((MAX_RATIO << 21) + 1));
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(e.to_string().contains("decompression bomb"), "{e}");
        assert_eq!(m.exceeded().unwrap().compressed, 2 << 20);

        let m = ExpansionMeter::for_blob(10);
        let mut r = m.output(io::repeat(0).take(FLOOR));
        io::copy(&mut r, &mut io::sink()).unwrap();
    }
}
