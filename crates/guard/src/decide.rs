//! [`Guard`]: the engine. Findings become [`Decision`]s: allowlisted sources spared,
//! running bans not repeated, repeat offenders escalated up to a cap, neighbourhoods
//! rolled up, the kernel's own bans recorded.
//!
//! Everything here is a function of the observations and `now`: no clock, no I/O. The
//! runtime enforces and stores what [`Guard::observe`] and [`Guard::tick`] return, and
//! hands [`Guard::restore`] the store's recent decisions after a restart.

use std::collections::HashMap;
use std::net::IpAddr;

use rampart_prefix::{Prefix, PrefixSet};

use crate::config::GuardConfig;
use crate::decision::{Decision, Evidence, Origin, Reason, Target};
use crate::detect::{DetectorStats, Detectors, Finding};
use crate::observation::Observation;
use crate::store::StoredDecision;

/// Addresses named as evidence of a roll-up (the first few banned in the neighbourhood).
const ROLLUP_SAMPLES: usize = 8;

/// A running ban, as the guard knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Active {
    until: u64,
}

/// Past bans of a target, for escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Offences {
    /// Bans so far (the next is offence number `count`).
    count: u32,
    /// When the last one ended.
    last_until: u64,
}

/// Counters for metrics and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Bans running (addresses and prefixes).
    pub active: usize,
    /// Targets whose past bans still count for escalation.
    pub offenders: usize,
    /// Findings about allowlisted sources, never banned, since the start.
    pub spared: u64,
    /// Findings about sources already banned, since the start.
    pub already_banned: u64,
    /// The detectors' memory and activity.
    pub detectors: DetectorStats,
}

/// The engine: observations and `now` in, decisions out.
///
/// ```
/// use rampart_guard::{Guard, GuardConfig, Observation, SourceCount};
///
/// let mut guard = Guard::new(GuardConfig::default(), vec![]);
/// let snapshot = Observation::Sockets {
///     counts: vec![SourceCount {
///         addr: "198.51.100.7".parse().unwrap(),
///         port: 80,
///         established: 150,
///         syn_recv: 0,
///     }],
/// };
/// let bans = guard.observe(&snapshot, 1_000);
/// assert_eq!(bans.len(), 1);
/// assert_eq!(bans[0].reason.detector, "connections");
/// assert_eq!(bans[0].until, 1_000 + 600);
/// // A second snapshot while banned decides nothing new.
/// assert!(guard.observe(&snapshot, 1_001).is_empty());
/// ```
#[derive(Debug)]
pub struct Guard {
    config: GuardConfig,
    detectors: Detectors,
    allow: PrefixSet,
    allow_names: Vec<(Prefix, String)>,
    active: HashMap<Target, Active>,
    /// Running prefix bans (few), for "is this address inside one".
    prefixes: Vec<Prefix>,
    offences: HashMap<Target, Offences>,
    /// Per roll-up neighbourhood: the addresses banned in it now.
    hoods: HashMap<Prefix, Vec<IpAddr>>,
    spared: u64,
    already_banned: u64,
}

impl Guard {
    /// An engine with `config` and the sources never banned: `(range, why)` pairs
    /// (loopback, the host's addresses, the admin's SSH sources, `allow_from`, the
    /// configured allow ranges and files), gathered by the runtime. `config.allow.ranges`
    /// are added here too.
    pub fn new(config: GuardConfig, allowlist: Vec<(Prefix, String)>) -> Guard {
        let mut g = Guard {
            detectors: Detectors::new(&config),
            config,
            allow: PrefixSet::new(),
            allow_names: Vec::new(),
            active: HashMap::new(),
            prefixes: Vec::new(),
            offences: HashMap::new(),
            hoods: HashMap::new(),
            spared: 0,
            already_banned: 0,
        };
        g.set_allowlist(allowlist);
        g
    }

    /// The configuration.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Replaces the allowlist (the host's addresses changed, a range file was reloaded).
    pub fn set_allowlist(&mut self, allowlist: Vec<(Prefix, String)>) {
        let mut names = allowlist;
        names.extend(
            self.config
                .allow
                .ranges
                .iter()
                .map(|p| (*p, "guard.allow.ranges".to_string())),
        );
        let mut set = PrefixSet::new();
        for (p, _) in &names {
            set.insert(p.unmapped());
        }
        self.allow = set;
        self.allow_names = names;
    }

    /// Why `addr` is never banned, if it is allowlisted.
    pub fn allowed(&self, addr: IpAddr) -> Option<&str> {
        let addr = rampart_prefix::unmap_addr(addr);
        if !self.allow.contains(addr) {
            return None;
        }
        self.allow_names
            .iter()
            .find(|(p, _)| p.unmapped().contains(addr))
            .map(|(_, why)| why.as_str())
    }

