//! [`serve`]: the whole daemon from its settings: allowlist discovered, store opened,
//! bans restored, observers started, the loop run until SIGTERM.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use rampart_enforce::{Enforcer, Kernel};
use rampart_guard::{GuardConfig, SqliteStore};
use rampart_kernel::StateDir;
use rampart_logs::Start;
use rampart_prefix::Prefix;

use crate::daemon::{Daemon, FleetSide, Sink};
use crate::feed::{file_observer, journal_observer, Feeds, JournalFeed, LogFeed, Observers};
use crate::fleet::FleetLink;
use crate::log::Log;
use crate::sd::{watchdog_interval, Notify};
use crate::sinks::{notify_config, Metrics, Notices, Sinks};

/// Messages queued between the observers and the loop at most (about 100 bytes each).
pub const QUEUE: usize = 65_536;
/// The database under the state directory.
pub const DB_FILE: &str = "guard.db";
/// How often the sockets are read (sock_diag): twice a second, so that a source holding
/// too many connections is banned within a second of crossing the limit.
pub const SOCKET_SCAN: Duration = Duration::from_millis(500);

/// The kernel's own bans (`[flood]` limits with `action = "ban"`), from the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelBans {
    /// The NFLOG group they are reported to.
    pub log_group: u16,
    /// Each limit's ban time, in seconds.
    pub ban_secs: HashMap<String, u32>,
    /// `[flood] ban_time`.
    pub default_secs: u32,
}

