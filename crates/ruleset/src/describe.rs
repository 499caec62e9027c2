//! Rules in words, for people: `ACCEPT tcp to port 22, state NEW, from 192.0.2.0/24`.
//!
//! The save format is exact but dense; this says the same thing in the order an
//! administrator reads a rule: what happens, then to which packets.

use crate::model::*;
use crate::print::state_names;

/// A rule in words: what happens, to which packets, and the rule's comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDescription {
    /// `ACCEPT`, `DROP`, `→ chain`, `SNAT to 203.0.113.2`, ...
    pub action: String,
    /// `tcp, to port 22, state NEW`, or `any packet`.
    pub conditions: String,
    /// The `-m comment` text, if any.
    pub comment: Option<String>,
}

impl RuleDescription {
    /// The description with the action padded to `width` columns, for aligned listings.
    pub fn aligned(&self, width: usize) -> String {
        let mut line = format!("{:<width$} {}", self.action, self.conditions);
        if let Some(c) = &self.comment {
            line.push_str(&format!("  # {c}"));
        }
        line
    }
}

impl std::fmt::Display for RuleDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.aligned(0))
    }
}

/// What the rule does, then the packets it applies to (`any packet` when unconditional).
pub fn describe_rule(spec: &RuleSpec) -> RuleDescription {
    let conditions = conditions(spec);
    let conditions = if conditions.is_empty() {
        "any packet".to_string()
    } else {
        conditions.join(", ")
    };
    let comment = spec.matches.iter().find_map(|m| match m {
        Match::Comment(c) => Some(c.clone()),
        _ => None,
    });
    RuleDescription {
        action: action(spec),
        conditions,
        comment,
    }
}

fn not(negated: bool) -> &'static str {
    if negated {
        "not "
    } else {
        ""
    }
}

fn conditions(spec: &RuleSpec) -> Vec<String> {
    let mut c = Vec::new();
    if let Some(p) = &spec.protocol {
        c.push(format!("{}{}", not(p.negated), p.value));
    }
    if let Some(s) = &spec.source {
        c.push(format!("{}from {}", not(s.negated), host_or_net(s.value)));
    }
    if let Some(d) = &spec.destination {
        c.push(format!("{}to {}", not(d.negated), host_or_net(d.value)));
    }
    if let Some(i) = &spec.in_interface {
        c.push(format!("{}in via {}", not(i.negated), i.value.0));
    }
    if let Some(o) = &spec.out_interface {
        c.push(format!("{}out via {}", not(o.negated), o.value.0));
    }
    match spec.fragment {
        Some(true) => c.push("later fragments".into()),
        Some(false) => c.push("first fragments and unfragmented".into()),
        None => {}
    }
    for m in &spec.matches {
        if let Some(text) = describe_match(m) {
            c.push(text);
        }
    }
    c
}

fn host_or_net(p: rampart_prefix::Prefix) -> String {
    if p.is_host() {
        p.addr().to_string()
    } else {
        p.to_string()
    }
}

fn port(p: PortRange) -> String {
    if p.lo == p.hi {
        format!("port {}", p.lo)
    } else {
        format!("ports {}-{}", p.lo, p.hi)
    }
}

fn ports(sport: &Option<Neg<PortRange>>, dport: &Option<Neg<PortRange>>, out: &mut Vec<String>) {
    if let Some(p) = sport {
        out.push(format!("{}from {}", not(p.negated), port(p.value)));
    }
    if let Some(p) = dport {
        out.push(format!("{}to {}", not(p.negated), port(p.value)));
    }
}

fn id(r: NumRange) -> String {
    if r.lo == r.hi {
        r.lo.to_string()
    } else {
        format!("{}-{}", r.lo, r.hi)
    }
}

fn rate(r: Rate) -> String {
    let unit = match r.unit {
        RateUnit::Second => "s",
        RateUnit::Minute => "min",
        RateUnit::Hour => "h",
        RateUnit::Day => "day",
    };
    format!("{}/{unit}", r.count)
}

