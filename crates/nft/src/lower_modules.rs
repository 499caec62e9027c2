//! Lowering of the match modules of issue 14 to nft expressions, following
//! `iptables-translate` 1.8.9 where it has a translation, and refusing with the reason
//! where nftables cannot say the same thing (a rule is never dropped silently).

use rampart_ruleset::{
    ConntrackMore, CtDir, CtStatus, Family, Match, OpaqueMatch, OwnerMatch, PktType, PolicyDir,
    PortRange, StatisticMode, TtlOp,
};

use crate::error::{CompileError, RulePlace};
use crate::ir::{Op, Stmt};

fn m(left: impl Into<String>, op: Op, right: impl Into<String>) -> Stmt {
    Stmt::Match {
        left: left.into(),
        op,
        right: right.into(),
    }
}

fn op(negated: bool) -> Op {
    if negated {
        Op::Ne
    } else {
        Op::Implicit
    }
}

fn range<T: std::fmt::Display + PartialEq>(lo: T, hi: T) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

fn ports(r: PortRange) -> String {
    range(r.lo, r.hi)
}

/// `meta mark`-style value under a mask: `KEY 0x1` or `KEY and 0xff == 0x1`.
fn masked(key: &str, negated: bool, value: u32, mask: u32) -> Stmt {
    if mask == u32::MAX {
        m(key, op(negated), format!("{value:#x}"))
    } else {
        m(
            format!("{key} and {mask:#x}"),
            if negated { Op::Ne } else { Op::Eq },
            format!("{value:#x}"),
        )
    }
}

