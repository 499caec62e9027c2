//! [`Daemon`]: the loop. Observations in (a batch at a time), the engine's decisions
//! enforced in the kernel (one transaction per batch and ban time), then recorded in the
//! store, then the observers' positions saved: a crash anywhere re-reads at most what was
//! not yet decided, and never loses a ban the kernel holds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rampart_block::{Allowlist, ListName};
use rampart_enforce::{Enforcer, Silent};
use rampart_guard::{
    Decision, DecisionStore, FleetRef, Observation, Origin, StoredDecision, Target,
};
use rampart_prefix::{Prefix, PrefixSet};

use crate::feed::Msg;
use crate::fleet::{FleetBatch, FleetChange, ToFleet, FLEET_POSITION};
use crate::sd::Notify;

/// The block list timed addresses are banned under (`rampart block list` shows them as
/// `guard`, with the detector as comment).
pub const BAN_LIST: &str = "guard";
/// The block list neighbourhood bans (`/24`, `/64`, …) go to: the kernel's ban sets hold
/// single addresses only, so prefixes are listed, and lifted by the guard at expiry
/// (while the guard is down they stay: a roll-up outlives its time rather than lapsing).
pub const ROLLUP_LIST: &str = "guard-rollup";
/// The block list the fleet's bans of single addresses are listed under (`rampart block
/// list` shows them as `fleet`, with the deciding server as comment).
pub const FLEET_LIST: &str = "fleet";
/// Observations decided per batch at most (a flood's backlog is decided in slices, each
/// one kernel transaction per ban time).
pub const MAX_BATCH: usize = 4096;
/// The engine's clock tick (windows, roll-ups, expiries).
pub const TICK: Duration = Duration::from_secs(1);

/// The decision engine: `rampart_guard::Guard` (this seam keeps the loop testable and the
/// engine free of I/O).
pub trait Engine {
    /// Decisions caused by one observation at `now`.
    fn observe(&mut self, obs: &Observation, now: u64) -> Vec<Decision>;
    /// Decisions due at `now` without a new observation (roll-ups, windows).
    fn tick(&mut self, now: u64) -> Vec<Decision>;
    /// After a restart: the decisions still running (bans known, offences remembered).
    fn restore(&mut self, active: &[StoredDecision], now: u64);
    /// An administrator lifted the ban on `target` (`rampart bans unban`): it may be
    /// banned again.
    fn lifted(&mut self, target: &Target);
}

impl Engine for rampart_guard::Guard {
    fn observe(&mut self, obs: &Observation, now: u64) -> Vec<Decision> {
        rampart_guard::Guard::observe(self, obs, now)
    }
    fn tick(&mut self, now: u64) -> Vec<Decision> {
        rampart_guard::Guard::tick(self, now)
    }
    fn restore(&mut self, active: &[StoredDecision], now: u64) {
        rampart_guard::Guard::restore(self, active, now)
    }
    fn lifted(&mut self, target: &Target) {
        rampart_guard::Guard::lifted(self, target)
    }
}

/// A [`DecisionStore`] that records many decisions in one transaction (a flood's bans
/// are recorded at the kernel's pace, not one commit each).
pub trait BatchStore: DecisionStore {
    /// Records `ds` in one transaction; their ids in order.
    fn record_all(&mut self, ds: &[Decision]) -> Result<Vec<i64>, rampart_guard::StoreError>;
}

impl BatchStore for rampart_guard::SqliteStore {
    fn record_all(&mut self, ds: &[Decision]) -> Result<Vec<i64>, rampart_guard::StoreError> {
        self.record_batch(ds)
    }
}

