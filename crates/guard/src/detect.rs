//! Detectors: observations in, [`Finding`]s out, with memory bounded whatever the number
//! of sources.
//!
//! Two kinds:
//! - **Snapshot** detectors (connections, SYN_RECV) compare the counts of one socket
//!   snapshot against their limits. They keep nothing between snapshots: their memory is
//!   the snapshot's, which the kernel bounds.
//! - **Windowed** detectors (NEW-connection rate, HTTP request rate, HTTP errors, sshd
//!   failures) count events per source in a sliding window, in a [`RateTable`].
//!
//! Decision: a [`RateTable`] is an LRU of *exact* per-source windows, not a count-min
//! sketch. A sketch overestimates: under a spoofed flood of 10M addresses its collisions
//! would push real users over their limit, and the guard would ban the people it
//! protects. An exact LRU never overestimates; what a flood can do to it is evict a source
//! before it crosses. A source is only evicted after `capacity` other sources were seen
//! since its last event, so an abuser whose share of the events is above
//! `1 / capacity` (1/65,536 by default) stays tracked and is caught; one below that rate
//! is no flood. Memory is fixed by the capacity: see [`RateTable::bound`].

use std::collections::HashMap;
use std::net::IpAddr;

use crate::config::{GuardConfig, PortLimit, Window};
use crate::observation::{LogSource, Observation};

/// The longest sample line kept as evidence, in bytes (longer ones are cut).
pub const MAX_SAMPLE: usize = 240;

/// The memory one [`RateTable`] may use, in bytes: its capacity is lowered to fit when
/// `max_sources` entries of its window would not (64 MiB: four tables stay far below the
/// guard's 500 MB ceiling under a flood).
pub const TABLE_BUDGET: usize = 64 << 20;

/// Which detector found something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detector {
    /// ESTABLISHED sockets per source (DDoS Deflate's check).
    Connections,
    /// SYN_RECV sockets per source.
    SynRecv,
    /// New connections per source per window.
    NewRate,
    /// HTTP requests per source per window.
    HttpRate,
    /// Refused HTTP requests per source per window.
    HttpErrors,
    /// sshd failures per source per window.
    Sshd,
}

impl Detector {
    /// The name in decisions, logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Connections => "connections",
            Detector::SynRecv => "syn-recv",
            Detector::NewRate => "new-rate",
            Detector::HttpRate => "http-rate",
            Detector::HttpErrors => "http-errors",
            Detector::Sshd => "sshd",
        }
    }
}

/// One source crossed one detector's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The source.
    pub addr: IpAddr,
    /// Which detector.
    pub detector: Detector,
    /// In words: "152 connections to port 80 (limit 150)".
    pub summary: String,
    /// The count that crossed.
    pub count: u64,
    /// The window (0 for a snapshot).
    pub window_secs: u64,
    /// The first and last sample (lines, sockets), escaped.
    pub samples: Vec<String>,
    /// The first ban's length for this finding (a port's own ban time, else `ban_time`).
    pub ban_secs: u64,
}

/// What a [`RateTable`] reports when a source reaches its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossing {
    /// Events counted in the window (the limit: the crossing event is the limit-th).
    pub count: u32,
    /// The sample kept from the first counted event, if samples are kept.
    pub first: Option<String>,
}

const NIL: u32 = u32::MAX;

/// One tracked source: its place in the recency list and its window's ring of
/// `(second, events in that second)` slots.
#[derive(Debug, Clone)]
struct Node {
    addr: IpAddr,
    prev: u32,
    next: u32,
    /// First used slot of the ring.
    start: u16,
    /// Used slots.
    len: u16,
    /// Events in the used slots.
    total: u32,
    /// The first counted event's sample.
    sample: Option<Box<str>>,
}