/// The nft statements of a module of `model::modules`; `None` for other matches.
pub(crate) fn lower(
    at: &RulePlace,
    fam: Family,
    mt: &Match,
) -> Option<Result<Vec<Stmt>, CompileError>> {
    let refuse = |reason: &'static str| {
        Err(CompileError::Refused {
            at: at.clone(),
            module: mt.module_name(),
            reason,
        })
    };
    let ip = match fam {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    };
    Some(match mt {
        Match::Owner(o) => owner(o).map_or_else(refuse, Ok),
        Match::Pkttype(p) => {
            let name = match p.value {
                PktType::Unicast => "host",
                PktType::Broadcast => "broadcast",
                PktType::Multicast => "multicast",
                PktType::Otherhost => "other",
                _ => {
                    return Some(refuse(
                        "nft has no name for the outgoing and loopback packet types",
                    ))
                }
            };
            Ok(vec![m("meta pkttype", op(p.negated), name)])
        }
        Match::Connmark(c) => Ok(vec![masked(
            "ct mark",
            c.negated,
            c.value.value,
            c.value.mask,
        )]),
        Match::Ttl(t) | Match::Hl(t) => {
            let key = if matches!(mt, Match::Ttl(_)) {
                "ip ttl"
            } else {
                "ip6 hoplimit"
            };
            let (o, right) = match t.op {
                TtlOp::Eq => (Op::Implicit, t.value.to_string()),
                TtlOp::Ne => (Op::Ne, t.value.to_string()),
                TtlOp::Lt => (Op::Implicit, format!("lt {}", t.value)),
                TtlOp::Gt => (Op::Implicit, format!("gt {}", t.value)),
            };
            Ok(vec![m(key, o, right)])
        }
        Match::Dscp(d) => Ok(vec![m(
            format!("{ip} dscp"),
            op(d.negated),
            format!("{:#04x}", d.value),
        )]),
        Match::Tos(t) => {
            // The TOS byte / traffic class as raw header bits: nft has no `tos` key.
            let at_bits = match fam {
                Family::Ipv4 => "@nh,8,8",
                Family::Ipv6 => "@nh,4,8",
            };
            let (value, mask) = (t.value.value, t.value.mask);
            Ok(vec![if mask == 0xff {
                m(at_bits, op(t.negated), format!("{value:#04x}"))
            } else {
                m(
                    format!("{at_bits} & {mask:#04x}"),
                    if t.negated { Op::Ne } else { Op::Eq },
                    format!("{value:#04x}"),
                )
            }])
        }
        Match::Time(_) => refuse(
            "nft reads `meta hour` and `meta time` in the time zone of the process that loads \
             the script and `meta day` in the kernel's, where -m time reads UTC: no exact \
             equivalent",
        ),
        Match::String(_) => refuse("nftables has no payload string search"),
        Match::Statistic(s) => Ok(vec![match s.mode {
            StatisticMode::Random { probability } => m(
                "meta random & 2147483647",
                Op::Implicit,
                format!("{} {probability}", if s.negated { ">=" } else { "<" }),
            ),
            StatisticMode::Nth { every, packet } => m(
                format!("numgen inc mod {every}"),
                op(s.negated),
                packet.to_string(),
            ),
        }]),
        Match::Helper(h) => Ok(vec![m(
            "ct helper",
            op(h.negated),
            format!("\"{}\"", h.value),
        )]),
        Match::Policy(p) => {
            if !p.elems.is_empty() {
                return Some(refuse(
                    "nft's ipsec expression tests one position of the policy stack, where -m \
                     policy elements match any (or, --strict, each in order)",
                ));
            }
            let key = match p.dir {
                PolicyDir::In => "meta secpath",
                PolicyDir::Out => "rt ipsec",
            };
            Ok(vec![m(
                key,
                Op::Implicit,
                if p.ipsec { "exists" } else { "missing" },
            )])
        }
        Match::Rpfilter(r) => {
            if r.accept_local {
                return Some(refuse("nft's fib has no --accept-local"));
            }
            let mut key = String::from("fib saddr");
            if r.validmark {
                key.push_str(" . mark");
            }
            if !r.loose {
                key.push_str(" . iif");
            }
            key.push_str(" oif");
            Ok(vec![m(
                key,
                if r.invert { Op::Implicit } else { Op::Ne },
                "0",
            )])
        }
        Match::Physdev(_) => refuse(
            "nft rules of the ip/ip6 family cannot see bridge ports; match them in an nft \
             bridge-family table (meta ibrname, iifname)",
        ),
        Match::Tcpmss(r) => {
            if r.negated {
                return Some(refuse(
                    "`! --mss` matches packets without the MSS option; nft's `tcp option \
                     maxseg` never matches them",
                ));
            }
            Ok(vec![m(
                "tcp option maxseg size",
                Op::Implicit,
                ports(r.value),
            )])
        }
        Match::Sctp(s) => {
            if s.chunks.is_some() {
                return Some(refuse(
                    "rampart does not translate --chunk-types to nft's sctp chunk expressions yet",
                ));
            }
            let mut out = Vec::new();
            for (field, p) in [("sport", &s.sport), ("dport", &s.dport)] {
                if let Some(p) = p {
                    out.push(m(format!("sctp {field}"), op(p.negated), ports(p.value)));
                }
            }
            Ok(out)
        }
        Match::Devgroup(d) => {
            let mut out = Vec::new();
            for (key, g) in [("meta iifgroup", &d.src), ("meta oifgroup", &d.dst)] {
                if let Some(g) = g {
                    out.push(masked(key, g.negated, g.value.value, g.value.mask));
                }
            }
            Ok(out)
        }
        Match::Opaque(o) => opaque(o, fam).ok_or_else(|| CompileError::Refused {
            at: at.clone(),
            module: mt.module_name(),
            reason: o.nft_refusal(),
        }),
        _ => return None,
    })
}

/// The options of an opaque match as (negated, option, value).
fn opaque_opts(o: &OpaqueMatch) -> Vec<(bool, &str, Option<&str>)> {
    let mut out = Vec::new();
    let mut negated = false;
    let mut words = o.args.iter().map(|a| a.text.as_str()).peekable();
    while let Some(w) = words.next() {
        if w == "!" {
            negated = true;
            continue;
        }
        let value = words.next_if(|v| !v.starts_with("--") && *v != "!");
        out.push((negated, w, value));
        negated = false;
    }
    out
}

