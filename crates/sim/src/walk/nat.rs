//! Address translation: the nat table's targets for a connection's first packet and the
//! conntrack binding for the packets after it.
//!
//! The kernel splits NAT into two manipulations: the destination at PREROUTING/OUTPUT
//! (DNAT, REDIRECT) and the source at POSTROUTING/INPUT (SNAT, MASQUERADE). Each runs the
//! nat chain once per connection; every later packet, in either direction, is rewritten to
//! the flow's stored tuple instead.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rampart_prefix::AddrRange;
use rampart_ruleset::{Family, MasqueradeTarget, NatTarget, PortRange, TableKind, Target};

use super::{Verdict, Walk};
use crate::conntrack::{Dir, Tuple};
use crate::packet::CtState;
use crate::trace::{Endpoint, Event, Hook, NatKind, Stage};

/// Which half of a NAT binding a nat hook sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Manip {
    /// PREROUTING and OUTPUT: the destination.
    Dst,
    /// POSTROUTING and INPUT: the source.
    Src,
}

impl Walk<'_, '_> {
    /// Whether the nat table may run: tracked packets only, and only for a connection
    /// without a binding (its first packet).
    fn nat_fresh(&self) -> bool {
        self.ct.flow.is_none() && self.ct.state == CtState::New && !self.ct.notrack
    }

    /// The nat hook for one manipulation: the flow's binding when the connection is known,
    /// else the nat chain, once per connection and manipulation (a looped-back packet does
    /// not see PREROUTING nat again after OUTPUT nat).
    pub(super) fn nat(&mut self, hook: Hook, manip: Manip) -> Verdict {
        if self.ct.notrack || matches!(self.ct.state, CtState::Untracked | CtState::Invalid) {
            return Ok(());
        }
        if let Some((_, dir, flow)) = &self.ct.flow {
            let mut target = flow.target(*dir);
            if self.ct.related && crate::conntrack::is_icmp(self.pkt.protocol) {
                // An ICMP error: only its addresses follow the binding (the kernel's
                // nf_nat_icmp_reply_translation also rewrites the quoted header), and
                // only where the connection was translated that way: an error from the
                // host itself about a forwarded connection keeps its source.
                (target.sport, target.dport) = (self.sport, self.dport);
                let reply = *dir == Dir::Reply;
                let (src_nat, dst_nat) = (flow.snat(), flow.dnat());
                let translated = match manip {
                    Manip::Src => (src_nat && !reply) || (dst_nat && reply),
                    Manip::Dst => (dst_nat && !reply) || (src_nat && reply),
                };
                if !translated {
                    return Ok(());
                }
            }
            let stage = Stage::Hook(hook);
            match manip {
                Manip::Dst if (self.dst, self.dport) != (target.dst, target.dport) => {
                    let from = self.endpoint_dst();
                    self.dst = target.dst;
                    self.dport = target.dport;
                    let to = self.endpoint_dst();
                    self.push(
                        stage,
                        Some(TableKind::Nat),
                        None,
                        None,
                        nat_event(NatKind::Dnat, from, to, true),
                    );
                }
                Manip::Src if (self.src, self.sport) != (target.src, target.sport) => {
                    let from = self.endpoint_src();
                    self.src = target.src;
                    self.sport = target.sport;
                    let to = self.endpoint_src();
                    self.push(
                        stage,
                        Some(TableKind::Nat),
                        None,
                        None,
                        nat_event(NatKind::Snat, from, to, true),
                    );
                }
                _ => {}
            }
            return Ok(());
        }
        let fresh = self.nat_fresh();
        let done = match manip {
            Manip::Dst => &mut self.ct.dst_done,
            Manip::Src => &mut self.ct.src_done,
        };
        if *done || !fresh {
            return Ok(());
        }
        *done = true;
        self.table(hook, TableKind::Nat)
    }

    fn endpoint_src(&self) -> Endpoint {
        Endpoint {
            addr: self.src,
            port: self.sport,
        }
    }

    fn endpoint_dst(&self) -> Endpoint {
        Endpoint {
            addr: self.dst,
            port: self.dport,
        }
    }