/// Sliding-window counts per source, exact, for at most `capacity` sources (the least
/// recently seen evicted): `limit` events within `window` seconds (the first and the
/// limit-th less than `window` apart) is a [`Crossing`], after which the source's count
/// starts again.
///
/// Each source keeps a ring of `(second, count)` slots: `min(limit, window)` of them,
/// since events of one second share a slot and a window holds `window` distinct seconds,
/// and a source with `limit` slots in use has crossed. Memory is preallocated nowhere and
/// grows with the sources seen up to the capacity, never past it.
#[derive(Debug)]
pub struct RateTable {
    limit: u32,
    window: u32,
    slots: usize,
    capacity: usize,
    keep_samples: bool,
    index: HashMap<IpAddr, u32>,
    nodes: Vec<Node>,
    ring: Vec<(u32, u32)>,
    sample_bytes: usize,
    head: u32,
    tail: u32,
    evicted: u64,
}

impl RateTable {
    /// A table for `window`, tracking at most `max_sources` sources (fewer when they would
    /// not fit [`TABLE_BUDGET`]), keeping each source's first sample when `keep_samples`.
    pub fn new(window: Window, max_sources: u32, keep_samples: bool) -> RateTable {
        // Validated config stays within these; a caller building a Window by hand too.
        let limit = window.limit.clamp(1, crate::config::MAX_WINDOW_LIMIT);
        let secs = u32::try_from(window.window_secs.max(1)).unwrap_or(u32::MAX);
        let slots = limit.min(secs) as usize;
        let per_source = Self::entry_bytes(slots, keep_samples);
        let capacity = (max_sources as usize).min(TABLE_BUDGET / per_source).max(1);
        RateTable {
            limit,
            window: secs,
            slots,
            capacity,
            keep_samples,
            index: HashMap::new(),
            nodes: Vec::new(),
            ring: Vec::new(),
            sample_bytes: 0,
            head: NIL,
            tail: NIL,
            evicted: 0,
        }
    }

    /// The most bytes one source may cost: its node, its ring, its sample, and its share
    /// of the hash table (see [`RateTable::bound`]; allocator overhead aside).
    fn entry_bytes(slots: usize, keep_samples: bool) -> usize {
        std::mem::size_of::<Node>()
            + slots * std::mem::size_of::<(u32, u32)>()
            + if keep_samples { MAX_SAMPLE } else { 0 }
            + 4 * (std::mem::size_of::<(IpAddr, u32)>() + 1)
    }

    /// The documented ceiling of [`RateTable::memory_bytes`]: the capacity's nodes, rings
    /// and samples, and the hash table. The table holds at most `capacity` keys, but
    /// evictions leave tombstones, and hashbrown then grows once to twice the buckets
    /// before it settles on rehashing in place: at most 4 × capacity (rounded up to a power
    /// of two) buckets of one key, one index and one control byte.
    pub fn bound(&self) -> usize {
        let map =
            4 * self.capacity.next_power_of_two() * (std::mem::size_of::<(IpAddr, u32)>() + 1);
        let nodes = self.capacity * std::mem::size_of::<Node>();
        let ring = self.capacity * self.slots * std::mem::size_of::<(u32, u32)>();
        let samples = if self.keep_samples {
            self.capacity * MAX_SAMPLE
        } else {
            0
        };
        map + nodes + ring + samples + 4096
    }

    /// Bytes held now: the hash table's buckets, the node and ring vectors' allocations,
    /// and the samples' text.
    pub fn memory_bytes(&self) -> usize {
        // hashbrown: one control byte per bucket beside each (key, value); buckets are
        // capacity * 8 / 7 rounded up to a power of two.
        let buckets = if self.index.capacity() == 0 {
            0
        } else {
            (self.index.capacity() * 8 / 7).next_power_of_two()
        };
        buckets * (std::mem::size_of::<(IpAddr, u32)>() + 1)
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.ring.capacity() * std::mem::size_of::<(u32, u32)>()
            + self.sample_bytes
    }

