//! What can go wrong while enforcing: one variant per failure, carrying what failed.

use std::path::Path;

use rampart_block::{Conflict, ListError};
use rampart_prefix::Prefix;

/// An enforcement error. Nothing was changed in the store when one is returned, except
/// where the variant says otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the store failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A stored file or the store's directory could be changed by another user: not loaded.
    #[error(transparent)]
    Untrusted(#[from] rampart_safeio::Untrusted),
    /// A stored file, a list name or a target is malformed.
    #[error(transparent)]
    List(#[from] ListError),
    /// The kernel refused or could not be reached over netlink.
    #[error("the kernel's sets: {0}")]
    Netlink(#[from] rampart_nfnl::Error),
    /// nft refused the block layout, or a state file could not be written.
    #[error(transparent)]
    Kernel(#[from] rampart_kernel::Error),
    /// Targets that would block allowlisted addresses.
    #[error("refusing to block allowlisted addresses:{}\n  remedy: leave them out (block the rest with a range or --allow), or give --force", list(.0))]
    Allowlisted(Vec<Conflict>),
    /// Loopback cannot be blocked, even with --force: traffic on `lo` is never dropped.
    #[error("{0} is loopback: rampart never blocks loopback (traffic on lo is always accepted)")]
    Loopback(Prefix),
    /// A timed ban was asked for a network.
    #[error("a timed ban takes single addresses; {0} is a network\n  remedy: leave out --timeout (lists of networks are permanent, `rampart block del` lifts them)")]
    TimedNetwork(Prefix),
    /// The ruleset given to [`crate::BlockModel::add_to`] already has a set or chain of
    /// the block layout's names.
    #[error("the ruleset already has a {0}, a name rampart's block lists use")]
    NameTaken(String),
    /// A list that is not stored.
    #[error("there is no list {0} (see `rampart block lists`)")]
    NoSuchList(String),
}

fn list(conflicts: &[Conflict]) -> String {
    conflicts.iter().map(|c| format!("\n  {c}")).collect()
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: crate::store::show(path),
            source,
        }
    }
}

impl From<rampart_safeio::FileError> for Error {
    fn from(e: rampart_safeio::FileError) -> Error {
        Error::io(&e.path, e.source)
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
