//! State that outlives one packet (conntrack, rate-limit buckets, `recent` lists) and the
//! copy-on-write overlay one walk writes into.
//!
//! A walk never mutates [`State`] directly: a forked walk is re-run from the start with
//! more assumptions, so every run must begin from the same state. Each run writes into a
//! [`Delta`]; the simulator commits one delta when the packet is done.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use rampart_ruleset::{Family, RecentCommand, RecentMatch};

use crate::conntrack::{Conntrack, Flow};
use crate::limit::Bucket;

/// Timestamps kept per `recent` entry: the kernel's `ip_pkt_list_tot` default, which also
/// bounds `--hitcount`.
pub(crate) const RECENT_STAMPS: usize = 20;

/// Identifies a token bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum BucketKey {
    /// A `-m limit` instance: one bucket per match in the ruleset.
    Limit {
        table: usize,
        chain: usize,
        rule: usize,
        index: usize,
    },
    /// A hashlimit entry: tables are shared by name within a family, as in the kernel.
    Hash {
        family: Family,
        name: String,
        key: HashKey,
    },
}

/// The masked packet fields a hashlimit bucket is keyed by (unused fields are `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct HashKey {
    pub src: Option<IpAddr>,
    pub sport: Option<u16>,
    pub dst: Option<IpAddr>,
    pub dport: Option<u16>,
}

/// A `recent` list entry's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RecentKey {
    pub name: String,
    pub addr: IpAddr,
}

/// An address a `-j SET` rule put in a set (or took out of it) during the run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MemberKey {
    pub set: String,
    pub addr: IpAddr,
}

/// What `-j SET` left for an address: in the set until a time (or for good), or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Membership {
    /// Added; `None`: never expires.
    Present { expires_us: Option<u64> },
    /// Deleted (also hides an entry the ruleset declared).
    Removed,
}

impl Membership {
    /// In the set at `now_us`: `Some(true)` present, `Some(false)` removed or expired.
    pub fn at(self, now_us: u64) -> bool {
        match self {
            Membership::Present { expires_us } => expires_us.is_none_or(|e| now_us < e),
            Membership::Removed => false,
        }
    }
}

/// State kept across packets.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub conntrack: Conntrack,
    buckets: HashMap<BucketKey, Bucket>,
    recent: HashMap<RecentKey, VecDeque<u64>>,
    members: HashMap<MemberKey, Membership>,
    nth: HashMap<RuleMatch, u64>,
    /// The ICMP error rate limit's per-destination buckets (`inet_peer`).
    pub icmp_peers: HashMap<std::net::IpAddr, crate::answer::IcmpPeer>,
}

/// One match of one rule: (table, chain, rule, match index), keying per-match counters.
pub(crate) type RuleMatch = (usize, usize, usize, usize);

/// What one walk changed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Delta {
    buckets: HashMap<BucketKey, Bucket>,
    /// `None` records a removal.
    recent: HashMap<RecentKey, Option<VecDeque<u64>>>,
    members: HashMap<MemberKey, Membership>,
    nth: HashMap<RuleMatch, u64>,
    /// A flow to create when the packet survives.
    pub new_flow: Option<Flow>,
    /// An existing flow's new `seen_reply`/mark.
    pub updated_flow: Option<(usize, Flow)>,
}

impl State {
    /// Applies a walk's changes.
    pub fn commit(&mut self, delta: Delta) {
        // Most packets change nothing: skip the maps' reserve-and-iterate.
        if !delta.buckets.is_empty() {
            self.buckets.extend(delta.buckets);
        }
        if !delta.members.is_empty() {
            self.members.extend(delta.members);
        }
        if !delta.nth.is_empty() {
            self.nth.extend(delta.nth);
        }
        for (key, entry) in delta.recent {
            match entry {
                Some(stamps) => {
                    self.recent.insert(key, stamps);
                }
                None => {
                    self.recent.remove(&key);
                }
            }
        }
        if let Some((id, flow)) = delta.updated_flow {
            self.conntrack.update(id, flow);
        }
        if let Some(flow) = delta.new_flow {
            self.conntrack.insert(flow);
        }
    }
}

/// A read-through view: the base state with one walk's delta on top.
pub(crate) struct View<'s> {
    pub base: &'s State,
    pub delta: Delta,
}