/// The long-tail modules nft has an exact equivalent for, as `iptables-translate` writes
/// them (only options whose meaning is the same: `--hbh-len` counts bytes where nft's
/// `hdrlength` counts 8-byte units, so it is not here). `None`: refused with the module's
/// reason.
fn opaque(o: &OpaqueMatch, fam: Family) -> Option<Vec<Stmt>> {
    let ip = match fam {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    };
    let colon = |v: Option<&str>| v.map(|v| v.replace(':', "-"));
    let mut out = Vec::new();
    for (negated, opt, value) in opaque_opts(o) {
        let stmt = match (o.name.as_str(), opt) {
            ("esp", "--espspi") => m("esp spi", op(negated), colon(value)?),
            ("ah", "--ahspi") if fam == Family::Ipv4 => m("ah spi", op(negated), colon(value)?),
            ("ipcomp", "--ipcompspi") => {
                let v = colon(value)?;
                // nft's cpi is the header's 16 bits.
                if v.split('-')
                    .any(|n| n.parse::<u32>().map_or(true, |n| n > 0xffff))
                {
                    return None;
                }
                m("comp cpi", op(negated), v)
            }
            ("cpu", "--cpu") => m("meta cpu", op(negated), value?),
            ("cgroup", "--cgroup") => m("meta cgroup", op(negated), value?),
            ("realm", "--realm") => {
                let v = value?;
                let num = |t: &str| u32::from_str_radix(t.trim_start_matches("0x"), 16).ok();
                let (value, mask) = match v.split_once('/') {
                    Some((a, b)) => (num(a)?, num(b)?),
                    None => (num(v)?, u32::MAX),
                };
                masked("meta rtclassid", negated, value, mask)
            }
            ("quota", "--quota") => {
                let bytes = value?
                    .parse::<u64>()
                    .ok()
                    .filter(|b| *b <= i64::MAX as u64)?;
                Stmt::Stateful(format!(
                    "quota {}{bytes} bytes",
                    if negated { "over " } else { "" },
                ))
            }
            ("dccp", "--sport") => m("dccp sport", op(negated), colon(value)?),
            ("dccp", "--dport") => m("dccp dport", op(negated), colon(value)?),
            ("dccp", "--dccp-types") => {
                let names: Vec<String> = value?.split(',').map(str::to_ascii_lowercase).collect();
                m(
                    "dccp type",
                    op(negated),
                    format!("{{ {} }}", names.join(", ")),
                )
            }
            ("mh", "--mh-type") => m("mh type", op(negated), colon(value)?),
            ("frag", "--fragid") => m("frag id", op(negated), colon(value)?),
            ("frag", "--fragmore") => m("frag more-fragments", Op::Implicit, "1"),
            ("frag", "--fraglast") => m("frag more-fragments", Op::Implicit, "0"),
            ("frag", "--fragfirst") => m("frag frag-off", Op::Implicit, "0"),
            ("rt", "--rt-type") => m("rt type", op(negated), value?),
            ("rt", "--rt-segsleft") => m("rt seg-left", op(negated), colon(value)?),
            ("ecn", "--ecn-ip-ect") => {
                let name = ["not-ect", "ect1", "ect0", "ce"][value?.parse::<usize>().ok()?];
                m(format!("{ip} ecn"), op(negated), name)
            }
            ("ecn", "--ecn-tcp-ece") => m(
                "tcp flags & ecn",
                if negated { Op::Eq } else { Op::Ne },
                "0",
            ),
            ("ecn", "--ecn-tcp-cwr") => m(
                "tcp flags & cwr",
                if negated { Op::Eq } else { Op::Ne },
                "0",
            ),
            ("connbytes", "--connbytes") => return connbytes(o, negated, value?),
            (_, _) => return None,
        };
        out.push(stmt);
    }
    Some(out)
}

/// `ct [original|reply] packets|bytes|avgpkt RANGE`.
fn connbytes(o: &OpaqueMatch, negated: bool, range: &str) -> Option<Vec<Stmt>> {
    let opts = opaque_opts(o);
    let get = |name: &str| opts.iter().find(|(_, n, _)| *n == name).and_then(|x| x.2);
    let what = get("--connbytes-mode")?;
    let dir = match get("--connbytes-dir")? {
        "both" => String::new(),
        d => format!("{d} "),
    };
    let key = format!("ct {dir}{what}");
    Some(vec![match range.split_once(':') {
        Some((lo, hi)) => m(key, op(negated), format!("{lo}-{hi}")),
        // A lone number is a lower bound.
        None => m(
            key,
            Op::Implicit,
            format!("{} {range}", if negated { "<" } else { ">=" }),
        ),
    }])
}

