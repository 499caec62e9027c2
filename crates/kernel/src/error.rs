//! Errors of the kernel crate.

use std::path::PathBuf;

/// Everything that can go wrong applying, reading or saving our table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The nft command line is empty.
    #[error("no nft program configured")]
    NoProgram,
    /// nft could not be started.
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// nft refused a command; for a transaction nothing was changed.
    #[error("nft rejected the {stage}: {}", stderr.trim_end())]
    Rejected {
        /// `check`, `apply`, `list` or `down`.
        stage: &'static str,
        /// nft's message, line numbers mapped to the script where possible.
        stderr: String,
        /// The 1-based lines of the script nft pointed at (for mapping back to the
        /// policy's own source through the compiler's provenance).
        lines: Vec<usize>,
    },
    /// The script is not one `table inet rampart { ... }` block.
    #[error("not a rampart script: {0}")]
    Script(String),
    /// A state file could not be read or written.
    #[error("{path}")]
    State {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A state file or the state directory could be changed by another user: not loaded.
    #[error(transparent)]
    Untrusted(#[from] rampart_safeio::Untrusted),
    /// A commit-confirmed apply is waiting for `rampart confirm`.
    #[error("an apply is waiting for confirmation (deadline in {remaining_secs} s); run `rampart confirm` or wait for the rollback")]
    Pending {
        /// Seconds left before the rollback.
        remaining_secs: u64,
    },
    /// The rollback watcher did not start, so nothing may be applied.
    #[error("the rollback watcher did not start: {why}")]
    WatcherNotStarted {
        /// What was seen.
        why: String,
    },
    /// `rampart confirm` found nothing to confirm.
    #[error("no apply is waiting for confirmation (it was confirmed, or it has already been rolled back)")]
    NothingPending,
    /// Nothing has been saved or applied yet.
    #[error("no saved table in {0} (run `rampart save` after an apply)")]
    NothingSaved(PathBuf),
    /// The kernel could not be asked over netlink.
    #[error("reading the kernel's table over netlink: {0}")]
    Netlink(#[from] rampart_nfnl::Error),
    /// `nft -j` output could not be read.
    #[error("cannot read nft JSON output: {0}")]
    Json(String),
}

impl From<rampart_safeio::FileError> for Error {
    fn from(e: rampart_safeio::FileError) -> Error {
        Error::State {
            path: e.path,
            source: e.source,
        }
    }
}

impl From<rampart_safeio::TrustError> for Error {
    fn from(e: rampart_safeio::TrustError) -> Error {
        match e {
            rampart_safeio::TrustError::Untrusted(u) => u.into(),
            rampart_safeio::TrustError::Io(e) => e.into(),
        }
    }
}
