//! The connection-tracking model: flows keyed by both directions' tuples, with the NAT
//! binding stored the way the kernel stores it (the reply tuple is the inverse of the
//! translated original).
//!
//! A packet in the original direction stays NEW until a reply has been seen, exactly as
//! `nf_conntrack` sets `IP_CT_NEW` until `IPS_SEEN_REPLY`; it does not traverse the nat
//! table again, because the binding was fixed by the first packet. TCP is loose
//! (`nf_conntrack_tcp_loose=1`): any first packet, SYN or not, opens a flow. TCP state
//! (SYN_SENT, FIN_WAIT, ...) is not modelled beyond "reply seen or not"; timeouts use the
//! kernel's defaults for those two cases (see [`Flow::timeout_us`]), measured on packet
//! timestamps and refreshed by every packet of the flow.

use std::collections::HashMap;
use std::net::IpAddr;

use rampart_ruleset::Protocol;

/// One direction of a flow: what conntrack hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Tuple {
    pub proto: Protocol,
    pub src: IpAddr,
    pub sport: Option<u16>,
    pub dst: IpAddr,
    pub dport: Option<u16>,
}

impl Tuple {
    /// The same flow seen from the other end.
    pub fn invert(self) -> Tuple {
        Tuple {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }
}

/// Which way a packet travels relative to the flow's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Original,
    Reply,
}

/// A tracked connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flow {
    /// The first packet's tuple before any translation.
    pub orig: Tuple,
    /// What a reply looks like: the inverse of the translated first packet.
    pub reply: Tuple,
    /// Whether a reply-direction packet has passed (ESTABLISHED from then on).
    pub seen_reply: bool,
    /// The connection mark (`CONNMARK`).
    pub mark: u32,
    /// Time of the flow's latest packet, microseconds.
    pub last_us: u64,
}

const SECOND_US: u64 = 1_000_000;

impl Flow {
    /// True when the source was translated (conntrack's `IPS_SRC_NAT`).
    pub fn snat(&self) -> bool {
        (self.orig.src, self.orig.sport) != (self.reply.dst, self.reply.dport)
    }

    /// True when the destination was translated (`IPS_DST_NAT`).
    pub fn dnat(&self) -> bool {
        (self.orig.dst, self.orig.dport) != (self.reply.src, self.reply.sport)
    }

    /// How long the flow lives without packets: the kernel's default sysctls
    /// (`nf_conntrack_tcp_timeout_syn_sent` 120 s, `..._established` 5 days,
    /// `nf_conntrack_udp_timeout` 30 s, `..._stream` 120 s, `nf_conntrack_icmp_timeout` 30 s,
    /// `nf_conntrack_generic_timeout` 600 s).
    pub fn timeout_us(&self) -> u64 {
        let seconds = match (self.orig.proto, self.seen_reply) {
            (Protocol::TCP, false) => 120,
            (Protocol::TCP, true) => 432_000,
            (Protocol::UDP, false) => 30,
            (Protocol::UDP, true) => 120,
            (Protocol::ICMP | Protocol::ICMPV6, _) => 30,
            _ => 600,
        };
        seconds * SECOND_US
    }

    /// Whether the flow is still tracked at `now_us`.
    pub fn alive(&self, now_us: u64) -> bool {
        now_us <= self.last_us.saturating_add(self.timeout_us())
    }

    /// The tuple a packet of direction `dir` must carry once both translations are done.
    pub fn target(&self, dir: Dir) -> Tuple {
        match dir {
            Dir::Original => self.reply.invert(),
            Dir::Reply => self.orig.invert(),
        }
    }
}

/// The conntrack table.
///
/// Flow ids are stable: an expired flow leaves an empty slot when it is reclaimed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conntrack {
    flows: Vec<Option<Flow>>,
    index: HashMap<Tuple, (usize, Dir)>,
    inserts: usize,
}

/// Inserts between sweeps of expired flows: bounds the memory a long replay of short
/// flows holds while keeping the sweep's O(flows) cost rare.
const SWEEP_EVERY: usize = 4096;

impl Conntrack {
    /// The live flow a packet with this tuple belongs to, and its direction.
    pub fn lookup(&self, tuple: &Tuple, now_us: u64) -> Option<(usize, Dir)> {
        let (id, dir) = *self.index.get(tuple)?;
        self.flows[id]
            .as_ref()
            .filter(|f| f.alive(now_us))
            .map(|_| (id, dir))
    }

