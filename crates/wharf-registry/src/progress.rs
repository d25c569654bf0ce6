//! One progress bar per blob on a terminal; nothing otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub(crate) fn new(wanted: bool) -> Progress {
        // SAFETY: isatty has no preconditions.
        let tty = unsafe { libc::isatty(2) } == 1;
        Progress {
            multi: (wanted && tty)
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A bar for one blob (`verb` like "Pulling"), or a hidden one.
    pub(crate) fn bar(&self, verb: &str, digest: &str, size: u64) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let short = digest.trim_start_matches("sha256:");
        let short = &short[..short.len().min(12)];
        let pb = multi.add(ProgressBar::new(size));
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} {msg:<10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("valid progress template")
            .progress_chars("=> "),
        );
        pb.set_prefix(short.to_string());
        pb.set_message(verb.to_string());
        pb
    }
}
