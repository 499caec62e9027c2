//! Kernel settings against floods and spoofing: what `rampart harden` checks,
//! recommends, applies and persists.
//!
//! Central types:
//! - [`Setting`] and [`SETTINGS`]: the table, as data: each sysctl key with a
//!   [`Target`] (an exact value, a floor or a ceiling; floors may be sized
//!   from memory, [`Amount::PerMemory`]), its [`Scope`] (per network
//!   namespace or host-wide) and its reason;
//! - [`Proc`]: the settings as files under a proc root (`/proc`, or a fake
//!   tree in tests), and the [`Facts`] (memory, namespace) they depend on;
//! - [`Plan`]: each setting's current value against its recommendation, and
//!   what would change; [`apply`] writes the changes and persists the result
//!   in [`CONF_FILE`] (`90-rampart.conf`) of a sysctl directory.
//!
//! ```text
//!  SETTINGS ─┐
//!  Proc ─────┼─▶ plan() ─▶ Plan { checks: [Check { current, recommended, status, reason }] }
//!  Facts ────┘                 │
//!                              └─▶ apply(plan, proc, Some(dir)) ─▶ /proc/sys writes,
//!                                                                  dir/90-rampart.conf
//! ```
//!
//! Inside a network namespace other than the initial one, host-wide
//! settings ([`Scope::Host`]: the conntrack table's size) are read-only: the
//! plan marks them [`Status::HostWide`] and applying leaves them alone; every
//! other setting here is per namespace, so applying changes that namespace
//! only.
//!
//! ```
//! use rampart_harden::{plan, Facts, Proc, Status, SETTINGS};
//!
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("sys/net/ipv4/tcp_syncookies");
//! std::fs::create_dir_all(file.parent().unwrap())?;
//! std::fs::write(&file, "0\n")?;
//! let facts = Facts { mem_bytes: 8 << 30, initial_netns: true };
//! let plan = plan(SETTINGS, &Proc::new(dir.path()), facts);
//! let syncookies = &plan.checks[0];
//! assert_eq!(syncookies.key, "net.ipv4.tcp_syncookies");
//! assert_eq!((syncookies.status, syncookies.set_to), (Status::Change, Some(1)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod plan;
mod proc;
mod settings;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use plan::{apply, plan, Applied, Changed, Check, Failed, Plan, Status, CONF_FILE};
pub use proc::{Facts, Proc, PROC_NET_INIT_INO};
pub use settings::{setting, Amount, Scope, Setting, Target, SETTINGS};

/// What can go wrong reading, writing or persisting settings.
#[derive(Debug)]
#[non_exhaustive]
pub enum HardenError {
    /// A file under the proc root could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The kernel refused a value.
    Write {
        /// The setting.
        key: String,
        /// The value.
        value: i64,
        /// Why.
        source: io::Error,
    },
    /// `meminfo` has no readable MemTotal line.
    Meminfo(PathBuf),
    /// The sysctl.d file could not be written.
    Conf {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl fmt::Display for HardenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HardenError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            HardenError::Write { key, value, source } => {
                write!(f, "cannot set {key} = {value}: {source}")
            }
            HardenError::Meminfo(path) => {
                write!(f, "{}: no `MemTotal: N kB` line", path.display())
            }
            HardenError::Conf { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
        }
    }
}

/// The message already says why (the OS error), so there is no separate
/// source to print twice.
impl std::error::Error for HardenError {}
