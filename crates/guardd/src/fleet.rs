//! The fleet link: two threads, each with its own connection to the shared store. The
//! publisher waits on the daemon's queue and publishes this server's decisions (and its
//! refusals) the moment they are recorded; the follower waits on `NOTIFY`, reads the
//! fleet's change feed after its cursor, hands what it reads to the daemon's loop as
//! [`Msg::Fleet`], and reports its heartbeat.
//!
//! The store being down changes nothing already enforced: the thread retries every few
//! seconds; on reconnect it publishes again every running local decision (publication is
//! idempotent, so nothing is doubled) and reads the feed from the cursor the daemon saved
//! after enforcing (so nothing is missed, and what was enforced is skipped by its key).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart_fleet::{Change, Fleet, FleetConfig, FleetDecision};
use rampart_guard::{Decision, DecisionStore, FleetRef, Origin, SqliteStore, Target};
use rampart_prefix::Prefix;

use crate::feed::Msg;

/// The observer name the fleet's cursor is saved under (in the guard's database).
pub const FLEET_POSITION: &str = "fleet";
/// How long a thread waits (for a notification, for the queue) before looking at the
/// stop flag.
const WAIT: Duration = Duration::from_millis(200);
/// How often it reports to the fleet (`rampart fleet status`'s last contact).
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Refusals kept for reporting while the store is away, at most.
const MAX_PENDING: usize = 1_000;
/// The longest pause between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the daemon tells the fleet thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToFleet {
    /// Decisions of this server, recorded under these local ids: to publish.
    Publish(Vec<(i64, Decision)>),
    /// A fleet decision this server refused, and why.
    Refused {
        /// Its key.
        key: FleetRef,
        /// Its target.
        target: Target,
        /// Why.
        why: String,
    },
    /// The changes up to here are enforced (and the cursor saved).
    Enforced(i64),
}

/// One change for the daemon, with a list's prefixes read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetChange {
    /// A decision published or lifted.
    Decision(FleetDecision),
    /// A shared list, whole.
    List {
        /// Its name.
        name: String,
        /// Its prefixes.
        prefixes: Vec<Prefix>,
    },
}

/// Changes read from the fleet, in order, and the cursor that covers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetBatch {
    /// The changes.
    pub changes: Vec<FleetChange>,
    /// Save this once they are enforced.
    pub cursor: i64,
}

