//! The connection-tracking model: flows keyed by both directions' tuples, with the NAT
//! binding stored the way the kernel stores it (the reply tuple is the inverse of the
//! translated original).
//!
//! A packet in the original direction stays NEW until a reply has been seen, exactly as
//! `nf_conntrack` sets `IP_CT_NEW` until `IPS_SEEN_REPLY`; it does not traverse the nat
//! table again, because the binding was fixed by the first packet. TCP is loose
//! (`nf_conntrack_tcp_loose=1`): any first packet, SYN or not, opens a flow. TCP state
//! (SYN_SENT, FIN_WAIT, ...) and timeouts are not modelled: flows live until the simulator
//! is dropped.

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
}

impl Flow {
    /// True when the source was translated (conntrack's `IPS_SRC_NAT`).
    pub fn snat(&self) -> bool {
        (self.orig.src, self.orig.sport) != (self.reply.dst, self.reply.dport)
    }

    /// True when the destination was translated (`IPS_DST_NAT`).
    pub fn dnat(&self) -> bool {
        (self.orig.dst, self.orig.dport) != (self.reply.src, self.reply.sport)
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
#[derive(Debug, Clone, Default)]
pub(crate) struct Conntrack {
    flows: Vec<Flow>,
    index: HashMap<Tuple, (usize, Dir)>,
}

impl Conntrack {
    /// The flow a packet with this tuple belongs to, and its direction.
    pub fn lookup(&self, tuple: &Tuple) -> Option<(usize, Dir)> {
        self.index.get(tuple).copied()
    }

    /// The flow with this id.
    pub fn flow(&self, id: usize) -> &Flow {
        &self.flows[id]
    }

    /// Records a new flow; a flow whose tuples clash with a known one is ignored, as the
    /// kernel drops a packet whose conntrack entry fails to confirm.
    pub fn insert(&mut self, flow: Flow) {
        if self.index.contains_key(&flow.orig) || self.index.contains_key(&flow.reply) {
            return;
        }
        let id = self.flows.len();
        self.index.insert(flow.orig, (id, Dir::Original));
        self.index.insert(flow.reply, (id, Dir::Reply));
        self.flows.push(flow);
    }

    /// Replaces a flow's mutable parts (seen_reply, mark).
    pub fn update(&mut self, id: usize, flow: Flow) {
        self.flows[id] = flow;
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// All flows, for connlimit counting.
    ///
    /// DoS note: connlimit counts by scanning, O(flows) per evaluation; fine for traces and
    /// batches of thousands of packets, not for replaying millions.
    pub fn flows(&self) -> &[Flow] {
        &self.flows
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
        });
        assert_eq!(ct.lookup(&orig), Some((0, Dir::Original)));
        assert_eq!(ct.lookup(&translated.invert()), Some((0, Dir::Reply)));
        let flow = ct.flow(0);
        assert!(flow.dnat() && !flow.snat());
        assert_eq!(flow.target(Dir::Original), translated);
        assert_eq!(flow.target(Dir::Reply), orig.invert());
    }
}