    /// The flow with this id (one `lookup` returned).
    pub fn flow(&self, id: usize) -> &Flow {
        self.flows[id].as_ref().expect("looked-up flows exist")
    }

    /// Records a new flow, reclaiming expired flows whose tuples it reuses. A flow whose
    /// tuples clash with a live one is ignored, as the kernel drops a packet whose
    /// conntrack entry fails to confirm.
    pub fn insert(&mut self, flow: Flow) {
        let now = flow.last_us;
        for tuple in [flow.orig, flow.reply] {
            if let Some(&(id, _)) = self.index.get(&tuple) {
                if self.flows[id].as_ref().is_some_and(|f| f.alive(now)) {
                    return;
                }
                self.remove(id);
            }
        }
        let id = self.flows.len();
        self.index.insert(flow.orig, (id, Dir::Original));
        self.index.insert(flow.reply, (id, Dir::Reply));
        self.flows.push(Some(flow));
        self.inserts += 1;
        if self.inserts % SWEEP_EVERY == 0 {
            self.sweep(now);
        }
    }

    fn remove(&mut self, id: usize) {
        if let Some(old) = self.flows[id].take() {
            self.index.remove(&old.orig);
            self.index.remove(&old.reply);
        }
    }

    fn sweep(&mut self, now_us: u64) {
        let dead: Vec<usize> = self
            .live_or_dead()
            .filter(|(_, f)| !f.alive(now_us))
            .map(|(id, _)| id)
            .collect();
        for id in dead {
            self.remove(id);
        }
    }

    fn live_or_dead(&self) -> impl Iterator<Item = (usize, &Flow)> {
        self.flows
            .iter()
            .enumerate()
            .filter_map(|(id, f)| f.as_ref().map(|f| (id, f)))
    }

    /// Replaces a flow's mutable parts (seen_reply, mark, last packet time).
    pub fn update(&mut self, id: usize, flow: Flow) {
        self.flows[id] = Some(flow);
    }

    /// Flows alive at `now_us`, for connlimit counting.
    ///
    /// DoS note: connlimit counts by scanning, O(flows) per evaluation; fine for traces and
    /// batches of thousands of packets, not for replaying millions.
    pub fn live(&self, now_us: u64) -> impl Iterator<Item = &Flow> {
        self.live_or_dead()
            .map(|(_, f)| f)
            .filter(move |f| f.alive(now_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(src: &str, sport: u16, dst: &str, dport: u16) -> Tuple {
        Tuple {
            proto: Protocol::TCP,
            src: src.parse().unwrap(),
            sport: Some(sport),
            dst: dst.parse().unwrap(),
            dport: Some(dport),
        }
    }

    #[test]
    fn finds_both_directions_of_a_dnat_flow() {
        let mut ct = Conntrack::default();
        let orig = t("198.51.100.7", 40000, "203.0.113.2", 80);
        let translated = t("198.51.100.7", 40000, "192.0.2.10", 8080);
        ct.insert(Flow {
            orig,
            reply: translated.invert(),
            seen_reply: false,
            mark: 0,
            last_us: 0,
        });
        assert_eq!(ct.lookup(&orig, 0), Some((0, Dir::Original)));
        assert_eq!(ct.lookup(&translated.invert(), 0), Some((0, Dir::Reply)));
        let flow = ct.flow(0);
        assert!(flow.dnat() && !flow.snat());
        assert_eq!(flow.target(Dir::Original), translated);
        assert_eq!(flow.target(Dir::Reply), orig.invert());
        // An unanswered TCP flow is forgotten after 120 s; a new one takes its tuples.
        assert_eq!(ct.lookup(&orig, 120 * SECOND_US), Some((0, Dir::Original)));
        assert_eq!(ct.lookup(&orig, 121 * SECOND_US), None);
        ct.insert(Flow {
            orig,
            reply: orig.invert(),
            seen_reply: false,
            mark: 0,
            last_us: 200 * SECOND_US,
        });
        assert_eq!(ct.lookup(&orig, 200 * SECOND_US), Some((1, Dir::Original)));
        assert_eq!(ct.lookup(&translated.invert(), 200 * SECOND_US), None);
        assert_eq!(ct.live(200 * SECOND_US).count(), 1);
    }
}