/// What the daemon needs to start.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The `[guard]` table.
    pub config: GuardConfig,
    /// The state directory (the database, the block lists, the bans' journal).
    pub state: StateDir,
    /// The policy's `allow_from`, with why.
    pub allow_from: Vec<(Prefix, String)>,
    /// The policy's kernel bans, if it has `[flood]`.
    pub kernel_bans: Option<KernelBans>,
    /// `SSH_CONNECTION`, for the admin's source when sessions cannot be read.
    pub ssh_connection: Option<String>,
    /// Log files without a saved position are read from their first line.
    pub from_start: bool,
    /// The policy's `[fleet]` table, if this server is in a fleet.
    pub fleet: Option<rampart_fleet::FleetConfig>,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The allow ranges file.
    #[error("allow range file {path}: {message}")]
    AllowFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The store.
    #[error(transparent)]
    Store(#[from] rampart_guard::StoreError),
    /// Starting the observers.
    #[error("starting the observers: {0}")]
    Observers(std::io::Error),
    /// The metrics address.
    #[error("[guard.metrics] listen {addr}: {source}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The notices.
    #[error(transparent)]
    Notify(#[from] crate::sinks::NotifySetupError),
}

/// The feeds the config asks for.
pub fn feeds(config: &GuardConfig, kernel: Option<&KernelBans>, from_start: bool) -> Feeds {
    Feeds {
        logs: config
            .logs
            .iter()
            .map(|l| LogFeed {
                path: PathBuf::from(&l.path),
                source: l.source,
            })
            .collect(),
        journals: config
            .journal
            .iter()
            .map(|j| JournalFeed {
                unit: j.unit.clone(),
                source: j.source,
            })
            .collect(),
        sockets: config.sockets.then_some(SOCKET_SCAN),
        conntrack: config.conntrack,
        nflog_group: kernel.filter(|_| config.kernel_bans).map(|k| k.log_group),
        kernel_ban_secs: kernel.map(|k| k.ban_secs.clone()).unwrap_or_default(),
        default_kernel_ban_secs: kernel.map(|k| k.default_secs).unwrap_or(3600),
        start: if from_start {
            Start::Beginning
        } else {
            Start::End
        },
    }
}

/// The config's allow ranges, its files read: each with why.
pub fn allow_ranges(config: &GuardConfig) -> Result<Vec<(Prefix, String)>, ServeError> {
    let mut out: Vec<(Prefix, String)> = config
        .allow
        .ranges
        .iter()
        .map(|p| (*p, "[guard] allow".to_string()))
        .collect();
    for f in &config.allow.files {
        let text = std::fs::read_to_string(f).map_err(|e| ServeError::AllowFile {
            path: f.clone(),
            message: e.to_string(),
        })?;
        let ranges =
            rampart_guard::config::parse_ranges(f, &text).map_err(|e| ServeError::AllowFile {
                path: f.clone(),
                message: e.to_string(),
            })?;
        out.extend(
            ranges
                .into_iter()
                .map(|p| (p, format!("[guard] allow file {f}"))),
        );
    }
    Ok(out)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs the daemon until `stop` (see [`crate::stop_flag`]); returns the bans it made.
pub fn serve(setup: Setup, stop: &AtomicBool) -> Result<u64, ServeError> {
    let log = Log::new();
    let mut extra = setup.allow_from.clone();
    extra.extend(allow_ranges(&setup.config)?);
    let (allow, warnings) =
        rampart_enforce::discover_allowlist(setup.ssh_connection.as_deref(), extra);
    for w in warnings {
        log.line(4, &format!("warning: {w}"));
    }
    let never: Vec<(Prefix, String)> = allow
        .entries
        .iter()
        .map(|a| (a.prefix, a.why.clone()))
        .collect();
    let db = setup.state.path(DB_FILE);
    // The state directory, root's only, as `up` makes it (a first start may come first).
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(setup.state.root())
        .map_err(|e| rampart_guard::StoreError {
            path: setup.state.root().display().to_string(),
            message: format!("cannot create the state directory: {e}"),
        })?;
    let store = SqliteStore::open(&db)?;
    let engine = rampart_guard::Guard::new(setup.config.clone(), never);
    let enforcer = Enforcer::new(setup.state.clone(), Kernel::default());
    let mut daemon = Daemon::new(engine, store, enforcer, allow);
    let (tx, rx) = sync_channel(QUEUE);
    let mut fleet_link = None;
    if let Some(f) = &setup.fleet {
        let (ftx, frx) = std::sync::mpsc::channel();
        let side = FleetSide::new(ftx, f.server(), f.min_prefix_v4, f.min_prefix_v6);
        daemon = daemon.with_fleet(side);
        fleet_link = Some((f.clone(), frx));
    }
    let restored = daemon.restore(now_secs(), setup.config.ban.forget_secs)?;
    let fleet_link = match fleet_link {
        Some((f, frx)) => Some(
            FleetLink::start(f, db.clone(), daemon.fleet_cursor(), tx.clone(), frx)
                .map_err(ServeError::Observers)?,
        ),
        None => None,
    };
    let feeds = feeds(&setup.config, setup.kernel_bans.as_ref(), setup.from_start);
    let mut names: Vec<String> = feeds.logs.iter().map(|l| file_observer(&l.path)).collect();
    names.extend(feeds.journals.iter().map(|j| journal_observer(&j.unit)));
    let positions = daemon.positions(&names);
    let observers = Observers::start(&feeds, &positions, tx).map_err(ServeError::Observers)?;
    log.line(
        6,
        &format!(
            "guard started: {restored} running decisions restored, database {}, watching {}",
            db.display(),
            feeds.describe()
        ),
    );
    let mut sinks = Sinks {
        log,
        others: Vec::new(),
    };
    let metrics_server = match setup.config.metrics {
        Some(addr) => {
            let registry = rampart_metrics::Registry::new();
            sinks.others.push(Box::new(Metrics::new(&registry)));
            let server = rampart_metrics::MetricsServer::start(registry, addr)
                .map_err(|source| ServeError::Metrics { addr, source })?;
            sinks.log.line(
                6,
                &format!("metrics on http://{}/metrics", server.local_addr()),
            );
            Some(server)
        }
        None => None,
    };
    let notifier = match notify_config(&setup.config.notify)? {
        Some(c) => {
            let journal = std::env::var_os("JOURNAL_STREAM").is_some();
            let n = rampart_notify::Notifier::start(c, move |e| {
                crate::log::line(journal, 5, &e.to_string())
            })
            .map_err(|e| crate::sinks::NotifySetupError(e.to_string()))?;
            Some(n)
        }
        None => None,
    };
    if let Some(n) = notifier {
        sinks.others.push(Box::new(Notices(Some(n))));
    }
    let notify = Notify::from_env();
    daemon.run(rx, stop, notify.as_ref(), watchdog_interval(), &mut sinks);
    observers.stop();
    if let Some(link) = fleet_link {
        link.stop();
    }
    // The notices still waiting go out now (a digest is not lost to a restart).
    sinks.finish();
    let bans = sinks.log.bans;
    if let Some(m) = metrics_server {
        m.stop();
    }
    sinks.log.line(
        6,
        &format!("guard stopped after {bans} bans; the kernel keeps every running ban"),
    );
    Ok(bans)
}