/// The running fleet threads.
pub struct FleetLink {
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl FleetLink {
    /// Starts the threads: they connect with `config`; the publisher republishes from the
    /// database at `db` on each connection and then takes the daemon's [`ToFleet`] from
    /// `rx`; the follower reads the feed after `cursor` and sends it to `msgs`.
    pub fn start(
        config: FleetConfig,
        db: PathBuf,
        cursor: i64,
        msgs: SyncSender<Msg>,
        rx: Receiver<ToFleet>,
    ) -> std::io::Result<FleetLink> {
        let shared = Shared {
            config,
            msgs,
            stop: Arc::new(AtomicBool::new(false)),
            enforced: Arc::new(AtomicI64::new(cursor)),
        };
        let stop = shared.stop.clone();
        let publisher = Publisher {
            shared: shared.clone(),
            db,
            rx,
        };
        let follower = Follower {
            shared,
            cursor,
            last_beat: None,
        };
        let threads = vec![
            std::thread::Builder::new()
                .name("fleet-publish".into())
                .spawn(move || publisher.run())?,
            std::thread::Builder::new()
                .name("fleet-follow".into())
                .spawn(move || follower.run())?,
        ];
        Ok(FleetLink { threads, stop })
    }

    /// Stops the threads (at their next wait) and waits for them.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

#[derive(Clone)]
struct Shared {
    config: FleetConfig,
    msgs: SyncSender<Msg>,
    stop: Arc<AtomicBool>,
    /// What the daemon has enforced (its saved cursor).
    enforced: Arc<AtomicI64>,
}

/// Why a connected session ended.
enum End {
    Stopped,
    Lost(String),
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn say(&self, text: String) {
        let _ = self.msgs.send(Msg::Trouble(text));
    }

    /// Runs `session` on each new connection until stopped, `away` while there is none.
    /// With `speak`, says when it connects, loses the connection, or cannot connect
    /// (once per distinct reason): one thread speaks for the link.
    fn connected(
        &self,
        speak: bool,
        mut session: impl FnMut(Fleet) -> End,
        mut away: impl FnMut(),
    ) {
        let mut backoff = Duration::from_millis(500);
        let mut last_error = String::new();
        while !self.stopped() {
            match Fleet::connect(&self.config).and_then(|mut f| f.check_schema().map(|_| f)) {
                Ok(fleet) => {
                    if speak {
                        let _ = self.msgs.send(Msg::Note(format!(
                            "fleet: connected to {} as {}",
                            fleet.endpoint(),
                            fleet.server()
                        )));
                    }
                    last_error.clear();
                    backoff = Duration::from_millis(500);
                    match session(fleet) {
                        End::Stopped => return,
                        End::Lost(why) if speak => self.say(format!(
                            "fleet: connection lost ({why}); enforcing what this server has, retrying"
                        )),
                        End::Lost(_) => {}
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    if speak && text != last_error {
                        self.say(format!(
                            "{text}; enforcing what this server has, retrying every few seconds"
                        ));
                    }
                    last_error = text;
                }
            }
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.stopped() {
                away();
                std::thread::sleep(Duration::from_millis(50));
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Publishes what the daemon records, the moment it is recorded.
struct Publisher {
    shared: Shared,
    db: PathBuf,
    rx: Receiver<ToFleet>,
}

impl Publisher {
    fn run(self) {
        let (shared, db, rx) = (&self.shared, &self.db, &self.rx);
        let enforced = shared.enforced.clone();
        // Refusals not yet reported (kept across an outage, at most MAX_PENDING); decisions
        // need no such queue: they are published again from the database on reconnect.
        let pending = std::cell::RefCell::new(std::collections::VecDeque::<ToFleet>::new());
        let keep = |m: ToFleet| match m {
            ToFleet::Enforced(c) => enforced.store(c, Ordering::Relaxed),
            ToFleet::Publish(_) => {}
            refused => {
                let mut p = pending.borrow_mut();
                if p.len() < MAX_PENDING {
                    p.push_back(refused);
                }
            }
        };
        shared.connected(
            false,
            |mut fleet| {
                if let Err(e) = republish(&mut fleet, db) {
                    return End::Lost(e);
                }
                loop {
                    let queued = pending.borrow_mut().pop_front();
                    let m = match queued {
                        Some(m) => m,
                        None => match rx.recv_timeout(WAIT) {
                            Ok(m) => m,
                            Err(RecvTimeoutError::Timeout) if shared.stopped() => {
                                return End::Stopped
                            }
                            Err(RecvTimeoutError::Timeout) => continue,
                            Err(RecvTimeoutError::Disconnected) => return End::Stopped,
                        },
                    };
                    let done = match &m {
                        ToFleet::Publish(ds) => {
                            let refs: Vec<(i64, &Decision)> =
                                ds.iter().map(|(id, d)| (*id, d)).collect();
                            fleet.publish(&refs).map(drop)
                        }
                        ToFleet::Refused { key, target, why } => {
                            fleet.report_refusal(key, target, why)
                        }
                        ToFleet::Enforced(c) => {
                            enforced.store(*c, Ordering::Relaxed);
                            Ok(())
                        }
                    };
                    if let Err(e) = done {
                        keep(m);
                        return End::Lost(e.why);
                    }
                }
            },
            || {
                while let Ok(m) = rx.try_recv() {
                    keep(m);
                }
            },
        );
    }
}

/// Every running decision of this server's own, published (again: idempotent).
fn republish(fleet: &mut Fleet, db: &std::path::Path) -> Result<(), String> {
    let store = SqliteStore::open(db).map_err(|e| e.to_string())?;
    let now = rampart_fleet::now();
    let own: Vec<(i64, Decision)> = store
        .active(now)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|s| s.decision.origin != Origin::Fleet)
        .map(|s| (s.id, s.decision))
        .collect();
    for chunk in own.chunks(10_000) {
        let refs: Vec<(i64, &Decision)> = chunk.iter().map(|(id, d)| (*id, d)).collect();
        fleet.publish(&refs).map_err(|e| e.why)?;
    }
    Ok(())
}

/// Follows the fleet's change feed.
struct Follower {
    shared: Shared,
    /// What has been read (and sent to the daemon).
    cursor: i64,
    last_beat: Option<Instant>,
}

impl Follower {
    fn run(mut self) {
        let shared = self.shared.clone();
        shared.connected(true, |fleet| self.session(fleet), || {});
    }

    /// Connected: catch up from what the daemon enforced (what was read but not enforced
    /// when the connection dropped is read again; the daemon skips what it has by key),
    /// then follow.
    fn session(&mut self, mut fleet: Fleet) -> End {
        if let Err(e) = fleet.listen() {
            return End::Lost(e.why);
        }
        self.cursor = self.shared.enforced.load(Ordering::Relaxed);
        loop {
            if self.shared.stopped() {
                return End::Stopped;
            }
            if let Err(e) = self.follow(&mut fleet) {
                return End::Lost(e);
            }
            if self.last_beat.is_none_or(|t| t.elapsed() >= HEARTBEAT) {
                if let Err(e) = fleet.heartbeat(self.shared.enforced.load(Ordering::Relaxed)) {
                    return End::Lost(e.why);
                }
                self.last_beat = Some(Instant::now());
            }
            if let Err(e) = fleet.wait(WAIT) {
                return End::Lost(e.why);
            }
        }
    }

    /// Reads every change after the cursor and sends it to the daemon.
    fn follow(&mut self, fleet: &mut Fleet) -> Result<(), String> {
        loop {
            let read = fleet
                .changes(self.cursor, rampart_fleet::now())
                .map_err(|e| e.why)?;
            if read.cursor == self.cursor && read.changes.is_empty() {
                return Ok(());
            }
            // A row that is no decision is passed over (and said, a few at most).
            for why in read.unreadable.iter().take(3) {
                self.shared
                    .say(format!("fleet: passed over an unreadable change: {why}"));
            }
            if read.unreadable.len() > 3 {
                self.shared.say(format!(
                    "fleet: passed over {} more unreadable changes",
                    read.unreadable.len() - 3
                ));
            }
            let mut changes = Vec::with_capacity(read.changes.len());
            for c in read.changes {
                match c {
                    Change::Decision(d) => changes.push(FleetChange::Decision(d)),
                    Change::List { name, .. } => {
                        if let Some((_, prefixes)) = fleet.list(&name).map_err(|e| e.why)? {
                            changes.push(FleetChange::List { name, prefixes });
                        }
                    }
                }
            }
            self.cursor = read.cursor;
            let batch = FleetBatch {
                changes,
                cursor: read.cursor,
            };
            if self.shared.msgs.send(Msg::Fleet(batch)).is_err() {
                return Ok(());
            }
            if !read.more {
                return Ok(());
            }
        }
    }
}