    /// Sources tracked now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no source is tracked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The most sources tracked at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sources evicted to make room, since the start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Counts one event of `addr` at `now`; a [`Crossing`] when it is the limit-th within
    /// the window. `sample` is kept (cut to [`MAX_SAMPLE`]) when it is the first counted.
    pub fn hit(&mut self, addr: IpAddr, now: u64, sample: Option<&str>) -> Option<Crossing> {
        let now = u32::try_from(now).unwrap_or(u32::MAX);
        let i = match self.index.get(&addr) {
            Some(&i) => {
                self.unlink(i);
                i
            }
            None => self.insert(addr),
        };
        self.push_front(i);
        let base = i as usize * self.slots;
        let (window, slots, limit) = (self.window, self.slots, self.limit);
        let node = &mut self.nodes[i as usize];
        // Expire slots that left the window (events at or before now - window).
        let mut expired = false;
        while node.len > 0 {
            let (t, c) = self.ring[base + node.start as usize];
            if t.saturating_add(window) > now {
                break;
            }
            node.total -= c;
            node.start = ((node.start as usize + 1) % slots) as u16;
            node.len -= 1;
            expired = true;
        }
        // The kept sample must be a counted event's: when its slot slid out, this event's
        // line replaces it (the oldest one still counted is not known any more).
        if node.len == 0 || expired {
            if let Some(old) = node.sample.take() {
                self.sample_bytes -= old.len();
            }
            if self.keep_samples {
                if let Some(s) = sample {
                    let cut = cut(s, MAX_SAMPLE);
                    self.sample_bytes += cut.len();
                    node.sample = Some(cut.into());
                }
            }
        }
        // A clock that steps back counts in the newest slot: never an older window.
        let last = (node.start as usize + node.len as usize + slots - 1) % slots;
        if node.len > 0 && self.ring[base + last].0 >= now {
            self.ring[base + last].1 += 1;
        } else {
            let at = (node.start as usize + node.len as usize) % slots;
            self.ring[base + at] = (now, 1);
            node.len += 1;
        }
        node.total += 1;
        if node.total < limit {
            return None;
        }
        let crossing = Crossing {
            count: node.total,
            first: node.sample.take().map(String::from),
        };
        if let Some(s) = &crossing.first {
            self.sample_bytes -= s.len();
        }
        node.len = 0;
        node.start = 0;
        node.total = 0;
        Some(crossing)
    }

    /// Forgets `addr` (banned: its count starts again when the ban ends).
    pub fn forget(&mut self, addr: IpAddr) {
        if let Some(&i) = self.index.get(&addr) {
            let node = &mut self.nodes[i as usize];
            node.len = 0;
            node.start = 0;
            node.total = 0;
            if let Some(s) = node.sample.take() {
                self.sample_bytes -= s.len();
            }
        }
    }