/// Something the daemon did or saw, for its log, the metrics and the notices.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A decision was enforced and recorded.
    Banned {
        /// The decision.
        decision: Decision,
        /// Its id in the store.
        id: i64,
        /// From the observation's read to the kernel's ban.
        latency: Duration,
    },
    /// A decision could not be enforced (allowlisted, kernel error): not recorded.
    Refused {
        /// What.
        target: Target,
        /// Why.
        why: String,
    },
    /// A ban was lifted: a neighbourhood's time is up, or the fleet lifted it.
    Lifted {
        /// What.
        target: Target,
        /// Why.
        why: String,
    },
    /// An observer's or the store's trouble.
    Trouble(String),
    /// Something worth a line in the log.
    Note(String),
}

/// Where the daemon's events go (the log, metrics, notices).
pub trait Sink {
    /// One event.
    fn event(&mut self, e: &Event);
    /// Lines read by the log observers, and how many were not understood.
    fn lines(&mut self, _read: u64, _not_understood: u64) {}
    /// A socket snapshot of `n` sockets was taken.
    fn scanned(&mut self, _n: u64) {}
    /// `n` new connections were seen (conntrack NEW events).
    fn connections(&mut self, _n: u64) {}
    /// The bans running now, by detector.
    fn active(&mut self, _by_detector: &HashMap<String, u64>) {}
    /// The daemon stops: send what waits (a digest is not lost to a restart).
    fn finish(&mut self) {}
}

/// The daemon's parts.
pub struct Daemon<E: Engine, S: BatchStore> {
    engine: E,
    store: S,
    enforcer: Enforcer,
    allow: Allowlist,
    rollups: Vec<(Prefix, u64, i64)>,
    /// The running decisions by store id: target, expiry, detector.
    running: HashMap<i64, (Target, u64, String)>,
    next_sync: u64,
    fleet: Option<FleetSide>,
}

/// The daemon's side of the fleet: where its decisions go, what it takes, what it has.
pub struct FleetSide {
    /// The fleet thread's queue.
    pub tx: std::sync::mpsc::Sender<ToFleet>,
    /// This server's name in the fleet (its own decisions come back; they are skipped).
    pub server: String,
    /// Fleet decisions banning a shorter IPv4 prefix are refused.
    pub min_prefix_v4: u8,
    /// Fleet decisions banning a shorter IPv6 prefix are refused.
    pub min_prefix_v6: u8,
    /// The fleet's decisions enforced here, by key: their local ids.
    known: HashMap<FleetRef, i64>,
}

impl FleetSide {
    /// The daemon's side of a fleet link.
    pub fn new(
        tx: std::sync::mpsc::Sender<ToFleet>,
        server: String,
        min_prefix_v4: u8,
        min_prefix_v6: u8,
    ) -> FleetSide {
        FleetSide {
            tx,
            server,
            min_prefix_v4,
            min_prefix_v6,
            known: HashMap::new(),
        }
    }
}

/// How often the store is read for bans an administrator lifted (`rampart bans unban`),
/// in seconds.
pub const SYNC_SECS: u64 = 5;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn list(name: &str) -> ListName {
    ListName::new(name).expect("a valid list name")
}

impl<E: Engine, S: BatchStore> Daemon<E, S> {
    /// The daemon over `engine`, `store`, `enforcer` and what must never be banned.
    pub fn new(engine: E, store: S, enforcer: Enforcer, allow: Allowlist) -> Daemon<E, S> {
        Daemon {
            engine,
            store,
            enforcer,
            allow,
            rollups: Vec::new(),
            running: HashMap::new(),
            next_sync: 0,
            fleet: None,
        }
    }

    /// Joins the fleet: this server's decisions are published through `side`, and the
    /// fleet's are enforced here (call before [`Daemon::restore`]).
    pub fn with_fleet(mut self, side: FleetSide) -> Daemon<E, S> {
        self.fleet = Some(side);
        self
    }

