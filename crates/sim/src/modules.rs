//! The simulation of the match modules of issue 14 (socket owner, packet type, marks,
//! TTL, DSCP/TOS, time, string, statistic, helper, IPsec policy, reverse path, bridge
//! ports, MSS, SCTP), each as the kernel's `*_mt` function decides it.
//!
//! A module that needs a packet field the packet leaves out is an unknown [`Atom`]: both
//! outcomes are traced. Modules rampart only reads (opaque ones) are not handled here.

use std::net::IpAddr;

use rampart_ruleset::{
    ConntrackMore, CtDir, Match, Neg, OwnerMatch, PhysdevMatch, PktType, PolicyMatch, Protocol,
    RpfilterMatch, StatisticMode, StringMatch,
};

use crate::host::RouteDecision;
use crate::matcher::{Atom, Ctx, Env, Side};

/// The module as iptables writes it (`-m ttl --ttl-lt 5`): the unknown atom's text.
fn text(m: &Match) -> String {
    rampart_ruleset::rule_args(&rampart_ruleset::RuleSpec {
        matches: vec![m.clone()],
        ..Default::default()
    })
}

/// Whether the module `m` matches; `None` for a module not simulated here.
pub(crate) fn match_one(m: &Match, index: usize, ctx: &Ctx, env: &mut Env) -> Option<bool> {
    let pkt = ctx.pkt;
    let unknown = |env: &mut Env| env.decide.unknown(Atom::Other(text(m)));
    Some(match m {
        Match::Owner(o) => owner(o, m, ctx, env),
        Match::Pkttype(p) => p.apply(pkt_type(ctx) == p.value),
        Match::Connmark(c) => c.apply(ctx.ct_mark & c.value.mask == c.value.value),
        Match::Ttl(t) | Match::Hl(t) => env.decide.field(pkt.ttl, |ttl| t.holds(ttl), || text(m)),
        Match::Dscp(d) => d.apply(
            env.decide
                .field(pkt.tos, |tos| tos >> 2 == d.value, || text(m)),
        ),
        Match::Tos(t) => t.apply(env.decide.field(
            pkt.tos,
            |tos| tos & t.value.mask == t.value.value,
            || text(m),
        )),
        Match::Time(t) => match pkt.clock {
            Some(clock) => {
                let mut now = clock + pkt.time.max(0.0) as i64;
                if t.kernel_tz {
                    now += i64::from(pkt.utc_offset_min.unwrap_or(0)) * 60;
                }
                t.holds(now)
            }
            None => unknown(env),
        },
        Match::String(s) => match (&pkt.payload, s.from, s.to) {
            (Some(payload), 0, u16::MAX) => s.negated != contains(payload.as_bytes(), s),
            _ => unknown(env),
        },
        Match::Statistic(s) => match s.mode {
            // The kernel compares a 31-bit random number with the threshold.
            StatisticMode::Random { probability: 0 } => s.negated,
            StatisticMode::Random {
                probability: 0x8000_0000,
            } => !s.negated,
            // xt_statistic's counter starts so that the match's P-th packet (from 0) of
            // every N matches.
            StatisticMode::Nth { every, packet } => {
                let (table, chain, rule) = ctx.rule_at;
                let seen = env.view.nth((table, chain, rule, index));
                let hit = *seen % u64::from(every) == u64::from(packet);
                *seen += 1;
                hit != s.negated
            }
            _ => unknown(env),
        },
        Match::Helper(_) | Match::Devgroup(_) => unknown(env),
        Match::Policy(p) => policy(p, m, ctx, env),
        Match::Rpfilter(r) => r.invert != rpfilter(r, ctx),
        Match::Physdev(p) => physdev(p, m, ctx, env),
        Match::Tcpmss(r) => {
            if pkt.protocol != Protocol::TCP || pkt.fragment {
                return Some(false);
            }
            match (pkt.mss, pkt.tcp_flags) {
                (Some(mss), _) => r.apply(r.value.contains(mss)),
                // Only a SYN carries the option; without it the kernel answers `!`.
                (None, Some(f)) if !f.has(rampart_ruleset::TcpFlags::SYN) => r.negated,
                _ => unknown(env),
            }
        }
        Match::Opaque(o) => return crate::exthdr::match_opaque(o, m, ctx, env),
        Match::Sctp(s) => {
            pkt.protocol == Protocol(132)
                && !pkt.fragment
                && ports(&s.sport, Side::Src, ctx.sport, env)
                && ports(&s.dport, Side::Dst, ctx.dport, env)
                && (s.chunks.is_none() || unknown(env))
        }
        _ => return None,
    })
}

