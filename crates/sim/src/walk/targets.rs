//! The targets of issue 14 in a walk: what each does to the packet (or its connection),
//! and whether the packet goes on, as the kernel's xt_* target returns XT_CONTINUE or a
//! verdict.
//!
//! The simulator's packet has no TTL, TOS, MSS or priority field: a target changing one of
//! them is traced as an effect and the packet goes on, which is all the kernel's verdict
//! depends on. Marks (TPROXY, HMARK) and conntrack (CT) are modelled where the walk keeps
//! them.

use rampart_ruleset::{
    AuditType, CtTarget, HmarkTarget, NfqueueTarget, SynproxyTarget, TableKind, Target, TcpFlags,
    TtlChange,
};

use super::Walk;
use crate::trace::Event;

/// What a target does in the walk.
pub(super) enum Outcome {
    /// An effect; the next rule runs.
    Goes(Event),
    /// The target ends the packet's walk through the table: `Ok` accepted (this hook is
    /// done), `Err` its fate.
    Ends(Event, Result<(), FateKind>),
    /// Nothing to do here (with why).
    Warn(String),
}

/// A fate a target decides, placed at its rule by the caller.
pub(super) enum FateKind {
    /// Dropped (or consumed: SYNPROXY answers the SYN itself).
    Dropped,
    /// NFQUEUE.
    Queued { queue: u16, bypass: bool },
}

fn effect(target: &str, effect: String) -> Event {
    Event::Effect {
        target: target.to_string(),
        effect,
    }
}

fn ttl_effect(field: &str, op: TtlChange, value: u8) -> String {
    match op {
        TtlChange::Set => format!("{field} set to {value}"),
        TtlChange::Dec => format!("{field} decreased by {value} (0 stays 0)"),
        TtlChange::Inc => format!("{field} increased by {value} (255 stays 255)"),
    }
}

impl Walk<'_, '_> {
    /// The targets of issue 14 other than NETMAP (which is NAT); `None` for the others.
    pub(super) fn ext_target(&mut self, kind: TableKind, t: &Target) -> Option<Outcome> {
        let out = match t {
            Target::NotrackAlias => {
                if kind == TableKind::Raw {
                    self.ct.notrack = true;
                    Outcome::Goes(Event::Notrack)
                } else {
                    Outcome::Warn("NOTRACK outside the raw table has no effect".into())
                }
            }
            Target::Ct(c) => self.ct_target(c),
            Target::Tcpmss(m) => Outcome::Goes(effect(
                "TCPMSS",
                match (m.mss, self.is_syn()) {
                    (_, false) => "not a SYN: MSS left alone".into(),
                    (Some(mss), true) => format!("MSS option lowered to {mss} if larger"),
                    (None, true) => "MSS clamped to the route's MTU minus headers".into(),
                },
            )),
            Target::Ttl(x) => Outcome::Goes(effect("TTL", ttl_effect("TTL", x.op, x.value))),
            Target::Hl(x) => Outcome::Goes(effect("HL", ttl_effect("hop limit", x.op, x.value))),
            Target::Dscp(d) => {
                Outcome::Goes(effect("DSCP", format!("DSCP set to {:#04x}", d.dscp)))
            }
            Target::Tos(x) => Outcome::Goes(effect(
                "TOS",
                format!("TOS = (TOS & {:#04x}) ^ {:#04x}", !x.mask, x.value),
            )),
            Target::Classify(c) => Outcome::Goes(effect(
                "CLASSIFY",
                format!("priority (tc class) set to {:x}:{:x}", c.major, c.minor),
            )),
            Target::Checksum => {
                Outcome::Goes(effect("CHECKSUM", "a missing checksum is filled in".into()))
            }
            Target::Tcpoptstrip(s) => Outcome::Goes(effect(
                "TCPOPTSTRIP",
                format!("TCP options {:?} removed", s.kinds()),
            )),
            Target::Audit(a) => Outcome::Goes(effect(
                "AUDIT",
                format!(
                    "an audit record of type {} is written",
                    match a.kind {
                        AuditType::Accept => "accept",
                        AuditType::Drop => "drop",
                        AuditType::Reject => "reject",
                    }
                ),
            )),
            Target::Tee(x) => Outcome::Goes(effect(
                "TEE",
                match &x.oif {
                    Some(oif) => format!("a copy is sent to {} by {oif}", x.gateway),
                    None => format!("a copy is routed to {}", x.gateway),
                },
            )),
            Target::Connsecmark(c) => Outcome::Goes(effect(
                "CONNSECMARK",
                if c.save {
                    "SELinux mark copied to the connection"
                } else {
                    "SELinux mark copied from the connection"
                }
                .into(),
            )),
            Target::Secmark(s) => {
                Outcome::Goes(effect("SECMARK", format!("SELinux context {}", s.selctx)))
            }
            Target::Idletimer(i) => Outcome::Goes(effect(
                "IDLETIMER",
                format!("timer {} restarted ({} s)", i.label, i.timeout),
            )),
            Target::Rateest(r) => Outcome::Goes(effect(
                "RATEEST",
                format!("counted by rate estimator {}", r.name),
            )),
            Target::Hmark(h) => self.hmark(h),
            Target::Dnpt(n) | Target::Snpt(n) => Outcome::Goes(effect(
                if matches!(t, Target::Dnpt(_)) {
                    "DNPT"
                } else {
                    "SNPT"
                },
                format!("prefix {} translated to {} (not simulated)", n.src, n.dst),
            )),
            Target::Tproxy(x) => {
                let from = self.mark;
                self.mark = (self.mark & !x.mask) ^ x.mark;
                let port = if x.port == 0 {
                    self.dport.unwrap_or(0)
                } else {
                    x.port
                };
                let addr = if x.addr.is_unspecified() {
                    self.dst.to_string()
                } else {
                    x.addr.to_string()
                };
                let event = effect(
                    "TPROXY",
                    format!(
                        "diverted to a local socket on {addr} port {port} unchanged (mark {from:#x} → {:#x}); the kernel drops it when no socket listens there",
                        self.mark
                    ),
                );
                Outcome::Ends(event, Ok(()))
            }
            Target::Synproxy(s) => self.synproxy(s),
            Target::Nfqueue(q) => self.nfqueue(q),
            Target::Ecn(e) => {
                let mut what = Vec::new();
                if e.is_remove() {
                    what.push("TCP ECE and CWR cleared".to_string());
                } else {
                    for (name, v) in [("ECE", e.ece), ("CWR", e.cwr)] {
                        if let Some(v) = v {
                            what.push(format!("TCP {name} set to {v}"));
                        }
                    }
                    if let Some(v) = e.ip_ect {
                        what.push(format!("IP ECN field set to {v}"));
                    }
                }
                Outcome::Goes(effect("ECN", what.join(", ")))
            }
            Target::Led(l) => Outcome::Goes(effect(
                "LED",
                format!("LED trigger netfilter-{} fired", l.id),
            )),
            _ => return None,
        };
        Some(out)
    }