    /// What `obs`, seen at `now` (seconds since the epoch), decides: new bans to enforce
    /// and record, in order (an address's ban before the roll-up it completes).
    pub fn observe(&mut self, obs: &Observation, now: u64) -> Vec<Decision> {
        let mut out = Vec::new();
        if let Observation::KernelBan {
            addr,
            limit,
            ban_secs,
        } = obs
        {
            self.kernel_ban(*addr, limit, *ban_secs, now, &mut out);
            return out;
        }
        for f in self.detectors.observe(obs, now) {
            self.finding(f, now, &mut out);
        }
        out
    }

    /// Housekeeping at `now` (call about once a second): ended bans and forgotten
    /// offences dropped; roll-ups that restored bans complete. Returns new decisions.
    pub fn tick(&mut self, now: u64) -> Vec<Decision> {
        let ended: Vec<Target> = self
            .active
            .iter()
            .filter(|(_, a)| a.until <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in ended {
            self.remove_active(&t);
        }
        let forget = self.config.ban.forget_secs;
        self.offences
            .retain(|_, o| o.last_until.saturating_add(forget) > now);
        let mut out = Vec::new();
        let hoods: Vec<Prefix> = self
            .hoods
            .iter()
            .filter(|(_, v)| v.len() >= self.config.rollup.sources as usize)
            .map(|(p, _)| *p)
            .collect();
        for hood in hoods {
            self.rollup(hood, now, &mut out);
        }
        out
    }

    /// After a restart: the store's decisions that ended after `now - forget` (running
    /// ones and recent ones), so that running bans are not decided again and repeat
    /// offenders keep their escalation. Lifted decisions are skipped: an administrator's
    /// unban forgives.
    pub fn restore(&mut self, decisions: &[StoredDecision], now: u64) {
        for s in decisions {
            if s.lifted.is_some() {
                continue;
            }
            let d = &s.decision;
            let o = self.offences.entry(d.target).or_insert(Offences {
                count: 0,
                last_until: 0,
            });
            o.count = o.count.max(d.reason.offence.saturating_add(1));
            o.last_until = o.last_until.max(d.until);
            if d.until > now {
                self.add_active(d.target, d.until);
            }
        }
    }

    /// An administrator lifted the ban of `target` (`rampart bans unban`): it is no
    /// longer running, and its past offences are forgiven.
    pub fn lifted(&mut self, target: &Target) {
        self.remove_active(target);
        self.offences.remove(target);
        if let Target::Addr(a) = target {
            self.detectors.forget(*a);
        }
    }

    /// Whether `addr` is under a running ban (its own or a prefix's) at `now`.
    pub fn is_banned(&self, addr: IpAddr, now: u64) -> bool {
        let addr = rampart_prefix::unmap_addr(addr);
        self.active
            .get(&Target::Addr(addr))
            .is_some_and(|a| a.until > now)
            || self.prefixes.iter().any(|p| {
                p.contains(addr)
                    && self
                        .active
                        .get(&Target::Prefix(*p))
                        .is_some_and(|a| a.until > now)
            })
    }

    /// Counters for metrics.
    pub fn stats(&self) -> GuardStats {
        GuardStats {
            active: self.active.len(),
            offenders: self.offences.len(),
            spared: self.spared,
            already_banned: self.already_banned,
            detectors: self.detectors.stats(),
        }
    }

    fn finding(&mut self, f: Finding, now: u64, out: &mut Vec<Decision>) {
        let addr = rampart_prefix::unmap_addr(f.addr);
        if self.allowed(addr).is_some() {
            self.spared += 1;
            return;
        }
        if self.is_banned(addr, now) {
            self.already_banned += 1;
            return;
        }
        let target = Target::Addr(addr);
        let offence = self.offence(&target, now);
        let until = now.saturating_add(self.config.ban.duration(f.ban_secs, offence));
        out.push(Decision {
            target,
            reason: Reason {
                detector: f.detector.name().to_string(),
                summary: f.summary,
                offence,
            },
            evidence: Evidence {
                count: f.count,
                window_secs: f.window_secs,
                samples: f.samples,
            },
            origin: Origin::Detector,
            start: now,
            until,
        });
        self.banned(target, until);
        self.detectors.forget(addr);
        if let Some(hood) = self.hood_of(addr) {
            if self.hoods.get(&hood).map_or(0, Vec::len) >= self.config.rollup.sources as usize {
                self.rollup(hood, now, out);
            }
        }
    }

    fn kernel_ban(
        &mut self,
        addr: IpAddr,
        limit: &str,
        ban_secs: u32,
        now: u64,
        out: &mut Vec<Decision>,
    ) {
        let addr = rampart_prefix::unmap_addr(addr);
        let target = Target::Addr(addr);
        let offence = self.offence(&target, now);
        let until = now.saturating_add(u64::from(ban_secs));
        let name = rampart_logs::escape(limit.as_bytes(), 64);
        out.push(Decision {
            target,
            reason: Reason {
                detector: format!("kernel:{name}"),
                summary: format!(
                    "the kernel banned it for {} ([[flood.limit]] {name})",
                    human_secs(u64::from(ban_secs))
                ),
                offence,
            },
            evidence: Evidence::default(),
            origin: Origin::Kernel,
            start: now,
            until,
        });
        // The kernel's ban may be shorter than one the guard runs: keep the later end.
        let until = self
            .active
            .get(&target)
            .map_or(until, |a| a.until.max(until));
        self.banned(target, until);
        self.detectors.forget(addr);
        if self.allowed(addr).is_none() {
            if let Some(hood) = self.hood_of(addr) {
                if self.hoods.get(&hood).map_or(0, Vec::len) >= self.config.rollup.sources as usize
                {
                    self.rollup(hood, now, out);
                }
            }
        }
    }

    fn rollup(&mut self, hood: Prefix, now: u64, out: &mut Vec<Decision>) {
        let target = Target::Prefix(hood);
        if self.active.get(&target).is_some_and(|a| a.until > now) {
            return;
        }
        // A neighbourhood holding an allowlisted address is never banned whole.
        if self.allow.overlaps(hood) {
            self.spared += 1;
            return;
        }
        let members = self.hoods.get(&hood).cloned().unwrap_or_default();
        let offence = self.offence(&target, now);
        let until = now.saturating_add(self.config.ban.duration(self.config.ban.ban_secs, offence));
        out.push(Decision {
            target,
            reason: Reason {
                detector: "rollup".to_string(),
                summary: format!(
                    "{} banned sources in {hood} (roll-up at {})",
                    members.len(),
                    self.config.rollup.sources
                ),
                offence,
            },
            evidence: Evidence {
                count: members.len() as u64,
                window_secs: 0,
                samples: members
                    .iter()
                    .take(ROLLUP_SAMPLES)
                    .map(ToString::to_string)
                    .collect(),
            },
            origin: Origin::Detector,
            start: now,
            until,
        });
        self.banned(target, until);
    }

    /// The roll-up neighbourhood of `addr`, when roll-up is on.
    fn hood_of(&self, addr: IpAddr) -> Option<Prefix> {
        let r = &self.config.rollup;
        if !r.enabled {
            return None;
        }
        let len = if addr.is_ipv4() { r.v4_len } else { r.v6_len };
        Prefix::new(addr, len)
    }

    /// The offence number of `target`'s next ban at `now` (0 for a first ban).
    fn offence(&self, target: &Target, now: u64) -> u32 {
        self.offences
            .get(target)
            .filter(|o| o.last_until.saturating_add(self.config.ban.forget_secs) > now)
            .map_or(0, |o| o.count)
    }

    fn banned(&mut self, target: Target, until: u64) {
        let o = self.offences.entry(target).or_insert(Offences {
            count: 0,
            last_until: 0,
        });
        o.count = o.count.saturating_add(1);
        o.last_until = o.last_until.max(until);
        self.add_active(target, until);
    }

    fn add_active(&mut self, target: Target, until: u64) {
        let fresh = self.active.insert(target, Active { until }).is_none();
        if !fresh {
            return;
        }
        match target {
            Target::Prefix(p) => self.prefixes.push(p),
            Target::Addr(a) => {
                if let Some(hood) = self.hood_of(a) {
                    self.hoods.entry(hood).or_default().push(a);
                }
            }
        }
    }

    fn remove_active(&mut self, target: &Target) {
        if self.active.remove(target).is_none() {
            return;
        }
        match target {
            Target::Prefix(p) => self.prefixes.retain(|x| x != p),
            Target::Addr(a) => {
                if let Some(hood) = self.hood_of(*a) {
                    if let Some(v) = self.hoods.get_mut(&hood) {
                        v.retain(|x| x != a);
                        if v.is_empty() {
                            self.hoods.remove(&hood);
                        }
                    }
                }
            }
        }
    }
}

/// `600` → `10m`, `90` → `90s`, `7200` → `2h`, `86400` → `1d`.
pub fn human_secs(secs: u64) -> String {
    for (unit, n) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= n && secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}