fn ports(
    p: &Option<Neg<rampart_ruleset::PortRange>>,
    side: Side,
    value: Option<u16>,
    env: &mut Env,
) -> bool {
    p.as_ref().is_none_or(|p| {
        let hit = env.decide.port(side, std::slice::from_ref(&p.value), value);
        p.apply(hit)
    })
}

/// xt_owner: a packet without a local socket (forwarded) matches only when every given
/// option is negated.
fn owner(o: &OwnerMatch, m: &Match, ctx: &Ctx, env: &mut Env) -> bool {
    let pkt = ctx.pkt;
    if let Some(socket) = ctx.kernel_socket {
        // owner_mt: no socket, only negated options match; a socket without a file
        // (the kernel's ICMP socket) exists but has no uid or gid.
        let ids_negated =
            o.uid.as_ref().is_none_or(|u| u.negated) && o.gid.as_ref().is_none_or(|g| g.negated);
        return ids_negated && o.socket_exists.is_none_or(|negated| negated != socket);
    }
    if pkt.in_iface.is_some() {
        let all_negated = o.uid.as_ref().is_none_or(|u| u.negated)
            && o.gid.as_ref().is_none_or(|g| g.negated)
            && o.socket_exists.is_none_or(|n| n);
        return all_negated;
    }
    if o.socket_exists == Some(true) {
        return false;
    }
    let uid_ok = o.uid.as_ref().is_none_or(|u| {
        u.apply(
            env.decide
                .field(pkt.uid, |v| u.value.contains(v), || text(m)),
        )
    });
    uid_ok
        && o.gid.as_ref().is_none_or(|g| {
            g.apply(
                env.decide
                    .field(pkt.gid, |v| g.value.contains(v), || text(m)),
            )
        })
}

/// The packet's link-layer class: given, or what its destination implies.
fn pkt_type(ctx: &Ctx) -> PktType {
    if let Some(t) = ctx.pkt.pkttype {
        return t;
    }
    let dst = ctx.dst;
    if dst.is_multicast() {
        PktType::Multicast
    } else if ctx.host.is_broadcast(dst) || matches!(dst, IpAddr::V4(a) if a.is_broadcast()) {
        PktType::Broadcast
    } else {
        PktType::Unicast
    }
}

fn contains(hay: &[u8], s: &StringMatch) -> bool {
    let fold = |b: u8| if s.icase { b.to_ascii_lowercase() } else { b };
    let needle: Vec<u8> = s.pattern.iter().map(|b| fold(*b)).collect();
    hay.windows(needle.len())
        .any(|w| w.iter().zip(&needle).all(|(a, b)| fold(*a) == *b))
}

/// xt_policy with what the packet says about IPsec; element details stay unknown.
fn policy(p: &PolicyMatch, m: &Match, ctx: &Ctx, env: &mut Env) -> bool {
    match ctx.pkt.ipsec {
        None => env.decide.unknown(Atom::Other(text(m))),
        Some(false) => !p.ipsec,
        Some(true) if !p.ipsec => false,
        Some(true) if p.elems.is_empty() => true,
        Some(true) => env.decide.unknown(Atom::Other(text(m))),
    }
}

