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
//!
//! ICMP follows `nf_conntrack_proto_icmp` / `nf_conntrack_proto_icmpv6`: the tuple holds
//! the type, code and echo id ([`IcmpKey`]), and inverting it maps a request type to its
//! reply type (echo request ↔ echo reply, ...), so only the echo reply with the same id
//! answers an echo request. Only request types open a flow ([`icmp_opens_flow`]); any other
//! ICMP packet without a flow is INVALID. Errors ([`icmp_is_error`]) are never part of a
//! flow: they are RELATED to the flow of the packet they quote. ICMPv6 neighbour discovery
//! and MLD ([`icmpv6_untracked`]) are not tracked at all.

use std::collections::HashMap;
use std::net::IpAddr;

use rampart_ruleset::Protocol;

use crate::packet::Packet;

/// One direction of a flow: what conntrack hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Tuple {
    pub proto: Protocol,
    pub src: IpAddr,
    pub sport: Option<u16>,
    pub dst: IpAddr,
    pub dport: Option<u16>,
    /// ICMP / ICMPv6 type, code and echo id; `None` for other protocols and for an ICMP
    /// packet whose type is not given (such packets only meet each other).
    pub icmp: Option<IcmpKey>,
}

/// The ICMP part of a tuple, as the kernel's `dst.u.icmp.{type,code}` and `src.u.icmp.id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IcmpKey {
    pub ty: u8,
    pub code: u8,
    pub id: u16,
}

impl Tuple {
    /// The tuple of a packet as it currently reads (`src`/`dst`/ports after any NAT so
    /// far); the ICMP key comes from the packet, an unset echo id counting as
    /// [`Packet::DEFAULT_ECHO_ID`].
    pub fn of(
        pkt: &Packet,
        src: IpAddr,
        sport: Option<u16>,
        dst: IpAddr,
        dport: Option<u16>,
    ) -> Tuple {
        let icmp = match (is_icmp(pkt.protocol), pkt.icmp_type) {
            (true, Some(ty)) => Some(IcmpKey {
                ty,
                code: pkt.icmp_code.unwrap_or(0),
                id: pkt.echo_id.unwrap_or(Packet::DEFAULT_ECHO_ID),
            }),
            _ => None,
        };
        Tuple {
            proto: pkt.protocol,
            src,
            sport,
            dst,
            dport,
            icmp,
        }
    }

    /// The same flow seen from the other end. An ICMP type without a reply type keeps
    /// its type (the kernel refuses to invert it; such packets never open a flow, so the
    /// inverse is never stored).
    pub fn invert(self) -> Tuple {
        Tuple {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
            icmp: self.icmp.map(|k| IcmpKey {
                ty: icmp_reply_type(self.proto, k.ty).unwrap_or(k.ty),
                ..k
            }),
        }
    }
}

/// ICMP or ICMPv6.
pub(crate) fn is_icmp(proto: Protocol) -> bool {
    proto == Protocol::ICMP || proto == Protocol::ICMPV6
}

/// The type answering `ty` (and back), the kernel's `invmap`: echo, timestamp, info and
/// address mask for ICMP; echo and node information for ICMPv6.
pub(crate) fn icmp_reply_type(proto: Protocol, ty: u8) -> Option<u8> {
    let pairs: &[(u8, u8)] = match proto {
        Protocol::ICMP => &[(8, 0), (13, 14), (15, 16), (17, 18)],
        Protocol::ICMPV6 => &[(128, 129), (139, 140)],
        _ => return None,
    };
    pairs.iter().find_map(|&(req, rep)| match ty {
        t if t == req => Some(rep),
        t if t == rep => Some(req),
        _ => None,
    })
}

/// Whether an ICMP packet of this type may open a flow (the kernel's `valid_new`): the
/// request types. Any other type without a flow is INVALID.
pub(crate) fn icmp_opens_flow(proto: Protocol, ty: u8) -> bool {
    match proto {
        Protocol::ICMP => matches!(ty, 8 | 13 | 15 | 17),
        Protocol::ICMPV6 => matches!(ty, 128 | 139),
        _ => false,
    }
}

/// Whether the type is an error, which quotes the packet that caused it: destination
/// unreachable, source quench, redirect, time exceeded and parameter problem for ICMP
/// (`icmp_is_err`), every type below 128 for ICMPv6.
pub(crate) fn icmp_is_error(proto: Protocol, ty: u8) -> bool {
    match proto {
        Protocol::ICMP => matches!(ty, 3 | 4 | 5 | 11 | 12),
        Protocol::ICMPV6 => ty < 128,
        _ => false,
    }
}

