//! The fleet link: a thread that owns the connection to the shared store. It publishes
//! this server's decisions, follows the fleet's change feed (woken by `NOTIFY`, one read
//! after the cursor), hands what it reads to the daemon's loop as [`Msg::Fleet`], and
//! reports refusals and its heartbeat.
//!
//! The store being down changes nothing already enforced: the thread retries every few
//! seconds; on reconnect it publishes again every running local decision (publication is
//! idempotent, so nothing is doubled) and reads the feed from the cursor the daemon saved
//! after enforcing (so nothing is missed, and what was enforced is skipped by its key).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart_fleet::{Change, Fleet, FleetConfig, FleetDecision};
use rampart_guard::{Decision, DecisionStore, FleetRef, Origin, SqliteStore, Target};
use rampart_prefix::Prefix;

use crate::feed::Msg;

/// The observer name the fleet's cursor is saved under (in the guard's database).
pub const FLEET_POSITION: &str = "fleet";
/// How long the thread waits for a notification before looking at its own queue.
const WAIT: Duration = Duration::from_millis(100);
/// How often it reports to the fleet (`rampart fleet status`'s last contact).
const HEARTBEAT: Duration = Duration::from_secs(5);
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

/// The running fleet thread.
pub struct FleetLink {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

impl FleetLink {
    /// Starts the thread: it connects with `config`, republishes from the database at
    /// `db`, follows the feed after `cursor`, sends what it reads to `msgs`, and takes
    /// the daemon's [`ToFleet`] from `rx`.
    pub fn start(
        config: FleetConfig,
        db: PathBuf,
        cursor: i64,
        msgs: SyncSender<Msg>,
        rx: Receiver<ToFleet>,
    ) -> std::io::Result<FleetLink> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("fleet".into())
            .spawn(move || {
                Worker {
                    config,
                    db,
                    cursor,
                    enforced: cursor,
                    msgs,
                    rx,
                    stop: stop2,
                }
                .run()
            })?;
        Ok(FleetLink { handle, stop })
    }

    /// Stops the thread (at its next wait) and waits for it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}

struct Worker {
    config: FleetConfig,
    db: PathBuf,
    /// What has been read (and sent to the daemon).
    cursor: i64,
    /// What the daemon has enforced.
    enforced: i64,
    msgs: SyncSender<Msg>,
    rx: Receiver<ToFleet>,
    stop: Arc<AtomicBool>,
}

/// Why a connected session ended.
enum End {
    Stopped,
    Lost(String),
}

impl Worker {
    fn say(&self, text: String) {
        let _ = self.msgs.send(Msg::Trouble(text));
    }

    fn run(mut self) {
        let mut backoff = Duration::from_millis(500);
        let mut last_error = String::new();
        while !self.stop.load(Ordering::Relaxed) {
            match Fleet::connect(&self.config).and_then(|mut f| f.check_schema().map(|_| f)) {
                Ok(fleet) => {
                    let _ = self.msgs.send(Msg::Note(format!(
                        "fleet: connected to {} as {}",
                        fleet.endpoint(),
                        fleet.server()
                    )));
                    last_error.clear();
                    backoff = Duration::from_millis(500);
                    match self.session(fleet) {
                        End::Stopped => return,
                        End::Lost(why) => self.say(format!(
                            "fleet: connection lost ({why}); enforcing what this server has, retrying"
                        )),
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    if text != last_error {
                        self.say(format!(
                            "{text}; enforcing what this server has, retrying every few seconds"
                        ));
                        last_error = text;
                    }
                }
            }
            // While away: what the daemon sends is kept only as the cursor (decisions are
            // published again from the database on reconnect; refusals are logged here).
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
                self.drain_offline();
                std::thread::sleep(Duration::from_millis(50));
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn drain_offline(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(ToFleet::Enforced(c)) => self.enforced = c,
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    /// Connected: publish what this server has, catch up, then follow.
    fn session(&mut self, mut fleet: Fleet) -> End {
        if let Err(e) = fleet.listen() {
            return End::Lost(e.why);
        }
        if let Err(e) = self.republish(&mut fleet) {
            return End::Lost(e);
        }
        // Read from what the daemon enforced (what was read but not enforced when the
        // connection dropped is read again; the daemon skips what it has by key).
        self.cursor = self.enforced;
        let mut next_beat = Instant::now();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return End::Stopped;
            }
            loop {
                match self.rx.try_recv() {
                    Ok(m) => {
                        if let Err(e) = self.handle(&mut fleet, m) {
                            return End::Lost(e);
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return End::Stopped,
                }
            }
            if let Err(e) = self.follow(&mut fleet) {
                return End::Lost(e);
            }
            if Instant::now() >= next_beat {
                if let Err(e) = fleet.heartbeat(self.enforced) {
                    return End::Lost(e.why);
                }
                next_beat = Instant::now() + HEARTBEAT;
            }
            if let Err(e) = fleet.wait(WAIT) {
                return End::Lost(e.why);
            }
        }
    }

    fn handle(&mut self, fleet: &mut Fleet, m: ToFleet) -> Result<(), String> {
        match m {
            ToFleet::Publish(ds) => {
                let refs: Vec<(i64, &Decision)> = ds.iter().map(|(id, d)| (*id, d)).collect();
                fleet.publish(&refs).map(drop).map_err(|e| e.why)
            }
            ToFleet::Refused { key, target, why } => {
                fleet.report_refusal(&key, &target, &why).map_err(|e| e.why)
            }
            ToFleet::Enforced(c) => {
                self.enforced = c;
                Ok(())
            }
        }
    }

    /// Every running decision of this server's own, published (again: idempotent).
    fn republish(&mut self, fleet: &mut Fleet) -> Result<(), String> {
        let store = SqliteStore::open(&self.db).map_err(|e| e.to_string())?;
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
        // Drop what the daemon asked to publish meanwhile: it is in the database.
        while let Ok(m) = self.rx.try_recv() {
            if !matches!(m, ToFleet::Publish(_)) {
                self.handle(fleet, m)?;
            }
        }
        Ok(())
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
                self.say(format!("fleet: passed over an unreadable change: {why}"));
            }
            if read.unreadable.len() > 3 {
                self.say(format!(
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
            if self
                .msgs
                .send(Msg::Fleet(FleetBatch {
                    changes,
                    cursor: read.cursor,
                }))
                .is_err()
            {
                return Ok(());
            }
            if !read.more {
                return Ok(());
            }
        }
    }
}