    /// A slot for `addr`: a new one while below capacity, else the least recently seen
    /// source's, evicted.
    fn insert(&mut self, addr: IpAddr) -> u32 {
        let node = Node {
            addr,
            prev: NIL,
            next: NIL,
            start: 0,
            len: 0,
            total: 0,
            sample: None,
        };
        let i = if self.nodes.len() < self.capacity {
            if self.nodes.len() == self.nodes.capacity() {
                let want = (self.nodes.len() * 2).max(1024).min(self.capacity);
                self.nodes.reserve_exact(want - self.nodes.len());
                self.ring.reserve_exact(want * self.slots - self.ring.len());
            }
            self.nodes.push(node);
            self.ring.extend(std::iter::repeat_n((0, 0), self.slots));
            (self.nodes.len() - 1) as u32
        } else {
            let i = self.tail;
            self.unlink(i);
            let old = std::mem::replace(&mut self.nodes[i as usize], node);
            if let Some(s) = old.sample {
                self.sample_bytes -= s.len();
            }
            self.index.remove(&old.addr);
            self.evicted += 1;
            i
        };
        if self.index.capacity() == 0 {
            self.index.reserve(self.capacity.min(1024));
        }
        self.index.insert(addr, i);
        i
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let n = &mut self.nodes[i as usize];
            n.prev = NIL;
            n.next = old;
        }
        if old != NIL {
            self.nodes[old as usize].prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Memory and activity of the detectors, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorStats {
    /// Sources tracked by the windowed detectors together.
    pub tracked: usize,
    /// Sources evicted from them to make room, since the start.
    pub evicted: u64,
    /// Bytes their tables hold.
    pub memory_bytes: usize,
    /// The ceiling of `memory_bytes`.
    pub bound_bytes: usize,
}

/// Every detector the configuration enables.
#[derive(Debug)]
pub struct Detectors {
    connections: Option<(u32, Vec<PortLimit>)>,
    syn_recv: Option<u32>,
    default_ban: u64,
    sshd_probes: bool,
    new_rate: Option<RateTable>,
    http_rate: Option<RateTable>,
    http_errors: Option<RateTable>,
    sshd: Option<RateTable>,
}

impl Detectors {
    /// The detectors of `config`.
    pub fn new(config: &GuardConfig) -> Detectors {
        let table = |w: Window, samples: bool| {
            w.enabled
                .then(|| RateTable::new(w, config.max_sources, samples))
        };
        Detectors {
            connections: config
                .connections
                .enabled
                .then(|| (config.connections.limit, config.connections.ports.clone())),
            syn_recv: config.syn_recv.enabled.then_some(config.syn_recv.limit),
            default_ban: config.ban.ban_secs,
            sshd_probes: config.sshd.probes,
            new_rate: table(config.new_rate, false),
            http_rate: table(config.http_rate, true),
            http_errors: table(config.http_errors, true),
            sshd: table(config.sshd.window, true),
        }
    }

    /// What `obs`, seen at `now`, makes cross.
    pub fn observe(&mut self, obs: &Observation, now: u64) -> Vec<Finding> {
        let mut out = Vec::new();
        match obs {
            Observation::Sockets { counts } => self.sockets(counts, &mut out),
            Observation::NewConnection { addr, port } => {
                if let Some(t) = &mut self.new_rate {
                    if let Some(c) = t.hit(*addr, now, None) {
                        let (window, limit) = (u64::from(t.window), t.limit);
                        out.push(finding(
                            Detector::NewRate,
                            *addr,
                            c,
                            &format!("new connections (last to port {port})"),
                            window,
                            limit,
                            None,
                            self.default_ban,
                        ));
                    }
                }
            }
            Observation::Log {
                source,
                kind,
                addr,
                line,
            } => {
                use rampart_logs::Class;
                let class = kind.class();
                let sample = Some(line.as_str());
                let mut hit = |d: Detector, what: &str, out: &mut Vec<Finding>| {
                    let table = match d {
                        Detector::HttpRate => &mut self.http_rate,
                        Detector::HttpErrors => &mut self.http_errors,
                        Detector::Sshd => &mut self.sshd,
                        _ => return,
                    };
                    if let Some(t) = table {
                        if let Some(c) = t.hit(*addr, now, sample) {
                            let window = u64::from(t.window);
                            let limit = t.limit;
                            out.push(finding(
                                d,
                                *addr,
                                c,
                                what,
                                window,
                                limit,
                                Some(line),
                                self.default_ban,
                            ));
                        }
                    }
                };
                match (source, class) {
                    (LogSource::Sshd, Class::Failure) => {
                        hit(Detector::Sshd, "sshd failures", &mut out)
                    }
                    (LogSource::Sshd, Class::Probe) if self.sshd_probes => {
                        hit(Detector::Sshd, "sshd failures and probes", &mut out)
                    }
                    (LogSource::WebAccess, Class::Request) => {
                        hit(Detector::HttpRate, "HTTP requests", &mut out)
                    }
                    (LogSource::WebAccess, Class::Refused) => {
                        hit(Detector::HttpRate, "HTTP requests", &mut out);
                        hit(Detector::HttpErrors, "refused HTTP requests", &mut out);
                    }
                    (LogSource::WebError, Class::Refused) => {
                        hit(Detector::HttpErrors, "refused HTTP requests", &mut out)
                    }
                    _ => {}
                }
            }
            Observation::KernelBan { .. } => {}
        }
        out
    }

    /// Forgets `addr`'s counts (it was just banned).
    pub fn forget(&mut self, addr: IpAddr) {
        for t in [
            &mut self.new_rate,
            &mut self.http_rate,
            &mut self.http_errors,
            &mut self.sshd,
        ]
        .into_iter()
        .flatten()
        {
            t.forget(addr);
        }
    }

    /// Memory and activity.
    pub fn stats(&self) -> DetectorStats {
        let mut s = DetectorStats::default();
        for t in [
            &self.new_rate,
            &self.http_rate,
            &self.http_errors,
            &self.sshd,
        ]
        .into_iter()
        .flatten()
        {
            s.tracked += t.len();
            s.evicted += t.evicted();
            s.memory_bytes += t.memory_bytes();
            s.bound_bytes += t.bound();
        }
        s
    }

    fn sockets(&self, counts: &[crate::observation::SourceCount], out: &mut Vec<Finding>) {
        // Per source: (established on ports without an override, syn_recv, samples).
        let mut per: HashMap<IpAddr, (u64, u64, Vec<String>)> = HashMap::new();
        for c in counts {
            let e = per.entry(c.addr).or_default();
            let own = self
                .connections
                .as_ref()
                .and_then(|(_, ports)| ports.iter().find(|p| p.port == c.port));
            match own {
                Some(p) if u64::from(c.established) >= u64::from(p.limit) => {
                    out.push(Finding {
                        addr: c.addr,
                        detector: Detector::Connections,
                        summary: format!(
                            "{} connections to port {} (limit {})",
                            c.established, c.port, p.limit
                        ),
                        count: u64::from(c.established),
                        window_secs: 0,
                        samples: vec![socket_sample(c)],
                        ban_secs: p.ban_secs,
                    });
                }
                Some(_) => {}
                None => e.0 += u64::from(c.established),
            }
            e.1 += u64::from(c.syn_recv);
            // Evidence: the first and last few ports of the source.
            if e.2.len() < 4 {
                e.2.push(socket_sample(c));
            }
        }
        let mut addrs: Vec<_> = per.into_iter().collect();
        addrs.sort_by_key(|(a, _)| *a);
        for (addr, (est, syn, samples)) in addrs {
            if out.iter().any(|f| f.addr == addr) {
                continue;
            }
            if let Some((limit, _)) = &self.connections {
                if est >= u64::from(*limit) {
                    out.push(Finding {
                        addr,
                        detector: Detector::Connections,
                        summary: format!("{est} connections (limit {limit})"),
                        count: est,
                        window_secs: 0,
                        samples: samples.clone(),
                        ban_secs: self.default_ban,
                    });
                    continue;
                }
            }
            if let Some(limit) = self.syn_recv {
                if syn >= u64::from(limit) {
                    out.push(Finding {
                        addr,
                        detector: Detector::SynRecv,
                        summary: format!("{syn} half-open connections (limit {limit})"),
                        count: syn,
                        window_secs: 0,
                        samples,
                        ban_secs: self.default_ban,
                    });
                }
            }
        }
    }
}

fn socket_sample(c: &crate::observation::SourceCount) -> String {
    format!(
        "{} → port {}: {} established, {} syn-recv",
        c.addr, c.port, c.established, c.syn_recv
    )
}

#[allow(clippy::too_many_arguments)]
fn finding(
    d: Detector,
    addr: IpAddr,
    c: Crossing,
    what: &str,
    window: u64,
    limit: u32,
    last: Option<&str>,
    ban_secs: u64,
) -> Finding {
    let mut samples: Vec<String> = c.first.into_iter().collect();
    if let Some(l) = last {
        let l = cut(l, MAX_SAMPLE);
        if samples.last().map(String::as_str) != Some(l) {
            samples.push(l.to_string());
        }
    }
    Finding {
        addr,
        detector: d,
        summary: format!(
            "{} {what} in {} (limit {limit})",
            c.count,
            crate::decide::human_secs(window)
        ),
        count: u64::from(c.count),
        window_secs: window,
        samples,
        ban_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn window(limit: u32, window_secs: u64) -> Window {
        Window {
            enabled: true,
            limit,
            window_secs,
        }
    }

    /// The least recently seen source is the one evicted; a source seen often stays.
    #[test]
    fn lru_evicts_the_least_recently_seen() {
        let mut t = RateTable::new(window(3, 60), 16, false);
        assert_eq!(t.capacity(), 16);
        let hot: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(t.hit(hot, 0, None).is_none());
        assert!(t.hit(hot, 0, None).is_none());
        // 100 other sources, the hot one seen again every 10: it is never evicted.
        for i in 0..100u32 {
            t.hit(IpAddr::V4(Ipv4Addr::from(0xcb00_7100 + i)), 1, None);
            if i % 10 == 9 && i < 99 {
                t.hit(hot, 1, None);
                t.forget(hot);
                t.hit(hot, 1, None);
                t.hit(hot, 1, None);
            }
        }
        assert_eq!(t.len(), 16);
        assert_eq!(t.evicted(), 101 - 16);
        assert!(
            t.hit(hot, 2, None).is_some(),
            "the hot source kept its count"
        );
        // A cold one was evicted: its count starts again.
        let cold = IpAddr::V4(Ipv4Addr::from(0xcb00_7100));
        assert!(t.hit(cold, 2, None).is_none());
        assert!(t.hit(cold, 2, None).is_none());
        assert!(t.hit(cold, 2, None).is_some());
    }

    /// Samples are cut and their bytes accounted; a clock stepping back counts in the
    /// newest slot.
    #[test]
    fn samples_and_clock_steps() {
        let mut t = RateTable::new(window(3, 10), 16, true);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let long = "é".repeat(200);
        assert!(t.hit(a, 100, Some(&long)).is_none());
        assert!(t.memory_bytes() >= MAX_SAMPLE - 1);
        assert!(t.hit(a, 90, Some("second")).is_none());
        let c = t.hit(a, 100, Some("third")).expect("crossed");
        assert_eq!(c.count, 3);
        let first = c.first.unwrap();
        assert!(first.len() <= MAX_SAMPLE && first.starts_with('é'));
        assert_eq!(t.sample_bytes, 0);
    }

    /// A table never tracks more than its budget allows, whatever `max_sources` says.
    #[test]
    fn budget_caps_the_capacity() {
        let t = RateTable::new(window(4_096, 3_600), crate::config::MAX_SOURCES, true);
        assert!(t.capacity() < crate::config::MAX_SOURCES as usize);
        assert!(t.bound() <= 2 * TABLE_BUDGET, "{}", t.bound());
    }

    /// A spoofed flood: 10M distinct sources, one NEW connection each, through the
    /// connection-rate detector. Its state stops growing at its capacity, under the
    /// documented bound, and nobody is banned.
    #[test]
    fn ten_million_spoofed_sources_keep_state_bounded() {
        let config = GuardConfig::default();
        let mut d = Detectors::new(&config);
        let mut at_capacity = None;
        for i in 0..10_000_000u64 {
            // Half IPv4, half IPv6, all distinct.
            let addr = if i % 2 == 0 {
                IpAddr::V4(Ipv4Addr::from(0xc000_0000u32.wrapping_add(i as u32)))
            } else {
                IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i)))
            };
            let obs = Observation::NewConnection { addr, port: 80 };
            assert!(d.observe(&obs, 1_800_000_000 + i / 1_000_000).is_empty());
            if i == 2_000_000 {
                at_capacity = Some(d.stats());
            }
        }
        let s = d.stats();
        let first = at_capacity.unwrap();
        // Only this detector's table holds anything: its own bound applies.
        let bound = RateTable::new(config.new_rate, config.max_sources, false).bound();
        assert_eq!(s.tracked, config.max_sources as usize);
        assert_eq!(
            s.memory_bytes, first.memory_bytes,
            "no growth after the table filled"
        );
        assert!(s.memory_bytes <= bound, "{} > {bound}", s.memory_bytes);
        // The documented figure for the defaults: under 16 MiB for this detector.
        assert!(s.memory_bytes < 16 << 20, "{}", s.memory_bytes);
        assert_eq!(s.evicted, 10_000_000 - u64::from(config.max_sources));
        eprintln!(
            "new-rate table after 10M sources: {} sources, {} bytes (bound {})",
            s.tracked, s.memory_bytes, bound
        );
    }
}