/// ICMPv6 types conntrack leaves untracked (`noct_valid_new`): MLD queries, reports and
/// done messages, router and neighbour solicitations and advertisements, MLDv2 reports.
pub(crate) fn icmpv6_untracked(proto: Protocol, ty: u8) -> bool {
    proto == Protocol::ICMPV6 && matches!(ty, 130..=136 | 143)
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

    /// The live flow an ICMP error from `src` to `dst` is RELATED to, and the direction
    /// the error travels in. The simulated packet carries no quoted header, so the flow
    /// is the first one (lowest id) with a tuple between the same two addresses in the
    /// error's direction: an error sent by the flow's far end about the packet it got.
    /// An error from a router on the path, whose source is neither end, finds none.
    pub fn related(&self, src: IpAddr, dst: IpAddr, now_us: u64) -> Option<(usize, Dir)> {
        self.live_or_dead()
            .filter(|(_, f)| f.alive(now_us))
            .find_map(|(id, f)| {
                if (f.orig.src, f.orig.dst) == (src, dst) {
                    Some((id, Dir::Original))
                } else if (f.reply.src, f.reply.dst) == (src, dst) {
                    Some((id, Dir::Reply))
                } else {
                    None
                }
            })
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
            icmp: None,
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

    fn echo(src: &str, dst: &str, ty: u8, id: u16) -> Tuple {
        Tuple {
            proto: Protocol::ICMP,
            src: src.parse().unwrap(),
            sport: None,
            dst: dst.parse().unwrap(),
            dport: None,
            icmp: Some(IcmpKey { ty, code: 0, id }),
        }
    }

    /// An SNATed echo flow 192.0.2.10 → 198.51.100.7 (seen as 203.0.113.2), id 7.
    fn snat_echo_flow() -> Conntrack {
        let mut ct = Conntrack::default();
        let orig = echo("192.0.2.10", "198.51.100.7", 8, 7);
        let translated = echo("203.0.113.2", "198.51.100.7", 8, 7);
        ct.insert(Flow {
            orig,
            reply: translated.invert(),
            seen_reply: false,
            mark: 0,
            last_us: 0,
        });
        ct
    }

    #[test]
    fn icmp_tuples_invert_request_and_reply_types() {
        let t = echo("192.0.2.10", "198.51.100.7", 8, 7).invert();
        assert_eq!(t, echo("198.51.100.7", "192.0.2.10", 0, 7));
        assert_eq!(t.invert(), echo("192.0.2.10", "198.51.100.7", 8, 7));
        assert_eq!(icmp_reply_type(Protocol::ICMP, 13), Some(14));
        assert_eq!(icmp_reply_type(Protocol::ICMPV6, 129), Some(128));
        assert_eq!(icmp_reply_type(Protocol::ICMP, 3), None);
        assert!(icmp_opens_flow(Protocol::ICMP, 8) && !icmp_opens_flow(Protocol::ICMP, 0));
        assert!(icmp_opens_flow(Protocol::ICMPV6, 128));
        assert!(!icmp_opens_flow(Protocol::ICMPV6, 129));
        assert!(icmp_is_error(Protocol::ICMP, 3) && !icmp_is_error(Protocol::ICMP, 8));
        assert!(icmp_is_error(Protocol::ICMPV6, 1) && !icmp_is_error(Protocol::ICMPV6, 135));
        assert!(icmpv6_untracked(Protocol::ICMPV6, 135));
        assert!(!icmpv6_untracked(Protocol::ICMPV6, 128));
    }

    #[test]
    fn echo_request_to_the_nat_address_is_not_a_reply_of_an_echo_flow() {
        let ct = snat_echo_flow();
        // The remote host pings the router's WAN address: same addresses as the flow's
        // reply, but an echo request, so no flow (router.probes line 15).
        let request = echo("198.51.100.7", "203.0.113.2", 8, 7);
        assert_eq!(ct.lookup(&request, 0), None);
    }

    #[test]
    fn echo_reply_with_the_same_id_belongs_to_the_flow() {
        let ct = snat_echo_flow();
        let reply = echo("198.51.100.7", "203.0.113.2", 0, 7);
        assert_eq!(ct.lookup(&reply, 0), Some((0, Dir::Reply)));
        assert_eq!(
            ct.flow(0).target(Dir::Reply),
            echo("198.51.100.7", "192.0.2.10", 0, 7)
        );
        // Another request of the same ping session is the flow's original direction.
        let again = echo("192.0.2.10", "198.51.100.7", 8, 7);
        assert_eq!(ct.lookup(&again, 0), Some((0, Dir::Original)));
    }

    #[test]
    fn echo_with_another_id_is_another_flow() {
        let ct = snat_echo_flow();
        assert_eq!(
            ct.lookup(&echo("198.51.100.7", "203.0.113.2", 0, 8), 0),
            None
        );
        assert_eq!(
            ct.lookup(&echo("192.0.2.10", "198.51.100.7", 8, 8), 0),
            None
        );
    }

    #[test]
    fn errors_are_related_to_the_flow_between_their_addresses() {
        let ct = snat_echo_flow();
        let (remote, wan) = (
            "198.51.100.7".parse().unwrap(),
            "203.0.113.2".parse().unwrap(),
        );
        let lan = "192.0.2.10".parse().unwrap();
        assert_eq!(ct.related(remote, wan, 0), Some((0, Dir::Reply)));
        assert_eq!(ct.related(lan, remote, 0), Some((0, Dir::Original)));
        let router = "203.0.113.1".parse().unwrap();
        assert_eq!(ct.related(router, wan, 0), None);
        assert_eq!(ct.related(remote, wan, 31 * SECOND_US), None);
    }
}
