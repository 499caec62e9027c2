//! nftables statements for issue 14's targets, or the reason there is none.
//!
//! Each translation was checked with `nft -c` (nftables 1.0.6) in a namespace
//! (`tests/netns/rules.rs` compiles every rule of `testdata/rules/targets.rules`). A
//! target nftables cannot express in rampart's one `inet` table is refused with why,
//! never dropped.

use rampart_ruleset::{Family, NatTarget, Target, TtlChange, CT_EVENTS};

use crate::error::{CompileError, RulePlace};

/// What a target becomes: statements (none of issue 14's targets is a verdict here).
pub(crate) struct Lowered {
    pub stmts: Vec<String>,
}

fn refuse(at: &RulePlace, target: &str, reason: &str) -> CompileError {
    CompileError::NoNftEquivalent {
        at: at.clone(),
        target: target.to_string(),
        reason: reason.to_string(),
    }
}

/// `ct event set` names nftables 1.0 knows (the others, `helper`, `mark`, `natseqinfo`,
/// `secmark`, are keywords its parser refuses there).
const NFT_CT_EVENTS: [&str; 6] = ["new", "related", "destroy", "reply", "assured", "protoinfo"];

/// The statements for one of issue 14's targets; `None` for the others.
pub(crate) fn lower_ext(at: &RulePlace, t: &Target) -> Option<Result<Lowered, CompileError>> {
    let v6 = at.family == Family::Ipv6;
    let ip = if v6 { "ip6" } else { "ip" };
    let one = |s: String| Ok(Lowered { stmts: vec![s] });
    let r = match t {
        Target::NotrackAlias => one("notrack".into()),
        Target::Tcpmss(m) => one(match m.mss {
            None => "tcp flags syn tcp option maxseg size set rt mtu".into(),
            // TCPMSS only ever lowers the MSS.
            Some(mss) => format!(
                "tcp flags syn tcp option maxseg size > {mss} tcp option maxseg size set {mss}"
            ),
        }),
        Target::Ttl(x) | Target::Hl(x) => {
            let field = if matches!(t, Target::Ttl(_)) {
                "ip ttl"
            } else {
                "ip6 hoplimit"
            };
            match x.op {
                TtlChange::Set => one(format!("{field} set {}", x.value)),
                _ => Err(refuse(
                    at,
                    if matches!(t, Target::Ttl(_)) { "TTL" } else { "HL" },
                    "nftables sets a header field to a constant only; it cannot add to or subtract from it (--ttl-dec/--ttl-inc)",
                )),
            }
        }
        Target::Dscp(d) => one(format!("{ip} dscp set {}", d.dscp)),
        Target::Tos(x) => match x.mask {
            0xff => {
                let ecn = ["not-ect", "ect1", "ect0", "ce"][usize::from(x.value & 3)];
                one(format!("{ip} dscp set {} {ip} ecn set {ecn}", x.value >> 2))
            }
            0xfc if x.value & 3 == 0 => one(format!("{ip} dscp set {}", x.value >> 2)),
            _ => Err(refuse(
                at,
                "TOS",
                "this TOS change keeps some bits of the DSCP field; nftables sets the whole DSCP and ECN fields only (use --set-tos VALUE/0xff or -j DSCP)",
            )),
        },
        Target::Classify(c) => one(format!("meta priority set {:x}:{:x}", c.major, c.minor)),
        Target::Netmap(n) => {
            let verb = match at.chain.as_str() {
                "PREROUTING" | "OUTPUT" => "dnat",
                "POSTROUTING" | "INPUT" => "snat",
                _ => {
                    return Some(Err(refuse(
                        at,
                        "NETMAP",
                        "in a user chain it maps the source or the destination depending on the hook that reached it; nftables needs one: move the rule to a built-in chain",
                    )))
                }
            };
            one(format!("{verb} {ip} prefix to {}", n.to))
        }
        Target::Tproxy(_) => Err(refuse(
            at,
            "TPROXY",
            "nftables' tproxy lets the packet go on to the next rule when no socket listens, where TPROXY drops it",
        )),
        Target::Synproxy(s) => {
            if s.ecn {
                return Some(Err(refuse(at, "SYNPROXY", "nftables' synproxy has no --ecn")));
            }
            let mut text = "synproxy".to_string();
            if let Some(mss) = s.mss {
                text.push_str(&format!(" mss {mss}"));
            }
            if let Some(ws) = s.wscale {
                text.push_str(&format!(" wscale {ws}"));
            }
            if s.timestamp {
                text.push_str(" timestamp");
            }
            if s.sack_perm {
                text.push_str(" sack-perm");
            }
            one(text)
        }
        Target::Checksum => Err(refuse(
            at,
            "CHECKSUM",
            "nftables has no statement that fills in a checksum (CHECKSUM is a fix-up for old DHCP clients behind checksum offload; modern ones need none)",
        )),
        // The kernel ignores AUDIT's --type since Linux 4.12; nft writes the same record.
        Target::Audit(_) => one("log level audit".into()),
        Target::Tee(_) => Err(refuse(
            at,
            "TEE",
            "nftables' dup works in ip and ip6 tables only, and rampart compiles to one inet table",
        )),
        Target::Nfqueue(q) => {
            let mut flags = Vec::new();
            if q.cpu_fanout {
                flags.push("fanout");
            }
            if q.bypass {
                flags.push("bypass");
            }
            let num = if q.last > q.first {
                format!("{}-{}", q.first, q.last)
            } else {
                q.first.to_string()
            };
            let mut text = format!("queue num {num}");
            if !flags.is_empty() {
                text.push(' ');
                text.push_str(&flags.join(","));
            }
            one(text)
        }
        Target::Ct(c) => {
            let mut stmts = Vec::new();
            if c.notrack {
                // The template's other settings do not matter to an untracked packet.
                return Some(one("notrack".into()));
            }
            if c.helper.is_some() {
                return Some(Err(refuse(
                    at,
                    "CT",
                    "`--helper` needs a ct helper object, which rampart does not declare yet",
                )));
            }
            if c.timeout.is_some() {
                return Some(Err(refuse(
                    at,
                    "CT",
                    "`--timeout` needs a ct timeout object, which rampart does not declare yet",
                )));
            }
            if c.expevents != 0 {
                return Some(Err(refuse(at, "CT", "nftables has no `--expevents`")));
            }
            if c.zone_mark {
                return Some(Err(refuse(
                    at,
                    "CT",
                    "nftables 1.0 cannot set the zone from the mark",
                )));
            }
            if c.ctevents != 0 {
                let names: Vec<&str> = CT_EVENTS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| c.ctevents & (1 << i) != 0)
                    .map(|(_, n)| *n)
                    .collect();
                if let Some(bad) = names.iter().find(|n| !NFT_CT_EVENTS.contains(n)) {
                    return Some(Err(refuse(
                        at,
                        "CT",
                        &format!("nftables' ct event set has no `{bad}`"),
                    )));
                }
                stmts.push(format!("ct event set {}", names.join(",")));
            }
            if c.zone != 0 {
                let dir = match (c.zone_orig, c.zone_reply) {
                    (true, false) => "original ",
                    (false, true) => "reply ",
                    _ => "",
                };
                stmts.push(format!("ct {dir}zone set {}", c.zone));
            }
            if stmts.is_empty() {
                // `-j CT` alone attaches a default template: nothing to do.
                stmts.push("counter".into());
            }
            Ok(Lowered { stmts })
        }
        Target::Tcpoptstrip(s) => {
            let stmts: Vec<String> = s
                .kinds()
                .iter()
                .map(|k| match k {
                    2 => "reset tcp option maxseg".to_string(),
                    3 => "reset tcp option window".to_string(),
                    4 => "reset tcp option sack-perm".to_string(),
                    8 => "reset tcp option timestamp".to_string(),
                    k => format!("reset tcp option {k}"),
                })
                .collect();
            if stmts.is_empty() {
                Ok(Lowered {
                    stmts: vec!["counter".into()],
                })
            } else {
                Ok(Lowered { stmts })
            }
        }
        Target::Connsecmark(c) => one(if c.save {
            "ct secmark set meta secmark".into()
        } else {
            "meta secmark set ct secmark".into()
        }),
        Target::Secmark(_) => Err(refuse(
            at,
            "SECMARK",
            "nftables needs a secmark object for the context, which rampart does not declare yet",
        )),
        Target::Idletimer(_) => Err(refuse(at, "IDLETIMER", "nftables has no idle timers")),
        Target::Rateest(_) => Err(refuse(at, "RATEEST", "nftables has no rate estimators")),
        Target::Hmark(_) => Err(refuse(
            at,
            "HMARK",
            "nftables' jhash computes other values than HMARK's hash, so marks would differ",
        )),
        Target::Dnpt(_) | Target::Snpt(_) => Err(refuse(
            at,
            rampart_ruleset::target_name(t),
            "nftables has no checksum-neutral prefix translation (RFC 6296)",
        )),
        Target::Ecn(e) if e.touches_tcp() => Err(refuse(
            at,
            "ECN",
            "nftables 1.0 sets the TCP flags byte only to a constant; it cannot clear or set ECE/CWR alone",
        )),
        Target::Ecn(e) => one(format!("ip ecn set {}", e.ip_ect.unwrap_or(0))),
        Target::Led(_) => Err(refuse(at, "LED", "nftables has no LED triggers")),
        _ => return None,
    };
    Some(r)
}

/// DNAT/SNAT `PORTS/BASE`: nftables has no port shift.
pub(crate) fn check_nat_offset(
    at: &RulePlace,
    n: &NatTarget,
    target: &str,
) -> Result<(), CompileError> {
    match n.port_offset {
        Some(_) => Err(refuse(
            at,
            target,
            "nftables has no port shift (`PORTS/BASE`): it maps every port to the range's own choice",
        )),
        None => Ok(()),
    }
}
