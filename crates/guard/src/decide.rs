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
    /// Loopback is always in it, whatever the caller passes.
    pub fn set_allowlist(&mut self, allowlist: Vec<(Prefix, String)>) {
        let mut names = allowlist;
        for lo in ["127.0.0.0/8", "::1/128"] {
            if let Ok(p) = lo.parse::<Prefix>() {
                names.push((p, "loopback".to_string()));
            }
        }
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
            fleet: None,
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
            fleet: None,
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
            fleet: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PortLimit;
    use crate::observation::SourceCount;

    const T0: u64 = 1_800_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sockets(addr: &str, port: u16, established: u32, syn_recv: u32) -> Observation {
        Observation::Sockets {
            counts: vec![SourceCount {
                addr: ip(addr),
                port,
                established,
                syn_recv,
            }],
        }
    }

    fn sshd_failure(addr: &str) -> Observation {
        Observation::from_log(
            rampart_logs::Source::Sshd,
            format!("Dec  6 18:00:00 web1 sshd[812]: Failed password for root from {addr} port 4711 ssh2").as_bytes(),
        )
        .expect("an sshd failure")
    }

    fn new_conn(addr: &str) -> Observation {
        Observation::NewConnection {
            addr: ip(addr),
            port: 80,
        }
    }

    /// Snapshot thresholds: banned at the limit, not one below; per-port overrides with
    /// their own ban time.
    #[test]
    fn snapshot_thresholds_cross_exactly_at_the_limit() {
        let mut config = GuardConfig::default();
        config.connections.ports = vec![PortLimit {
            port: 443,
            limit: 20,
            ban_secs: 120,
        }];
        // (observation, banned?, detector, ban length)
        let cases: &[(Observation, Option<(&str, u64)>)] = &[
            (sockets("198.51.100.1", 80, 149, 0), None),
            (
                sockets("198.51.100.1", 80, 150, 0),
                Some(("connections", 600)),
            ),
            (sockets("198.51.100.2", 443, 19, 0), None),
            (
                sockets("198.51.100.2", 443, 20, 0),
                Some(("connections", 120)),
            ),
            // Override ports do not count towards the global limit.
            (sockets("198.51.100.3", 443, 19, 0), None),
            (sockets("198.51.100.4", 22, 0, 49), None),
            (sockets("198.51.100.4", 22, 0, 50), Some(("syn-recv", 600))),
        ];
        let mut guard = Guard::new(config, vec![]);
        for (i, (obs, want)) in cases.iter().enumerate() {
            let got = guard.observe(obs, T0 + i as u64);
            match want {
                None => assert!(got.is_empty(), "case {i}: {got:?}"),
                Some((detector, secs)) => {
                    assert_eq!(got.len(), 1, "case {i}: {got:?}");
                    assert_eq!(got[0].reason.detector, *detector, "case {i}");
                    assert_eq!(got[0].until - got[0].start, *secs, "case {i}");
                    assert_eq!(got[0].origin, Origin::Detector);
                    assert!(!got[0].evidence.samples.is_empty());
                }
            }
        }
        // The global limit sums a source's ports without an override.
        let obs = Observation::Sockets {
            counts: vec![
                SourceCount {
                    addr: ip("203.0.113.9"),
                    port: 80,
                    established: 100,
                    syn_recv: 0,
                },
                SourceCount {
                    addr: ip("203.0.113.9"),
                    port: 8080,
                    established: 50,
                    syn_recv: 0,
                },
            ],
        };
        let got = guard.observe(&obs, T0 + 100);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].evidence.count, 150);
        assert_eq!(got[0].reason.summary, "150 connections (limit 150)");
    }

    /// Windowed thresholds on a simulated clock: the limit-th event within the window bans;
    /// events that slid out of the window no longer count.
    #[test]
    fn windows_slide() {
        // (detector config: limit, window) (event times relative to T0, index of the
        // event that bans or None)
        let cases: &[(&str, &[u64], Option<usize>)] = &[
            ("5 in a row", &[0, 0, 0, 0, 0], Some(4)),
            ("4 are not 5", &[0, 1, 2, 3], None),
            ("the 5th at 599 s", &[0, 1, 2, 3, 599], Some(4)),
            (
                "the 5th at 600 s: the first slid out",
                &[0, 1, 2, 3, 600],
                None,
            ),
            (
                "then one more within the window",
                &[0, 1, 2, 3, 600, 600],
                Some(5),
            ),
            (
                "one more a second later: 1 slid out too",
                &[0, 1, 2, 3, 600, 601],
                None,
            ),
            (
                "spread over an hour",
                &[0, 700, 1400, 2100, 2800, 3500],
                None,
            ),
        ];
        for (name, times, want) in cases {
            let mut guard = Guard::new(GuardConfig::default(), vec![]);
            let mut banned_at = None;
            for (i, t) in times.iter().enumerate() {
                let got = guard.observe(&sshd_failure("192.0.2.10"), T0 + t);
                if !got.is_empty() {
                    assert_eq!(got[0].reason.detector, "sshd", "{name}");
                    assert_eq!(got[0].evidence.count, 5, "{name}");
                    assert_eq!(got[0].evidence.window_secs, 600, "{name}");
                    // Identical lines: the first and the last are one sample.
                    assert_eq!(got[0].evidence.samples.len(), 1, "{name}");
                    assert!(
                        got[0].evidence.samples[0].contains("Failed password"),
                        "{name}"
                    );
                    assert!(banned_at.is_none(), "{name}: banned twice");
                    banned_at = Some(i);
                }
            }
            assert_eq!(banned_at, *want, "{name}");
        }
    }

    /// NEW-connection rate: `DEFAULT_NEW_RATE` (300) in 10 s by default.
    #[test]
    fn new_connection_rate() {
        let limit = u64::from(crate::config::DEFAULT_NEW_RATE);
        let mut guard = Guard::new(GuardConfig::default(), vec![]);
        for i in 0..limit - 1 {
            assert!(guard
                .observe(&new_conn("198.51.100.20"), T0 + i * 10 / limit)
                .is_empty());
        }
        // limit - 1 events spread over 10 s: the first ones slid out, so the next does
        // not ban.
        assert!(guard
            .observe(&new_conn("198.51.100.20"), T0 + 10)
            .is_empty());
        let mut guard = Guard::new(GuardConfig::default(), vec![]);
        for _ in 0..limit - 1 {
            assert!(guard.observe(&new_conn("198.51.100.21"), T0).is_empty());
        }
        let got = guard.observe(&new_conn("198.51.100.21"), T0 + 9);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].reason.detector, "new-rate");
        assert_eq!(
            got[0].reason.summary,
            format!("{limit} new connections (last to port 80) in 10s (limit {limit})")
        );
    }

    /// HTTP: refused requests count as errors and as requests; error-log refusals as
    /// errors only.
    #[test]
    fn http_errors_and_rate() {
        let mut config = GuardConfig::default();
        config.http_errors.limit = 3;
        config.http_rate.limit = 5;
        let mut guard = Guard::new(config, vec![]);
        let line = |status: u16| {
            Observation::from_log(
                rampart_logs::Source::NginxAccess,
                format!("203.0.113.7 - - [06/Dec/2026:18:00:00 +0000] \"GET /wp-login.php HTTP/1.1\" {status} 153 \"-\" \"curl/8\"").as_bytes(),
            )
            .expect("an access line")
        };
        assert!(guard.observe(&line(404), T0).is_empty());
        assert!(guard.observe(&line(200), T0).is_empty());
        let got = guard.observe(&line(404), T0 + 1);
        assert!(got.is_empty(), "{got:?}");
        let got = guard.observe(&line(403), T0 + 2);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].reason.detector, "http-errors");
        assert!(got[0].evidence.samples[0].contains("wp-login"));
    }

    /// Repeat offenders: ban × factor per offence, capped; forgotten after `forget`.
    #[test]
    fn escalation_steps_and_cap() {
        let mut config = GuardConfig::default();
        config.ban.ban_secs = 600;
        config.ban.factor = 4;
        config.ban.max_secs = 86_400;
        config.ban.forget_secs = 7 * 86_400;
        let mut guard = Guard::new(config, vec![]);
        // (offence, ban length)
        let steps = [
            (0, 600),
            (1, 2_400),
            (2, 9_600),
            (3, 38_400),
            (4, 86_400),
            (5, 86_400),
        ];
        let mut now = T0;
        for (offence, secs) in steps {
            let got = guard.observe(&sockets("198.51.100.5", 80, 200, 0), now);
            assert_eq!(got.len(), 1, "offence {offence}");
            assert_eq!(got[0].reason.offence, offence);
            assert_eq!(got[0].until - got[0].start, secs, "offence {offence}");
            // While banned, nothing new.
            assert!(guard
                .observe(&sockets("198.51.100.5", 80, 200, 0), now + 1)
                .is_empty());
            now = got[0].until;
            assert!(guard.tick(now).is_empty());
            assert!(!guard.is_banned(ip("198.51.100.5"), now));
        }
        // A week after the last ban ended, the slate is clean.
        now += 7 * 86_400;
        guard.tick(now);
        let got = guard.observe(&sockets("198.51.100.5", 80, 200, 0), now);
        assert_eq!(got[0].reason.offence, 0);
        assert_eq!(got[0].until - got[0].start, 600);
    }

    /// Roll-up: the K-th banned source of a /24 (or /64) bans the neighbourhood, once;
    /// K-1 do not; other neighbourhoods are not counted together.
    #[test]
    fn rollup_at_k_sources() {
        // (addresses banned in order, the neighbourhood expected after the last)
        let cases: &[(&[&str], Option<&str>)] = &[
            (
                &[
                    "198.51.100.1",
                    "198.51.100.2",
                    "198.51.100.3",
                    "198.51.100.4",
                ],
                None,
            ),
            (
                &[
                    "198.51.100.1",
                    "198.51.100.2",
                    "198.51.100.3",
                    "198.51.100.4",
                    "198.51.100.200",
                ],
                Some("198.51.100.0/24"),
            ),
            (
                &[
                    "198.51.100.1",
                    "198.51.100.2",
                    "198.51.100.3",
                    "198.51.100.4",
                    "203.0.113.5",
                ],
                None,
            ),
            (
                &[
                    "2001:db8:1:2::1",
                    "2001:db8:1:2::2",
                    "2001:db8:1:2:ffff::3",
                    "2001:db8:1:2::4",
                    "2001:db8:1:2::5",
                ],
                Some("2001:db8:1:2::/64"),
            ),
            (
                &[
                    "2001:db8:1:2::1",
                    "2001:db8:1:2::2",
                    "2001:db8:1:2::3",
                    "2001:db8:1:2::4",
                    "2001:db8:1:3::5",
                ],
                None,
            ),
        ];
        for (addrs, want) in cases {
            let mut guard = Guard::new(GuardConfig::default(), vec![]);
            let mut rollups = Vec::new();
            for (i, a) in addrs.iter().enumerate() {
                let got = guard.observe(&sockets(a, 80, 150, 0), T0 + i as u64);
                assert_eq!(got[0].target, Target::Addr(ip(a)));
                rollups.extend(got.into_iter().skip(1));
            }
            match want {
                None => assert!(rollups.is_empty(), "{addrs:?}: {rollups:?}"),
                Some(p) => {
                    assert_eq!(rollups.len(), 1, "{addrs:?}");
                    let d = &rollups[0];
                    assert_eq!(d.target, Target::Prefix(p.parse().unwrap()));
                    assert_eq!(d.reason.detector, "rollup");
                    assert_eq!(d.evidence.count, 5);
                    assert_eq!(d.evidence.samples.len(), 5);
                }
            }
        }
    }

    /// Roll-up neighbourhoods configured wider: /16 and /48.
    #[test]
    fn rollup_wider_neighbourhoods() {
        let mut config = GuardConfig::default();
        config.rollup.v4_len = 16;
        config.rollup.v6_len = 48;
        config.rollup.sources = 2;
        let mut guard = Guard::new(config, vec![]);
        guard.observe(&sockets("198.51.1.1", 80, 150, 0), T0);
        let got = guard.observe(&sockets("198.51.200.1", 80, 150, 0), T0);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1].target,
            Target::Prefix("198.51.0.0/16".parse().unwrap())
        );
        guard.observe(&sockets("2001:db8:7:1::1", 80, 150, 0), T0);
        let got = guard.observe(&sockets("2001:db8:7:ff::1", 80, 150, 0), T0);
        assert_eq!(
            got[1].target,
            Target::Prefix("2001:db8:7::/48".parse().unwrap())
        );
        // An address inside a banned prefix is not banned again.
        assert!(guard.is_banned(ip("198.51.77.77"), T0 + 1));
        assert!(guard
            .observe(&sockets("198.51.77.77", 80, 150, 0), T0 + 1)
            .is_empty());
    }

    /// Allowlisted sources are never banned, whatever they do, and a neighbourhood holding
    /// one is never rolled up.
    #[test]
    fn allowlisted_sources_are_never_banned() {
        let mut config = GuardConfig::default();
        config.allow.ranges = vec!["203.0.113.128/25".parse().unwrap()];
        // Loopback is not passed: the guard adds it itself.
        let allow = vec![
            (
                "192.0.2.22/32".parse().unwrap(),
                "admin SSH source".to_string(),
            ),
            ("2001:db8:a::/48".parse().unwrap(), "allow_from".to_string()),
        ];
        let mut guard = Guard::new(config, allow);
        assert_eq!(guard.allowed(ip("192.0.2.22")), Some("admin SSH source"));
        assert_eq!(
            guard.allowed(ip("::ffff:192.0.2.22")),
            Some("admin SSH source")
        );
        assert_eq!(
            guard.allowed(ip("203.0.113.200")),
            Some("guard.allow.ranges")
        );
        assert_eq!(guard.allowed(ip("192.0.2.23")), None);
        assert_eq!(guard.allowed(ip("::1")), Some("loopback"));
        for (i, a) in [
            "127.0.0.1",
            "::1",
            "192.0.2.22",
            "::ffff:192.0.2.22",
            "2001:db8:a::9",
            "203.0.113.200",
        ]
        .iter()
        .enumerate()
        {
            let now = T0 + i as u64;
            assert!(
                guard
                    .observe(&sockets(a, 80, 100_000, 100_000), now)
                    .is_empty(),
                "{a}"
            );
            for _ in 0..1000 {
                assert!(guard.observe(&sshd_failure(a), now).is_empty(), "{a}");
                assert!(guard.observe(&new_conn(a), now).is_empty(), "{a}");
            }
        }
        assert!(guard.stats().spared > 0);
        // Five banned neighbours of the admin: the /24 is not banned.
        for i in 1..=6 {
            let got = guard.observe(&sockets(&format!("192.0.2.{i}"), 80, 150, 0), T0 + 10);
            assert_eq!(got.len(), 1, "{got:?}");
        }
        assert!(!guard.is_banned(ip("192.0.2.22"), T0 + 11));
        assert!(guard.tick(T0 + 11).is_empty());
    }

    /// A hostile sshd line (a user name that carries another address) bans the address
    /// sshd logged, never the one the client wrote.
    #[test]
    fn a_hostile_sshd_line_never_bans_a_wrong_address() {
        let hostile = [
            "Dec  6 18:00:00 web1 sshd[812]: Invalid user x from 192.0.2.1 port 22 from 198.51.100.9 port 4711",
            "Dec  6 18:00:00 web1 sshd[812]: Failed password for invalid user from 192.0.2.1 port 22 ssh2 from 198.51.100.9 port 4711 ssh2",
            "Dec  6 18:00:00 web1 sshd[812]: Failed password for root from 192.0.2.1 port 22 ssh2 from 198.51.100.9 port 4711 ssh2",
        ];
        let mut config = GuardConfig::default();
        config.sshd.window.limit = 3;
        let mut guard = Guard::new(config, vec![]);
        let mut bans = Vec::new();
        for line in hostile {
            if let Some(obs) = Observation::from_log(rampart_logs::Source::Sshd, line.as_bytes()) {
                let Observation::Log { addr, .. } = &obs else {
                    panic!()
                };
                assert_eq!(*addr, ip("198.51.100.9"), "{line}");
                bans.extend(guard.observe(&obs, T0));
            }
        }
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].target, Target::Addr(ip("198.51.100.9")));
        assert!(!guard.is_banned(ip("192.0.2.1"), T0));
        // A line naming a host, not an address, makes no observation.
        let named = "Dec  6 18:00:00 web1 sshd[812]: error: PAM: Authentication failure for root from attacker.example";
        assert!(Observation::from_log(rampart_logs::Source::Sshd, named.as_bytes()).is_none());
    }

    /// The kernel's own bans are recorded with their limit, for their time; roll-up counts
    /// them.
    #[test]
    fn kernel_bans_are_recorded() {
        let mut guard = Guard::new(GuardConfig::default(), vec![]);
        let got = guard.observe(
            &Observation::KernelBan {
                addr: ip("198.51.100.44"),
                limit: "http".into(),
                ban_secs: 60,
            },
            T0,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].origin, Origin::Kernel);
        assert_eq!(got[0].reason.detector, "kernel:http");
        assert_eq!(got[0].until, T0 + 60);
        assert!(guard.is_banned(ip("198.51.100.44"), T0 + 59));
        assert!(!guard.is_banned(ip("198.51.100.44"), T0 + 60));
    }

    /// After a restart: running bans are known (not decided again), their offences count,
    /// lifted ones are forgiven.
    #[test]
    fn restore_keeps_bans_and_offences() {
        let mut first = Guard::new(GuardConfig::default(), vec![]);
        let mut stored = Vec::new();
        for (i, a) in ["198.51.100.60", "198.51.100.61"].iter().enumerate() {
            for d in first.observe(&sockets(a, 80, 150, 0), T0) {
                stored.push(StoredDecision {
                    id: i as i64 + 1,
                    decision: d,
                    lifted: None,
                });
            }
        }
        stored[1].lifted = Some(T0 + 5);
        let mut guard = Guard::new(GuardConfig::default(), vec![]);
        guard.restore(&stored, T0 + 10);
        assert!(guard.is_banned(ip("198.51.100.60"), T0 + 10));
        assert!(!guard.is_banned(ip("198.51.100.61"), T0 + 10));
        assert!(guard
            .observe(&sockets("198.51.100.60", 80, 150, 0), T0 + 10)
            .is_empty());
        // After it ends, the next ban is a second offence.
        guard.tick(T0 + 600);
        let got = guard.observe(&sockets("198.51.100.60", 80, 150, 0), T0 + 600);
        assert_eq!(got[0].reason.offence, 1);
        assert_eq!(got[0].until - got[0].start, 2_400);
        // The lifted one starts over.
        let got = guard.observe(&sockets("198.51.100.61", 80, 150, 0), T0 + 600);
        assert_eq!(got[0].reason.offence, 0);
    }

    /// Restored bans that fill a neighbourhood get it rolled up at the next tick; expired
    /// ones end at the tick that passes their time.
    #[test]
    fn tick_rolls_up_restored_bans_and_ends_expired_ones() {
        let mut first = Guard::new(GuardConfig::default(), vec![]);
        let mut config = GuardConfig::default();
        config.rollup.enabled = false;
        let mut no_rollup = Guard::new(config, vec![]);
        let mut stored = Vec::new();
        for i in 1..=5 {
            for d in no_rollup.observe(&sockets(&format!("203.0.113.{i}"), 80, 150, 0), T0) {
                stored.push(StoredDecision {
                    id: i,
                    decision: d,
                    lifted: None,
                });
            }
        }
        assert_eq!(stored.len(), 5);
        first.restore(&stored, T0 + 1);
        let got = first.tick(T0 + 1);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].target,
            Target::Prefix("203.0.113.0/24".parse().unwrap())
        );
        assert!(first.tick(T0 + 2).is_empty(), "rolled up once");
        assert_eq!(first.stats().active, 6);
        first.tick(T0 + 600);
        // The addresses' bans ended at T0 + 600; the roll-up (from T0 + 1) runs on.
        assert_eq!(first.stats().active, 1);
        assert!(first.is_banned(ip("203.0.113.77"), T0 + 600));
        first.tick(T0 + 601);
        assert_eq!(first.stats().active, 0);
    }

    /// An unban by the administrator ends the ban in the guard's view at once.
    #[test]
    fn lifted_bans_end_at_once() {
        let mut guard = Guard::new(GuardConfig::default(), vec![]);
        let got = guard.observe(&sockets("198.51.100.70", 80, 150, 0), T0);
        guard.lifted(&got[0].target);
        assert!(!guard.is_banned(ip("198.51.100.70"), T0 + 1));
        let again = guard.observe(&sockets("198.51.100.70", 80, 150, 0), T0 + 1);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].reason.offence, 0);
    }

    #[test]
    fn human_times() {
        for (secs, text) in [
            (600, "10m"),
            (90, "90s"),
            (7_200, "2h"),
            (86_400, "1d"),
            (604_800, "1w"),
            (0, "0s"),
        ] {
            assert_eq!(human_secs(secs), text);
        }
    }
}