    /// Applies a NAT target. `Err(None)`: not valid at this hook; `Err(Some(why))`: the
    /// kernel drops the packet (no address to masquerade or redirect to).
    pub(super) fn nat_target(
        &mut self,
        hook: Hook,
        kind: TableKind,
        target: &Target,
    ) -> Result<Event, Option<String>> {
        let dst_hook = matches!(hook, Hook::Prerouting | Hook::Output);
        if kind != TableKind::Nat {
            return Err(None);
        }
        let mut offset = None;
        let (nat_kind, addrs, ports) = match target {
            Target::Dnat(t) if dst_hook => {
                offset = t.port_offset;
                (NatKind::Dnat, self.range_pick(t, self.dst), t.ports)
            }
            Target::Snat(t) if !dst_hook => {
                offset = t.port_offset;
                (NatKind::Snat, self.range_pick(t, self.src), t.ports)
            }
            Target::Netmap(n) if dst_hook => {
                (NatKind::Dnat, super::targets::netmap(n.to, self.dst), None)
            }
            Target::Netmap(n) => (NatKind::Snat, super::targets::netmap(n.to, self.src), None),
            Target::Redirect(MasqueradeTarget { ports, .. }) if dst_hook => {
                let addr = if self.in_iface.is_empty() {
                    Some(loopback(self.family))
                } else {
                    self.host.primary_addr(&self.in_iface, self.family)
                };
                let addr = addr.ok_or_else(|| {
                    Some(format!(
                        "REDIRECT: {} has no {:?} address, the kernel drops the packet",
                        self.in_iface, self.family
                    ))
                })?;
                (NatKind::Redirect, addr, *ports)
            }
            Target::Masquerade(MasqueradeTarget { ports, .. }) if !dst_hook => {
                let addr = self
                    .host
                    .primary_addr(&self.out_iface, self.family)
                    .ok_or_else(|| {
                        Some(format!(
                            "MASQUERADE: {} has no {:?} address, the kernel drops the packet",
                            self.out_iface, self.family
                        ))
                    })?;
                (NatKind::Masquerade, addr, *ports)
            }
            _ => return Err(None),
        };
        let stage_dst = matches!(nat_kind, NatKind::Dnat | NatKind::Redirect);
        let (addr, port) = if stage_dst {
            (&mut self.dst, &mut self.dport)
        } else {
            (&mut self.src, &mut self.sport)
        };
        let from = Endpoint {
            addr: *addr,
            port: *port,
        };
        *addr = addrs;
        *port = match (offset, ports, *port) {
            // `PORTS/BASE`: the port moves by its distance from BASE, wrapped into PORTS
            // (nf_nat_l4proto_unique_tuple with NF_NAT_RANGE_PROTO_OFFSET).
            (Some(base), Some(r), Some(p)) => {
                let span = u32::from(r.hi - r.lo) + 1;
                let off = u32::from(p.wrapping_sub(base));
                Some(r.lo + (off % span) as u16)
            }
            _ => port_pick(ports, *port, self.pkt.protocol.has_ports()),
        };
        if stage_dst {
            self.ct.dst_done = true;
        } else {
            self.ct.src_done = true;
            self.sport = self.sport.map(|p| self.unique_sport(p, ports));
        }
        let (addr, port) = if stage_dst {
            (self.dst, self.dport)
        } else {
            (self.src, self.sport)
        };
        let to = Endpoint { addr, port };
        Ok(if from == to {
            Event::NatNoChange { kind: nat_kind }
        } else {
            nat_event(nat_kind, from, to, false)
        })
    }

    /// A source port whose reply tuple no tracked flow uses, as `nf_nat_used_tuple`
    /// demands: the current port when free, else the next free one in the range
    /// (the kernel starts its search at a hashed offset; counting up is a deterministic
    /// stand-in). Without `--to-ports` the kernel's default ranges apply: 1-1023 for
    /// privileged ports, 1024-65535 otherwise.
    fn unique_sport(&self, current: u16, range: Option<PortRange>) -> u16 {
        let (lo, hi) = match range {
            Some(r) => (r.lo, r.hi),
            None if current < 1024 => (1, 1023),
            None => (1024, u16::MAX),
        };
        let taken = |port: u16| {
            let reply = Tuple::of(self.pkt, self.src, Some(port), self.dst, self.dport).invert();
            self.view
                .base
                .conntrack
                .lookup(&reply, self.pkt.time_us())
                .is_some()
        };
        let start = if (lo..=hi).contains(&current) {
            current
        } else {
            lo
        };
        let span = u32::from(hi - lo) + 1;
        (0..span)
            .map(|i| lo + ((u32::from(start - lo) + i) % span) as u16)
            .find(|p| !taken(*p))
            .unwrap_or(start)
    }

    /// The address a NAT range gives: the current one when already inside (the kernel
    /// keeps a tuple that fits), else the range's first. The kernel hashes over
    /// multi-address ranges; the first address is a deterministic stand-in.
    fn range_pick(&self, t: &NatTarget, current: IpAddr) -> IpAddr {
        match t.addrs {
            Some(r) if !r.contains(current) => first(r),
            _ => current,
        }
    }
}

fn first(r: AddrRange) -> IpAddr {
    r.start()
}

fn port_pick(range: Option<PortRange>, current: Option<u16>, has_ports: bool) -> Option<u16> {
    match (range, current) {
        (Some(r), Some(p)) if r.contains(p) => Some(p),
        (Some(r), Some(_)) => Some(r.lo),
        // The packet's port is unknown (a forked branch): the target sets one anyway.
        (Some(r), None) if has_ports => Some(r.lo),
        (_, p) => p,
    }
}

fn loopback(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

fn nat_event(kind: NatKind, from: Endpoint, to: Endpoint, binding: bool) -> Event {
    Event::Nat {
        kind,
        from,
        to,
        binding,
    }
}