impl View<'_> {
    /// How many packets reached `-m statistic --mode nth` at `key` so far (its kernel
    /// counter, as a count).
    pub fn nth(&mut self, key: RuleMatch) -> &mut u64 {
        let base = self.base;
        self.delta
            .nth
            .entry(key)
            .or_insert_with_key(|k| base.nth.get(k).copied().unwrap_or(0))
    }

    /// The bucket for `key`, copied into the delta on first use or created by `init`.
    pub fn bucket(&mut self, key: BucketKey, init: impl FnOnce() -> Bucket) -> &mut Bucket {
        let base = self.base;
        self.delta
            .buckets
            .entry(key)
            .or_insert_with_key(|k| base.buckets.get(k).copied().unwrap_or_else(init))
    }

    /// What `-j SET` rules did to `addr` in `set` so far, `None` if nothing.
    pub fn member(&self, set: &str, addr: IpAddr) -> Option<Membership> {
        let key = MemberKey {
            set: set.to_string(),
            addr,
        };
        self.delta
            .members
            .get(&key)
            .or_else(|| self.base.members.get(&key))
            .copied()
    }

    /// Records what a `-j SET` rule did.
    pub fn set_member(&mut self, set: &str, addr: IpAddr, m: Membership) {
        let key = MemberKey {
            set: set.to_string(),
            addr,
        };
        self.delta.members.insert(key, m);
    }

    /// Live entries `-j SET` added to `set` at `now_us` (for its size limit).
    pub fn members_live(&self, set: &str, now_us: u64) -> usize {
        let mut seen: std::collections::HashSet<IpAddr> = std::collections::HashSet::new();
        let mut live = 0;
        for (k, m) in self.delta.members.iter().chain(self.base.members.iter()) {
            if k.set == set && seen.insert(k.addr) && m.at(now_us) {
                live += 1;
            }
        }
        live
    }

    /// Live hashlimit entries of table `name` in `family` at `now_us` (idle ones are
    /// forgotten after `expire_us`, as the kernel's meter entries time out).
    pub fn hash_entries_live(
        &self,
        family: Family,
        name: &str,
        now_us: u64,
        expire_us: u64,
    ) -> usize {
        let mut seen = std::collections::HashSet::new();
        let mut live = 0;
        for (k, b) in self.delta.buckets.iter().chain(self.base.buckets.iter()) {
            if let BucketKey::Hash {
                family: f, name: n, ..
            } = k
            {
                if *f == family
                    && n == name
                    && seen.insert(k)
                    && now_us.saturating_sub(b.prev_us()) <= expire_us
                {
                    live += 1;
                }
            }
        }
        live
    }

    /// Whether `key` has a bucket used within `expire_us` of `now_us`.
    pub fn bucket_live(&self, key: &BucketKey, now_us: u64, expire_us: u64) -> bool {
        self.delta
            .buckets
            .get(key)
            .or_else(|| self.base.buckets.get(key))
            .is_some_and(|b| now_us.saturating_sub(b.prev_us()) <= expire_us)
    }

    fn recent_entry(&self, key: &RecentKey) -> Option<VecDeque<u64>> {
        match self.delta.recent.get(key) {
            Some(entry) => entry.clone(),
            None => self.base.recent.get(key).cloned(),
        }
    }

    /// Evaluates a `recent` match the way `recent_mt` does, updating the list.
    ///
    /// `--rttl` is ignored (packets carry no TTL here).
    pub fn recent(&mut self, m: &RecentMatch, addr: IpAddr, now_us: u64) -> bool {
        let key = RecentKey {
            name: m.name.clone(),
            addr,
        };
        let mut ret = m.negated;
        let Some(mut stamps) = self.recent_entry(&key) else {
            if m.command == RecentCommand::Set {
                self.delta
                    .recent
                    .insert(key, Some(VecDeque::from([now_us])));
                ret = !ret;
            }
            return ret;
        };
        let window_start = m
            .seconds
            .map(|s| now_us.saturating_sub(u64::from(s) * 1_000_000));
        match m.command {
            RecentCommand::Set => ret = !ret,
            RecentCommand::Remove => {
                self.delta.recent.insert(key, None);
                return !ret;
            }
            RecentCommand::Rcheck | RecentCommand::Update => {
                let hits = stamps
                    .iter()
                    .filter(|t| window_start.is_none_or(|w| **t >= w))
                    .count();
                if hits >= m.hitcount.map_or(1, |h| h.max(1) as usize) {
                    ret = !ret;
                }
                if m.reap {
                    if let Some(w) = window_start {
                        stamps.retain(|t| *t >= w);
                    }
                }
            }
        }
        if m.command == RecentCommand::Set || (m.command == RecentCommand::Update && ret) {
            if stamps.len() == RECENT_STAMPS {
                stamps.pop_front();
            }
            stamps.push_back(now_us);
        }
        self.delta.recent.insert(key, Some(stamps));
        ret
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recent(command: RecentCommand, seconds: Option<u32>, hitcount: Option<u32>) -> RecentMatch {
        RecentMatch {
            name: "L".into(),
            command,
            negated: false,
            seconds,
            hitcount,
            rttl: false,
            reap: false,
            by_destination: false,
            mask: None,
        }
    }

    #[test]
    fn recent_follows_recent_mt() {
        let base = State::default();
        let mut view = View {
            base: &base,
            delta: Delta::default(),
        };
        let a: IpAddr = "198.51.100.7".parse().unwrap();
        let s = |n: u64| n * 1_000_000;
        // rcheck on an unknown address does not match and does not create an entry.
        assert!(!view.recent(&recent(RecentCommand::Rcheck, None, None), a, s(0)));
        assert!(view.recent(&recent(RecentCommand::Set, None, None), a, s(0)));
        assert!(view.recent(&recent(RecentCommand::Rcheck, Some(10), None), a, s(5)));
        assert!(!view.recent(&recent(RecentCommand::Rcheck, Some(10), None), a, s(11)));
        // A negated rcheck matches when the address is not (recently) listed.
        let mut neg = recent(RecentCommand::Rcheck, Some(10), None);
        neg.negated = true;
        assert!(view.recent(&neg, a, s(11)));
        assert!(view.recent(&recent(RecentCommand::Remove, None, None), a, s(12)));
        assert!(!view.recent(&recent(RecentCommand::Rcheck, None, None), a, s(12)));
        // Only RECENT_STAMPS timestamps are kept.
        for i in 0..30 {
            view.recent(&recent(RecentCommand::Set, None, None), a, s(100 + i));
        }
        let hit = |n| recent(RecentCommand::Rcheck, None, Some(n));
        assert!(view.recent(&hit(RECENT_STAMPS as u32), a, s(200)));
        assert!(!view.recent(&hit(RECENT_STAMPS as u32 + 1), a, s(200)));
    }
}