    fn is_syn(&self) -> bool {
        self.pkt
            .tcp_flags
            .is_some_and(|f| f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK))
    }

    fn ct_target(&mut self, c: &CtTarget) -> Outcome {
        if c.notrack {
            self.ct.notrack = true;
            return Outcome::Goes(Event::Notrack);
        }
        let mut what = Vec::new();
        if let Some(h) = &c.helper {
            what.push(format!("helper {h} attached"));
        }
        if c.zone != 0 || c.zone_mark {
            what.push(if c.zone_mark {
                "zone taken from the mark".to_string()
            } else {
                format!("zone {}", c.zone)
            });
        }
        if c.ctevents != 0 || c.expevents != 0 {
            what.push("conntrack events limited".into());
        }
        if let Some(t) = &c.timeout {
            what.push(format!("timeout policy {t}"));
        }
        if what.is_empty() {
            what.push("connection template with defaults".into());
        }
        Outcome::Goes(effect("CT", what.join(", ")))
    }

    fn hmark(&mut self, h: &HmarkTarget) -> Outcome {
        Outcome::Goes(effect(
            "HMARK",
            format!(
                "mark set to a hash of the packet modulo {} plus {} (hash not simulated)",
                h.modulus,
                h.offset.unwrap_or(0)
            ),
        ))
    }

    fn synproxy(&mut self, s: &SynproxyTarget) -> Outcome {
        let Some(flags) = self.pkt.tcp_flags else {
            return Outcome::Warn("SYNPROXY sees only TCP".into());
        };
        let opts = match s.mss {
            Some(mss) => format!(" (MSS {mss})"),
            None => String::new(),
        };
        if flags.has(TcpFlags::SYN) && !flags.has(TcpFlags::ACK) {
            let event = effect(
                "SYNPROXY",
                format!("answered with a SYN-ACK cookie{opts}; the SYN goes no further"),
            );
            return Outcome::Ends(event, Err(FateKind::Dropped));
        }
        if flags.has(TcpFlags::ACK) && !flags.has(TcpFlags::SYN) && !flags.has(TcpFlags::RST) {
            let event = effect(
                "SYNPROXY",
                "an ACK with a valid cookie opens the connection to the server; the ACK itself is consumed".into(),
            );
            return Outcome::Ends(event, Err(FateKind::Dropped));
        }
        Outcome::Goes(effect("SYNPROXY", "not a SYN or ACK: left alone".into()))
    }

    fn nfqueue(&mut self, q: &NfqueueTarget) -> Outcome {
        let event = effect(
            "NFQUEUE",
            if q.last > q.first {
                format!("queued to one of queues {}-{}", q.first, q.last)
            } else {
                format!("queued to queue {}", q.first)
            },
        );
        Outcome::Ends(
            event,
            Err(FateKind::Queued {
                queue: q.first,
                bypass: q.bypass,
            }),
        )
    }
}

/// NETMAP's address: the network part from `to`, the host part kept.
pub(super) fn netmap(to: rampart_prefix::Prefix, addr: std::net::IpAddr) -> std::net::IpAddr {
    use std::net::IpAddr;
    match (to.addr(), addr) {
        (IpAddr::V4(net), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(to.len())).unwrap_or(0);
            IpAddr::V4(((u32::from(net) & mask) | (u32::from(a) & !mask)).into())
        }
        (IpAddr::V6(net), IpAddr::V6(a)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(to.len()))
                .unwrap_or(0);
            IpAddr::V6(((u128::from(net) & mask) | (u128::from(a) & !mask)).into())
        }
        _ => addr,
    }
}
