//! Why a rule did not match, in words: the first failing test against the packet's value
//! (`out interface is ppp0, rule wants eth1`).
//!
//! Only called for rules that did not match, and only when explain mode is on or for the
//! hints' nat and nearest-miss checks, so the normal walk pays nothing for it.

use std::net::IpAddr;

use rampart_ruleset::{
    rule_args, state_names, CtStates, Match, Neg, PortRange, Protocol, RuleSpec,
};

use crate::matcher::{Ctx, Test};

/// `! ` for a negated test.
fn bang<T>(n: &Neg<T>) -> &'static str {
    if n.negated {
        "! "
    } else {
        ""
    }
}

/// The packet's conntrack state as `-m state` sees it (`NEW`, `ESTABLISHED`, ...).
fn state_word(bits: u8) -> String {
    let names = state_names(CtStates(bits & 0x1f));
    if names.is_empty() {
        "none".to_string()
    } else {
        names
    }
}

fn ports_text(ranges: &[PortRange]) -> String {
    ranges
        .iter()
        .map(PortRange::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn port_word(value: Option<u16>) -> String {
    value.map_or_else(|| "unknown".to_string(), |p| p.to_string())
}

fn proto_word(p: Protocol) -> String {
    p.to_string()
}

/// The first failing test of a rule, in words.
pub(crate) fn describe(spec: &RuleSpec, test: Test, ctx: &Ctx) -> String {
    match test {
        Test::Source => {
            let s = spec.source.as_ref().expect("tested");
            format!("source is {}, rule wants {}{}", ctx.src, bang(s), s.value)
        }
        Test::Destination => {
            let d = spec.destination.as_ref().expect("tested");
            format!(
                "destination is {}, rule wants {}{}",
                ctx.dst,
                bang(d),
                d.value
            )
        }
        Test::InIface => {
            let i = spec.in_interface.as_ref().expect("tested");
            let got = if ctx.in_iface.is_empty() {
                "none (locally generated)"
            } else {
                ctx.in_iface
            };
            format!("in interface is {got}, rule wants {}{}", bang(i), i.value.0)
        }
        Test::OutIface => {
            let o = spec.out_interface.as_ref().expect("tested");
            let got = if ctx.out_iface.is_empty() {
                "not yet chosen (before routing)"
            } else {
                ctx.out_iface
            };
            format!(
                "out interface is {got}, rule wants {}{}",
                bang(o),
                o.value.0
            )
        }
        Test::Protocol => {
            let p = spec.protocol.as_ref().expect("tested");
            format!(
                "protocol is {}, rule wants {}{}",
                proto_word(ctx.pkt.protocol),
                bang(p),
                p.value
            )
        }
        Test::Fragment => {
            if ctx.pkt.fragment {
                "packet is a non-first fragment, rule wants ! -f".to_string()
            } else {
                "packet is not a non-first fragment, rule wants -f".to_string()
            }
        }
        Test::Module(i) => match spec.matches.get(i) {
            Some(m) => module(m, ctx),
            None => "no such test".to_string(),
        },
    }
}

/// The module's options as iptables prints them (`-m state --state RELATED,ESTABLISHED`).
fn module_text(m: &Match) -> String {
    rule_args(&RuleSpec {
        matches: vec![m.clone()],
        ..RuleSpec::default()
    })
}

fn port_test(
    what: &str,
    test: &Option<Neg<PortRange>>,
    value: Option<u16>,
    flag: &str,
) -> Option<String> {
    let t = test.as_ref()?;
    match value {
        Some(p) if t.apply(t.value.contains(p)) => None,
        Some(p) => Some(format!(
            "{what} port is {p}, rule wants {flag} {}{}",
            bang(t),
            t.value
        )),
        None => Some(format!(
            "{what} port is unknown, assumed not to match {flag} {}{}",
            bang(t),
            t.value
        )),
    }
}

fn module(m: &Match, ctx: &Ctx) -> String {
    let pkt = ctx.pkt;
    let l4 = |want: Protocol| -> Option<String> {
        if pkt.protocol != want {
            return Some(format!(
                "protocol is {}, rule wants {want}",
                proto_word(pkt.protocol)
            ));
        }
        if pkt.fragment {
            return Some("a non-first fragment carries no ports".to_string());
        }
        None
    };
    let found = match m {
        Match::Tcp(t) => l4(Protocol::TCP)
            .or_else(|| port_test("source", &t.sport, ctx.sport, "--sport"))
            .or_else(|| port_test("destination", &t.dport, ctx.dport, "--dport"))
            .or_else(|| {
                let f = t.flags.as_ref()?;
                let got = pkt
                    .tcp_flags
                    .map_or_else(|| "unknown".to_string(), |g| g.to_string());
                Some(format!(
                    "TCP flags are {got}, rule wants {}--tcp-flags {} {}",
                    bang(f),
                    f.value.mask,
                    f.value.comp
                ))
            }),
        Match::Udp(u) => l4(Protocol::UDP)
            .or_else(|| port_test("source", &u.sport, ctx.sport, "--sport"))
            .or_else(|| port_test("destination", &u.dport, ctx.dport, "--dport")),
        Match::Icmp(_) | Match::Icmp6(_) => {
            let got = match (pkt.icmp_type, pkt.icmp_code) {
                (Some(t), Some(c)) => format!("{t}/{c}"),
                (Some(t), None) => t.to_string(),
                _ => "unknown".to_string(),
            };
            Some(format!("ICMP type is {got}, rule wants {}", module_text(m)))
        }
        Match::Multiport(mp) => Some(format!(
            "ports are {} → {}, rule wants {}{}",
            port_word(ctx.sport),
            port_word(ctx.dport),
            bang(&mp.ports),
            ports_text(&mp.ports.value)
        ))
        .map(|s| format!("{s} ({})", module_text(m))),
        Match::State(s) => Some(format!(
            "state is {}, rule wants {}{}",
            state_word(ctx.ct_bits),
            bang(s),
            state_names(s.value)
        )),
        Match::Conntrack(c) => c
            .state
            .as_ref()
            .filter(|s| !s.apply(s.value.0 & ctx.ct_bits != 0))
            .map(|s| {
                let mut got = state_word(ctx.ct_bits);
                for (name, bit) in [("SNAT", CtStates::SNAT), ("DNAT", CtStates::DNAT)] {
                    if ctx.ct_bits & bit != 0 {
                        got.push(',');
                        got.push_str(name);
                    }
                }
                format!(
                    "conntrack state is {got}, rule wants {}{}",
                    bang(s),
                    state_names(s.value)
                )
            })
            .or_else(|| {
                let p = c.proto.as_ref()?;
                (!p.apply(p.value == pkt.protocol)).then(|| {
                    format!(
                        "protocol is {}, rule wants --ctproto {}{}",
                        proto_word(pkt.protocol),
                        bang(p),
                        p.value
                    )
                })
            })
            .or_else(|| addr_test("original source", &c.orig_src, ctx.orig_src))
            .or_else(|| addr_test("original destination", &c.orig_dst, ctx.orig_dst)),
        Match::Mark(mk) => Some(format!(
            "mark is {:#x}, rule wants {}",
            ctx.mark,
            module_text(m).trim_start_matches("-m mark ")
        ))
        .filter(|_| !mk.apply(ctx.mark & mk.value.mask == mk.value.value)),
        Match::Limit(_) | Match::Hashlimit(_) => {
            Some(format!("over the rate limit ({})", module_text(m)))
        }
        Match::Connlimit(_) => Some(format!("connection count test failed ({})", module_text(m))),
        Match::Recent(_) => Some(format!("recent list test failed ({})", module_text(m))),
        Match::Set(s) => {
            let verb = if s.negated { "is" } else { "is not" };
            Some(format!(
                "packet {verb} in set {} ({})",
                s.name,
                module_text(m)
            ))
        }
        Match::Addrtype(_) => Some(format!("address type differs ({})", module_text(m))),
        Match::Iprange(_) => Some(format!(
            "{} → {} outside the range ({})",
            ctx.src,
            ctx.dst,
            module_text(m)
        )),
        Match::Length(_) => Some(format!(
            "length is {}, rule wants {}",
            pkt.length
                .map_or_else(|| "unknown".to_string(), |l| l.to_string()),
            module_text(m)
        )),
        Match::Mac(_) => Some(format!(
            "source MAC is {}, rule wants {}",
            pkt.mac_src
                .map_or_else(|| "unknown".to_string(), |a| a.to_string()),
            module_text(m)
        )),
        _ => None,
    };
    found.unwrap_or_else(|| format!("{} did not match", module_text(m)))
}

fn addr_test(
    what: &str,
    test: &Option<Neg<rampart_prefix::Prefix>>,
    got: IpAddr,
) -> Option<String> {
    let t = test.as_ref()?;
    (!t.apply(t.value.contains(got)))
        .then(|| format!("{what} is {got}, rule wants {}{}", bang(t), t.value))
}