    /// The saved cursor of the fleet's change feed (0: from the start).
    pub fn fleet_cursor(&self) -> i64 {
        self.store
            .position(FLEET_POSITION)
            .ok()
            .flatten()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The saved positions of every observer in `names`.
    pub fn positions(&self, names: &[String]) -> HashMap<String, String> {
        names
            .iter()
            .filter_map(|n| {
                self.store
                    .position(n)
                    .ok()
                    .flatten()
                    .map(|p| (n.clone(), p))
            })
            .collect()
    }

    /// After a (re)start: the decisions of the last `forget_secs` from the store, given to
    /// the engine (running bans known, offences remembered for escalation); the running
    /// ones re-asserted in the kernel with the time they have left (a ban the kernel
    /// still holds keeps it: nothing is ever removed first); roll-ups that ended while
    /// the guard was down taken out of their list. Returns how many are running.
    pub fn restore(
        &mut self,
        now: u64,
        forget_secs: u64,
    ) -> Result<usize, rampart_guard::StoreError> {
        let recent = self.store.since(now.saturating_sub(forget_secs))?;
        self.engine.restore(&recent, now);
        let mut rebans: Vec<(IpAddr, Duration)> = Vec::new();
        let mut expired_rollups = Vec::new();
        let mut running = 0;
        for s in &recent {
            let d = &s.decision;
            if let (Some(side), Some(key)) = (self.fleet.as_mut(), d.fleet.as_ref()) {
                side.known.insert(key.clone(), s.id);
            }
            if s.lifted.is_some() {
                continue;
            }
            if d.until <= now {
                if let (Target::Prefix(p), Origin::Detector) = (d.target, d.origin) {
                    expired_rollups.push(p);
                }
                continue;
            }
            running += 1;
            self.running
                .insert(s.id, (d.target, d.until, d.reason.detector.clone()));
            let left = Duration::from_secs(d.until.saturating_sub(now).max(1));
            match (d.target, d.origin) {
                // The kernel's own bans live in the policy's sets, which `up` keeps.
                (_, Origin::Kernel) => {}
                (Target::Addr(a), _) => rebans.push((a, left)),
                (Target::Prefix(p), _) => self.rollups.push((p, d.until, s.id)),
            }
        }
        if !rebans.is_empty() {
            let have = self
                .enforcer
                .kernel()
                .has_set(&rampart_block::ban_set(true));
            let ok = (have
                || self
                    .enforcer
                    .kernel()
                    .ensure(&rampart_block::Layout::default())
                    .is_ok())
                && self.enforcer.kernel().reban(&rebans).is_ok();
            if !ok {
                return Err(rampart_guard::StoreError {
                    path: "kernel".into(),
                    message: "cannot re-assert the running bans in the kernel".into(),
                });
            }
        }
        // Roll-ups that ended while the guard was down (a network still banned by a
        // newer decision is left).
        expired_rollups.retain(|p| !self.rollups.iter().any(|r| r.0 == *p));
        if !expired_rollups.is_empty() {
            let _ = self
                .enforcer
                .unblock(&expired_rollups, Some(&list(ROLLUP_LIST)), &Silent, now);
        }
        Ok(running)
    }

    /// Forgets expired decisions; every [`SYNC_SECS`], tells the engine of the ones an
    /// administrator lifted (and takes lifted roll-ups out of their list).
    fn sync_running(&mut self, now: u64, sink: &mut dyn Sink) {
        self.running.retain(|_, (_, until, _)| *until > now);
        if now < self.next_sync {
            return;
        }
        self.next_sync = now + SYNC_SECS;
        let active: std::collections::HashSet<i64> = match self.store.active(now) {
            Ok(a) => a.iter().map(|s| s.id).collect(),
            Err(e) => {
                sink.event(&Event::Trouble(format!("reading the running bans: {e}")));
                return;
            }
        };
        let lifted: Vec<(i64, Target)> = self
            .running
            .iter()
            .filter(|(id, _)| !active.contains(id))
            .map(|(id, (t, _, _))| (*id, *t))
            .collect();
        let mut prefixes = Vec::new();
        for (id, target) in lifted {
            self.running.remove(&id);
            self.engine.lifted(&target);
            if let Target::Prefix(p) = target {
                self.rollups.retain(|r| r.2 != id);
                prefixes.push(p);
            }
        }
        if !prefixes.is_empty() {
            if let Err(e) = self
                .enforcer
                .unblock(&prefixes, Some(&list(ROLLUP_LIST)), &Silent, now)
            {
                sink.event(&Event::Trouble(format!("lifting roll-ups: {e}")));
            }
        }
    }

    /// The bans running, by detector.
    pub fn running_by_detector(&self) -> HashMap<String, u64> {
        let mut out: HashMap<String, u64> = HashMap::new();
        for (_, _, det) in self.running.values() {
            *out.entry(det.clone()).or_default() += 1;
        }
        out
    }

    /// Feeds `batch` to the engine and carries out what it decides.
    pub fn decide(&mut self, batch: Vec<(Observation, u64, Instant)>, sink: &mut dyn Sink) {
        let mut decided: Vec<(Decision, Instant)> = Vec::new();
        for (obs, now, at) in batch {
            for d in self.engine.observe(&obs, now) {
                decided.push((d, at));
            }
        }
        self.enforce(decided, sink);
    }

    /// The engine's tick at `now`, and roll-ups due to be lifted.
    pub fn tick(&mut self, now: u64, sink: &mut dyn Sink) {
        let at = Instant::now();
        let decided: Vec<(Decision, Instant)> =
            self.engine.tick(now).into_iter().map(|d| (d, at)).collect();
        self.enforce(decided, sink);
        let due: Vec<(Prefix, u64, i64)> = self
            .rollups
            .iter()
            .copied()
            .filter(|(_, until, _)| *until <= now)
            .collect();
        if !due.is_empty() {
            let prefixes: Vec<Prefix> = due.iter().map(|(p, _, _)| *p).collect();
            match self
                .enforcer
                .unblock(&prefixes, Some(&list(ROLLUP_LIST)), &Silent, now)
            {
                Ok(_) => {
                    self.rollups.retain(|(_, until, _)| *until > now);
                    for p in prefixes {
                        sink.event(&Event::Lifted {
                            target: Target::Prefix(p),
                            why: "its time is up".into(),
                        });
                    }
                }
                Err(e) => sink.event(&Event::Trouble(format!("lifting roll-ups: {e}"))),
            }
        }
        self.sync_running(now, sink);
        sink.active(&self.running_by_detector());
    }

    /// Enforces `decided` (kernel first, one transaction per ban time and detector), then
    /// records each enforced one.
    fn enforce(&mut self, decided: Vec<(Decision, Instant)>, sink: &mut dyn Sink) {
        if decided.is_empty() {
            return;
        }
        let now = now_secs();
        // One kernel transaction per ban time and block list comment.
        let mut groups: HashMap<(u64, &'static str, String), Vec<usize>> = HashMap::new();
        let mut done: Vec<bool> = vec![false; decided.len()];
        for (i, (d, _)) in decided.iter().enumerate() {
            match (d.target, d.origin) {
                // Already in the kernel's own set: recorded only.
                (_, Origin::Kernel) => done[i] = true,
                (Target::Addr(_), _) => {
                    let ttl = d.until.saturating_sub(now).max(1);
                    let key = match &d.fleet {
                        Some(f) => (
                            ttl,
                            FLEET_LIST,
                            format!("fleet: {} {}", f.server, d.reason.detector),
                        ),
                        None => (ttl, BAN_LIST, format!("guard: {}", d.reason.detector)),
                    };
                    groups.entry(key).or_default().push(i);
                }
                (Target::Prefix(p), _) => match self.ban_prefix(p, &d.reason.detector) {
                    Ok(()) => {
                        done[i] = true;
                        self.rollups.push((p, d.until, 0));
                    }
                    Err(why) => sink.event(&Event::Refused {
                        target: d.target,
                        why,
                    }),
                },
            }
        }
        for ((ttl, banlist, comment), idx) in groups {
            let banlist = list(banlist);
            let addrs: Vec<IpAddr> = idx
                .iter()
                .filter_map(|i| match decided[*i].0.target {
                    Target::Addr(a) => Some(a),
                    Target::Prefix(_) => None,
                })
                .collect();
            let ttl = Duration::from_secs(ttl);
            let all = self.enforcer.ban(
                &addrs,
                ttl,
                &banlist,
                Some(&comment),
                &self.allow,
                false,
                now,
            );
            if all.is_ok() {
                for i in idx {
                    done[i] = true;
                }
                continue;
            }
            // One refused (allowlisted) or the kernel failed: one by one, to say which.
            for i in idx {
                let Target::Addr(a) = decided[i].0.target else {
                    continue;
                };
                match self.enforcer.ban(
                    &[a],
                    ttl,
                    &banlist,
                    Some(&comment),
                    &self.allow,
                    false,
                    now,
                ) {
                    Ok(_) => done[i] = true,
                    Err(e) => sink.event(&Event::Refused {
                        target: decided[i].0.target,
                        why: e.to_string(),
                    }),
                }
            }
        }
        let in_kernel = Instant::now();
        let (enforced, at): (Vec<Decision>, Vec<Instant>) = decided
            .into_iter()
            .zip(done)
            .filter(|(_, ok)| *ok)
            .map(|(d, _)| d)
            .unzip();
        let ids = match self.store.record_all(&enforced) {
            Ok(ids) => ids,
            Err(e) => {
                sink.event(&Event::Trouble(format!(
                    "recording {} bans (they are in the kernel): {e}",
                    enforced.len()
                )));
                return;
            }
        };
        if let Some(side) = self.fleet.as_mut() {
            let own: Vec<(i64, Decision)> = enforced
                .iter()
                .zip(&ids)
                .filter(|(d, _)| d.origin != Origin::Fleet)
                .map(|(d, id)| (*id, d.clone()))
                .collect();
            for (d, id) in enforced.iter().zip(&ids) {
                if let Some(key) = &d.fleet {
                    side.known.insert(key.clone(), *id);
                }
            }
            if !own.is_empty() {
                let _ = side.tx.send(ToFleet::Publish(own));
            }
        }
        for ((d, at), id) in enforced.into_iter().zip(at).zip(ids) {
            if let Target::Prefix(p) = d.target {
                if let Some(r) = self.rollups.iter_mut().rev().find(|r| r.0 == p && r.2 == 0) {
                    r.2 = id;
                }
            }
            self.running
                .insert(id, (d.target, d.until, d.reason.detector.clone()));
            sink.event(&Event::Banned {
                latency: in_kernel.saturating_duration_since(at),
                decision: d,
                id,
            });
        }
    }

    /// A neighbourhood ban: the prefix in the roll-up list, less what is allowlisted.
    fn ban_prefix(&mut self, p: Prefix, detector: &str) -> Result<(), String> {
        let mut set = PrefixSet::new();
        set.insert(p);
        let (rest, _carved) = self.allow.carve(&set, false);
        let parts = rest.prefixes();
        if parts.is_empty() {
            return Err(format!("{p} is allowlisted whole"));
        }
        self.enforcer
            .block(
                &list(ROLLUP_LIST),
                &parts,
                Some(&format!("guard: {detector}")),
                &self.allow,
                false,
                &Silent,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Enforces what the fleet decided, in order: new decisions screened by this
    /// server's allowlist and prefix minimum (a refusal logged and reported), enforced
    /// through the same sets as its own and recorded with their key; lifts carried out;
    /// lists replaced in one kernel transaction each. Then the cursor is saved.
    pub fn from_fleet(&mut self, batch: FleetBatch, sink: &mut dyn Sink) {
        let Some(side) = self.fleet.as_mut() else {
            return;
        };
        let now = now_secs();
        let at = Instant::now();
        let mut accepted: Vec<(Decision, Instant)> = Vec::new();
        let mut lifts: Vec<(Target, i64, String)> = Vec::new();
        let mut lists = Vec::new();
        for change in batch.changes {
            let fd = match change {
                FleetChange::Decision(fd) => fd,
                FleetChange::List { name, prefixes } => {
                    lists.push((name, prefixes));
                    continue;
                }
            };
            let key = fd.key().clone();
            let local = if key.server == side.server {
                Some(key.id)
            } else {
                side.known.get(&key).copied()
            };
            if let Some((_, by)) = &fd.lifted {
                if let Some(id) = local.filter(|id| self.running.contains_key(id)) {
                    lifts.push((fd.decision.target, id, by.clone()));
                }
                continue;
            }
            if local.is_some() || fd.decision.until <= now {
                continue;
            }
            if let Some(why) = rampart_fleet::screen(
                &fd.decision.target,
                &self.allow,
                side.min_prefix_v4,
                side.min_prefix_v6,
            ) {
                let why = format!("fleet decision {}#{} refused: {why}", key.server, key.id);
                sink.event(&Event::Refused {
                    target: fd.decision.target,
                    why: why.clone(),
                });
                let _ = side.tx.send(ToFleet::Refused {
                    key,
                    target: fd.decision.target,
                    why,
                });
                continue;
            }
            let mut d = fd.decision;
            d.origin = Origin::Fleet;
            accepted.push((d, at));
        }
        self.enforce(accepted, sink);
        self.lift_from_fleet(lifts, now, sink);
        for (name, prefixes) in lists {
            let Ok(name) = ListName::new(&name) else {
                sink.event(&Event::Trouble(format!(
                    "fleet: a list named `{}` cannot be a block list here",
                    rampart_logs::escape(name.as_bytes(), 80)
                )));
                continue;
            };
            let set: PrefixSet = prefixes.into_iter().collect();
            match self
                .enforcer
                .replace(&name, &set, &self.allow, false, &Silent)
            {
                Ok(r) => sink.event(&Event::Note(format!(
                    "fleet: list {name} loaded ({} prefixes{})",
                    r.summary.prefixes,
                    if r.carved.is_empty() {
                        String::new()
                    } else {
                        format!(", {} allowlisted parts carved out", r.carved.len())
                    }
                ))),
                Err(e) => sink.event(&Event::Trouble(format!("fleet: loading list {name}: {e}"))),
            }
        }
        if let Err(e) = self.save_position(FLEET_POSITION, &batch.cursor.to_string()) {
            sink.event(&Event::Trouble(format!("saving the fleet's cursor: {e}")));
        }
        if let Some(side) = &self.fleet {
            let _ = side.tx.send(ToFleet::Enforced(batch.cursor));
        }
    }

    /// Lifts here what the fleet lifted (`rampart bans unban --fleet` on any server).
    fn lift_from_fleet(
        &mut self,
        lifts: Vec<(Target, i64, String)>,
        now: u64,
        sink: &mut dyn Sink,
    ) {
        if lifts.is_empty() {
            return;
        }
        let addrs: Vec<IpAddr> = lifts
            .iter()
            .filter_map(|(t, _, _)| match t {
                Target::Addr(a) => Some(*a),
                Target::Prefix(_) => None,
            })
            .collect();
        let prefixes: Vec<Prefix> = lifts
            .iter()
            .filter_map(|(t, _, _)| match t {
                Target::Prefix(p) => Some(*p),
                Target::Addr(_) => None,
            })
            .collect();
        if !addrs.is_empty() {
            if let Err(e) = self.enforcer.unban(&addrs, now) {
                sink.event(&Event::Trouble(format!("fleet: lifting bans: {e}")));
                return;
            }
        }
        if !prefixes.is_empty() {
            if let Err(e) = self
                .enforcer
                .unblock(&prefixes, Some(&list(ROLLUP_LIST)), &Silent, now)
            {
                sink.event(&Event::Trouble(format!("fleet: lifting roll-ups: {e}")));
                return;
            }
        }
        let ids: Vec<i64> = lifts.iter().map(|l| l.1).collect();
        if let Err(e) = self.store.lift(&ids, now) {
            sink.event(&Event::Trouble(format!(
                "fleet: recording lifted bans: {e}"
            )));
        }
        for (target, id, by) in lifts {
            self.running.remove(&id);
            self.rollups.retain(|r| r.2 != id);
            self.engine.lifted(&target);
            sink.event(&Event::Lifted {
                target,
                why: format!("lifted fleet-wide by {by}"),
            });
        }
    }

    /// Saves an observer's position (after what it read before was decided).
    pub fn save_position(&mut self, observer: &str, position: &str) -> Result<(), String> {
        self.store
            .set_position(observer, position)
            .map_err(|e| e.to_string())
    }

    /// Runs until `stop` is set (SIGTERM): messages from the observers in batches, a tick
    /// every [`TICK`], systemd told READY once restored and pinged for its watchdog.
    /// Never removes a ban on the way out: the kernel expires them.
    pub fn run(
        &mut self,
        rx: Receiver<Msg>,
        stop: &AtomicBool,
        notify: Option<&Notify>,
        watchdog: Option<Duration>,
        sink: &mut dyn Sink,
    ) {
        if let Some(n) = notify {
            n.send("READY=1\nSTATUS=guarding");
        }
        let mut next_tick = Instant::now() + TICK;
        let mut next_ping = watchdog.map(|w| Instant::now() + w);
        while !stop.load(Ordering::Relaxed) {
            let wait = next_tick
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200));
            let mut msgs = Vec::new();
            match rx.recv_timeout(wait) {
                Ok(m) => msgs.push(m),
                Err(RecvTimeoutError::Timeout) => {}
                // No observer left (none configured, or all ended): the ticks go on
                // (roll-ups expire, lifted bans are seen, systemd is pinged).
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
            while msgs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(m) => msgs.push(m),
                    Err(_) => break,
                }
            }
            self.handle(msgs, sink);
            let now = Instant::now();
            if now >= next_tick {
                self.tick(now_secs(), sink);
                next_tick = now + TICK;
            }
            if let (Some(n), Some(at), Some(w)) = (notify, next_ping, watchdog) {
                if now >= at {
                    n.send("WATCHDOG=1");
                    next_ping = Some(now + w);
                }
            }
        }
        if let Some(n) = notify {
            n.send("STOPPING=1");
        }
    }

    /// One batch of messages: observations decided together, positions saved after.
    pub fn handle(&mut self, msgs: Vec<Msg>, sink: &mut dyn Sink) {
        let mut batch = Vec::new();
        let mut positions: Vec<(String, String)> = Vec::new();
        let mut new_connections = 0;
        let mut fleet = Vec::new();
        for m in msgs {
            match m {
                Msg::Seen { obs, now, at } => {
                    if matches!(obs, Observation::NewConnection { .. }) {
                        new_connections += 1;
                    }
                    batch.push((obs, now, at))
                }
                Msg::Position { observer, position } => {
                    positions.retain(|(o, _)| *o != observer);
                    positions.push((observer, position));
                }
                Msg::Lines {
                    read,
                    not_understood,
                } => sink.lines(read, not_understood),
                Msg::Scanned { sockets } => sink.scanned(sockets),
                Msg::Trouble(t) => sink.event(&Event::Trouble(t)),
                Msg::Note(t) => sink.event(&Event::Note(t)),
                Msg::Fleet(b) => fleet.push(b),
            }
        }
        if new_connections > 0 {
            sink.connections(new_connections);
        }
        self.decide(batch, sink);
        for b in fleet {
            self.from_fleet(b, sink);
        }
        for (o, p) in positions {
            if let Err(e) = self.save_position(&o, &p) {
                sink.event(&Event::Trouble(format!("saving the position of {o}: {e}")));
            }
        }
    }
}