/// `meta skuid` / `meta skgid`; `None` when nft cannot say it.
fn owner(o: &OwnerMatch) -> Result<Vec<Stmt>, &'static str> {
    if o.socket_exists.is_some() || o.suppl_groups {
        return Err("nft cannot test for a local socket (--socket-exists) or supplementary groups");
    }
    let mut out = Vec::new();
    for (key, r) in [("meta skuid", &o.uid), ("meta skgid", &o.gid)] {
        if let Some(r) = r {
            if r.negated {
                return Err(
                    "`! --uid-owner`/`! --gid-owner` match packets without a socket; nft's \
                     meta skuid/skgid never match them",
                );
            }
            out.push(m(key, Op::Implicit, range(r.value.lo, r.value.hi)));
        }
    }
    Ok(out)
}

/// The rarer conntrack options, as `iptables-translate` writes them.
pub(crate) fn conntrack_more(
    at: &RulePlace,
    fam: Family,
    x: &ConntrackMore,
    has_proto: bool,
) -> Result<Vec<Stmt>, CompileError> {
    let refuse = |reason| {
        Err(CompileError::Refused {
            at: at.clone(),
            module: "conntrack",
            reason,
        })
    };
    let any_port = x.orig_src_port.is_some()
        || x.orig_dst_port.is_some()
        || x.repl_src_port.is_some()
        || x.repl_dst_port.is_some();
    if any_port && !has_proto {
        return refuse(
            "nft types a connection's ports by the packet's protocol: add `-p tcp` (or the \
             protocol the ports belong to) to the rule",
        );
    }
    if x.expire.as_ref().is_some_and(|e| e.value.lo > e.value.hi) {
        return refuse("a reversed --ctexpire range never matches");
    }
    let ip = match fam {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    };
    let mut out = Vec::new();
    if let Some(d) = x.dir {
        let dir = match d {
            CtDir::Original => "original",
            CtDir::Reply => "reply",
        };
        out.push(m("ct direction", Op::Implicit, dir));
    }
    if let Some(s) = &x.status {
        if s.value.0 == 0 {
            return refuse("`--ctstatus NONE` tests no bit (it never matches)");
        }
        let names: Vec<&str> = CtStatus::NAMES
            .iter()
            .filter(|(_, b)| s.value.0 & b != 0)
            .map(|(n, _)| match *n {
                "EXPECTED" => "expected",
                "SEEN_REPLY" => "seen-reply",
                "ASSURED" => "assured",
                _ => "confirmed",
            })
            .collect();
        out.push(m(
            format!("ct status & ({})", names.join(" | ")),
            if s.negated { Op::Eq } else { Op::Ne },
            "0",
        ));
    }
    if let Some(e) = &x.expire {
        out.push(m(
            "ct expiration",
            op(e.negated),
            range(format!("{}s", e.value.lo), format!("{}s", e.value.hi)),
        ));
    }
    for (field, p) in [("saddr", &x.repl_src), ("daddr", &x.repl_dst)] {
        if let Some(p) = p {
            let text = if p.value.is_host() {
                p.value.addr().to_string()
            } else {
                format!("{}/{}", p.value.addr(), p.value.len())
            };
            out.push(m(format!("ct reply {ip} {field}"), op(p.negated), text));
        }
    }
    for (key, p) in [
        ("ct original proto-src", &x.orig_src_port),
        ("ct original proto-dst", &x.orig_dst_port),
        ("ct reply proto-src", &x.repl_src_port),
        ("ct reply proto-dst", &x.repl_dst_port),
    ] {
        if let Some(p) = p {
            out.push(m(key, op(p.negated), ports(p.value)));
        }
    }
    Ok(out)
}