/// xt_rpfilter (before `--invert`): a route back to the source, through the arrival
/// interface unless `--loose`.
fn rpfilter(r: &RpfilterMatch, ctx: &Ctx) -> bool {
    let iface = ctx.in_iface;
    if iface == "lo" || iface.is_empty() {
        return true;
    }
    let (src, dst) = (ctx.src, ctx.dst);
    if src.is_unspecified() {
        let lbcast = matches!(dst, IpAddr::V4(a) if a.is_broadcast());
        let local_mc = matches!(dst, IpAddr::V4(a) if a.octets()[..3] == [224, 0, 0]);
        if lbcast || local_mc {
            return true;
        }
    }
    if src.is_multicast() || ctx.host.is_broadcast(src) {
        return false;
    }
    match ctx.host.route(src) {
        RouteDecision::Local => {
            r.accept_local
                && (r.loose
                    || ctx
                        .host
                        .interface(iface)
                        .is_some_and(|i| i.addrs.iter().any(|a| a.addr == src)))
        }
        RouteDecision::Out { dev, .. } => r.loose || dev == iface,
        RouteDecision::Unreachable => false,
    }
}

/// xt_physdev, from the bridge ports the packet names.
fn physdev(p: &PhysdevMatch, m: &Match, ctx: &Ctx, env: &mut Env) -> bool {
    let pkt = ctx.pkt;
    let bridged = pkt
        .bridged
        .or((pkt.physdev_in.is_some() || pkt.physdev_out.is_some()).then_some(true));
    let Some(bridged) = bridged else {
        return env.decide.unknown(Atom::Other(text(m)));
    };
    if !bridged {
        // Only negated options match a packet that crossed no bridge.
        return p.is_bridged.is_none_or(|n| n)
            && p.is_in.is_none_or(|n| n)
            && p.is_out.is_none_or(|n| n)
            && p.physdev_in.as_ref().is_none_or(|i| i.negated)
            && p.physdev_out.as_ref().is_none_or(|o| o.negated);
    }
    let (indev, outdev) = (pkt.physdev_in.as_deref(), pkt.physdev_out.as_deref());
    if let Some(n) = p.is_bridged {
        if outdev.is_some() == n {
            return false;
        }
    }
    if p.is_in.is_some_and(|n| indev.is_some() == n)
        || p.is_out.is_some_and(|n| outdev.is_some() == n)
    {
        return false;
    }
    if let (Some(want), Some(dev)) = (&p.physdev_in, indev) {
        if !want.apply(want.value.matches(dev)) {
            return false;
        }
    }
    match (&p.physdev_out, outdev) {
        (Some(want), Some(dev)) => want.apply(want.value.matches(dev)),
        _ => true,
    }
}

/// The rarer conntrack options: the direction and the original ports from the
/// simulator's connection; the reply tuple, status bits and expiry are not in its model,
/// so each of those is unknown.
pub(crate) fn conntrack_more(x: &ConntrackMore, ctx: &Ctx, env: &mut Env) -> bool {
    if let Some(d) = x.dir {
        let want_reply = d == CtDir::Reply;
        let holds = match ctx.ct_reply_dir {
            Some(reply) => reply == want_reply,
            None => env
                .decide
                .unknown(Atom::Other(format!("-m conntrack --ctdir {d:?}"))),
        };
        if !holds {
            return false;
        }
    }
    let (sport, dport) = ctx.ct_orig_ports;
    for (p, value, name) in [
        (&x.orig_src_port, sport, "--ctorigsrcport"),
        (&x.orig_dst_port, dport, "--ctorigdstport"),
    ] {
        if let Some(p) = p {
            let hit = env.decide.field(
                value,
                |v| p.value.contains(v),
                || format!("-m conntrack {name} {}", p.value),
            );
            if !p.apply(hit) {
                return false;
            }
        }
    }
    let mut atoms = Vec::new();
    if x.repl_src.is_some() || x.repl_dst.is_some() {
        atoms.push("--ctreplsrc/--ctrepldst");
    }
    if x.repl_src_port.is_some() || x.repl_dst_port.is_some() {
        atoms.push("--ctreplsrcport/--ctrepldstport");
    }
    if x.status.is_some() {
        atoms.push("--ctstatus");
    }
    if x.expire.is_some() {
        atoms.push("--ctexpire");
    }
    atoms
        .into_iter()
        .all(|a| env.decide.unknown(Atom::Other(format!("-m conntrack {a}"))))
}