fn describe_match(m: &Match) -> Option<String> {
    Some(match m {
        Match::Tcp(t) => {
            let mut parts = Vec::new();
            ports(&t.sport, &t.dport, &mut parts);
            if let Some(f) = &t.flags {
                if f.value == TcpFlagsMatch::SYN {
                    parts.push(format!("{}a new connection (SYN)", not(f.negated)));
                } else {
                    parts.push(format!(
                        "{}flags {} set among {}",
                        not(f.negated),
                        f.value.comp,
                        f.value.mask
                    ));
                }
            }
            parts.join(", ")
        }
        Match::Udp(u) => {
            let mut parts = Vec::new();
            ports(&u.sport, &u.dport, &mut parts);
            parts.join(", ")
        }
        Match::Icmp(t) | Match::Icmp6(t) => match t.value.ty {
            None => format!("{}any ICMP type", not(t.negated)),
            Some(ty) => {
                let v6 = matches!(m, Match::Icmp6(_));
                let name = icmp_name(ty, v6).map_or(format!("type {ty}"), str::to_string);
                match t.value.code {
                    Some(lo) if t.value.code_max.is_some() => {
                        let (_, hi) = t.value.codes();
                        format!("{}{name} codes {lo} to {hi}", not(t.negated))
                    }
                    Some(code) => format!("{}{name} code {code}", not(t.negated)),
                    None => format!("{}{name}", not(t.negated)),
                }
            }
        },
        Match::Multiport(mp) => {
            let list: Vec<String> = mp.ports.value.iter().map(|p| p.to_string()).collect();
            let side = match mp.side {
                PortSide::Source => "from ports",
                PortSide::Destination => "to ports",
                PortSide::Either => "ports",
            };
            format!("{}{side} {}", not(mp.ports.negated), list.join(","))
        }
        Match::State(s) => format!("{}state {}", not(s.negated), state_names(s.value)),
        Match::Conntrack(ct) => {
            let mut parts = Vec::new();
            if let Some(s) = &ct.state {
                parts.push(format!("{}state {}", not(s.negated), state_names(s.value)));
            }
            if let Some(p) = &ct.proto {
                parts.push(format!("{}original protocol {}", not(p.negated), p.value));
            }
            if let Some(p) = &ct.orig_src {
                parts.push(format!("{}originally from {}", not(p.negated), p.value));
            }
            if let Some(p) = &ct.orig_dst {
                parts.push(format!("{}originally to {}", not(p.negated), p.value));
            }
            parts.join(", ")
        }
        Match::Limit(l) => format!("within {} (burst {})", rate(l.rate), l.burst),
        Match::Hashlimit(h) => {
            let per: Vec<&str> = [
                (h.key.src_ip, "source"),
                (h.key.src_port, "source port"),
                (h.key.dst_ip, "destination"),
                (h.key.dst_port, "destination port"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
            let per = if per.is_empty() {
                String::new()
            } else {
                format!(" per {}", per.join(" and "))
            };
            let verb = match h.mode {
                LimitMode::Upto => "within",
                LimitMode::Above => "over",
            };
            let (amount, burst) = match h.limit {
                HashlimitLimit::Packets { rate: r, burst } => (rate(r), burst.to_string()),
                HashlimitLimit::Bytes(b) => (
                    format!("{} bytes/second", b.bytes_per_second()),
                    b.burst_bytes()
                        .map_or_else(|| "none".to_string(), |n| format!("{n} bytes")),
                ),
            };
            let measured = if h.rate_match.is_some() {
                " (measured, not limited)"
            } else {
                ""
            };
            format!(
                "{verb} {amount}{per}{measured} (burst {burst}, table {})",
                h.name
            )
        }
        Match::Connlimit(c) => {
            let verb = match c.mode {
                LimitMode::Upto => "at most",
                LimitMode::Above => "more than",
            };
            let whom = if c.by_destination {
                "destination"
            } else {
                "source"
            };
            let group = c.mask.map_or(String::new(), |m| format!(" /{m}"));
            format!("{verb} {} connections per {whom}{group}", c.count)
        }
        Match::Recent(r) => {
            let whom = if r.by_destination {
                "destination"
            } else {
                "source"
            };
            let window = match (r.hitcount, r.seconds) {
                (Some(h), Some(s)) => format!(" {h} times in {s} s"),
                (Some(h), None) => format!(" {h} times"),
                (None, Some(s)) => format!(" within {s} s"),
                (None, None) => String::new(),
            };
            match r.command {
                RecentCommand::Set => format!("remember {whom} in list {}", r.name),
                RecentCommand::Rcheck => {
                    format!("{}{whom} seen{window} in list {}", not(r.negated), r.name)
                }
                RecentCommand::Update => format!(
                    "{}{whom} seen{window} in list {} (refreshed)",
                    not(r.negated),
                    r.name
                ),
                RecentCommand::Remove => format!(
                    "{}{whom} in list {} (removed from it)",
                    not(r.negated),
                    r.name
                ),
            }
        }
        Match::Comment(_) => return None,
        Match::Set(s) => {
            let dirs: Vec<&str> = s
                .dirs
                .iter()
                .map(|d| match d {
                    SetDir::Src => "source",
                    SetDir::Dst => "destination",
                })
                .collect();
            format!("{} {}in set {}", dirs.join(","), not(s.negated), s.name)
        }
        Match::Iprange(r) => {
            let mut parts = Vec::new();
            if let Some(s) = &r.src {
                parts.push(format!("{}from {}", not(s.negated), s.value));
            }
            if let Some(d) = &r.dst {
                parts.push(format!("{}to {}", not(d.negated), d.value));
            }
            parts.join(", ")
        }
        Match::Mac(m) => format!("{}from MAC {}", not(m.negated), m.value),
        Match::Length(l) => {
            if l.value.lo == l.value.hi {
                format!("{}length {} bytes", not(l.negated), l.value.lo)
            } else {
                format!(
                    "{}length {}-{} bytes",
                    not(l.negated),
                    l.value.lo,
                    l.value.hi
                )
            }
        }
        Match::Addrtype(a) => {
            let mut parts = Vec::new();
            if let Some(s) = &a.src {
                parts.push(format!("{}source type {}", not(s.negated), types(s.value)));
            }
            if let Some(d) = &a.dst {
                parts.push(format!(
                    "{}destination type {}",
                    not(d.negated),
                    types(d.value)
                ));
            }
            parts.join(", ")
        }
        Match::Mark(m) => {
            if m.value.mask == u32::MAX {
                format!("{}mark 0x{:x}", not(m.negated), m.value.value)
            } else {
                format!(
                    "{}mark 0x{:x} under mask 0x{:x}",
                    not(m.negated),
                    m.value.value,
                    m.value.mask
                )
            }
        }
        Match::Owner(o) => {
            let mut parts = Vec::new();
            if let Some(u) = &o.uid {
                parts.push(format!("{}sent by uid {}", not(u.negated), id(u.value)));
            }
            if let Some(g) = &o.gid {
                parts.push(format!("{}sent by gid {}", not(g.negated), id(g.value)));
            }
            if let Some(n) = o.socket_exists {
                parts.push(format!("{}from a local socket", not(n)));
            }
            parts.join(", ")
        }
        Match::Pkttype(p) => format!("{}{} packet", not(p.negated), p.value.name()),
        Match::Connmark(m) => format!(
            "{}connection mark {:#x}/{:#x}",
            not(m.negated),
            m.value.value,
            m.value.mask
        ),
        Match::Ttl(t) | Match::Hl(t) => {
            let what = if matches!(m, Match::Ttl(_)) {
                "TTL"
            } else {
                "hop limit"
            };
            let op = match t.op {
                TtlOp::Eq => "=",
                TtlOp::Ne => "!=",
                TtlOp::Lt => "<",
                TtlOp::Gt => ">",
            };
            format!("{what} {op} {}", t.value)
        }
        Match::Dscp(d) => format!("{}DSCP {:#04x}", not(d.negated), d.value),
        Match::Helper(h) => format!("{}handled by helper {}", not(h.negated), h.value),
        Match::AddrMask(a) => format!(
            "{}{} {} under mask {}",
            not(a.negated),
            if a.destination { "to" } else { "from" },
            a.addr,
            a.mask
        ),
        other => format!(
            "-m {} {}",
            other.module_name(),
            crate::print::match_words(other)
        ),
    })
}

fn types(t: AddrTypes) -> String {
    AddrTypes::NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| t.0 & (1 << i) != 0)
        .map(|(_, n)| n.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// The usual names of common ICMP and ICMPv6 types.
fn icmp_name(ty: u8, v6: bool) -> Option<&'static str> {
    Some(match (v6, ty) {
        (false, 0) | (true, 129) => "echo-reply",
        (false, 8) | (true, 128) => "echo-request",
        (false, 3) | (true, 1) => "destination-unreachable",
        (false, 11) | (true, 3) => "time-exceeded",
        (false, 12) | (true, 4) => "parameter-problem",
        (true, 2) => "packet-too-big",
        (true, 133) => "router-solicitation",
        (true, 134) => "router-advertisement",
        (true, 135) => "neighbour-solicitation",
        (true, 136) => "neighbour-advertisement",
        _ => return None,
    })
}

fn action(spec: &RuleSpec) -> String {
    let target = match &spec.action {
        None => return "count".into(),
        Some(Action::Goto(chain)) => return format!("goto {chain}"),
        Some(Action::Jump(t)) => t,
    };
    match target {
        Target::Accept => "ACCEPT".into(),
        Target::Drop => "DROP".into(),
        Target::Return => "RETURN".into(),
        Target::Reject(w) => format!("REJECT ({})", w.name()),
        Target::Log(l) => match &l.prefix {
            Some(p) => format!("LOG \"{p}\""),
            None => "LOG".into(),
        },
        Target::Chain(c) => format!("→ {c}"),
        Target::Snat(n) => format!("SNAT to {}", nat(n)),
        Target::Dnat(n) => format!("DNAT to {}", nat(n)),
        Target::Masquerade(m) => match m.ports {
            Some(p) => format!("MASQUERADE ({})", port(p)),
            None => "MASQUERADE".into(),
        },
        Target::Redirect(m) => match m.ports {
            Some(p) => format!("REDIRECT to local {}", port(p)),
            None => "REDIRECT to local".into(),
        },
        Target::Mark(x) => format!("MARK (mark & ~0x{:x}) ^ 0x{:x}", x.mask, x.value),
        Target::Connmark(c) => match c {
            ConnmarkTarget::Set(x) => {
                format!("CONNMARK (ctmark & ~0x{:x}) ^ 0x{:x}", x.mask, x.value)
            }
            ConnmarkTarget::Save { .. } => "CONNMARK save mark".into(),
            ConnmarkTarget::Restore { .. } => "CONNMARK restore mark".into(),
        },
        Target::Notrack => "NOTRACK".into(),
        Target::Trace => "TRACE".into(),
        Target::Set(t) => {
            let dirs: Vec<&str> = t
                .dirs
                .iter()
                .map(|d| match d {
                    SetDir::Src => "source",
                    SetDir::Dst => "destination",
                })
                .collect();
            let what = dirs.join(" and ");
            match (t.op, t.timeout) {
                (SetOp::Add, Some(s)) => format!("add {what} to set {} for {s} s", t.set),
                (SetOp::Add, None) => format!("add {what} to set {}", t.set),
                (SetOp::Del, _) => format!("remove {what} from set {}", t.set),
            }
        }
        Target::Nflog(n) => match &n.prefix {
            Some(p) => format!("NFLOG group {} \"{p}\"", n.group),
            None => format!("NFLOG group {}", n.group),
        },
        other => crate::model_targets::describe_ext(other).unwrap_or_default(),
    }
}

fn nat(n: &NatTarget) -> String {
    let addr = n.addrs.map(|a| a.to_string());
    match (addr, n.ports) {
        (Some(a), Some(p)) => format!("{a} {}", port(p)),
        (Some(a), None) => a,
        (None, Some(p)) => port(p),
        (None, None) => "(unchanged)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_script, ParseOptions, Source};

    fn describe(line: &str) -> String {
        let src = Source::new("t", format!("{line}\n"));
        let rs = parse_script(&src, ParseOptions::default()).unwrap().ruleset;
        let rule = rs
            .tables
            .iter()
            .flat_map(|t| &t.chains)
            .flat_map(|c| &c.rules)
            .last()
            .expect("one rule")
            .clone();
        describe_rule(&rule.spec).aligned(10)
    }

    #[test]
    fn reads_like_a_sentence() {
        assert_eq!(
            describe("iptables -A INPUT -s 192.0.2.0/24 -p tcp --dport 22 -m state --state NEW -j ACCEPT"),
            "ACCEPT     tcp, from 192.0.2.0/24, to port 22, state NEW"
        );
        assert_eq!(
            describe("iptables -t nat -A POSTROUTING -o ppp0 -j SNAT --to-source 203.0.113.2"),
            "SNAT to 203.0.113.2 out via ppp0"
        );
        assert_eq!(
            describe("iptables -A INPUT -p tcp --syn -m limit --limit 100/s --limit-burst 150 -m comment --comment flood -j RETURN"),
            "RETURN     tcp, a new connection (SYN), within 100/s (burst 150)  # flood"
        );
        assert_eq!(
            describe("iptables -P INPUT DROP\niptables -A INPUT -j DROP"),
            "DROP       any packet"
        );
    }
}
