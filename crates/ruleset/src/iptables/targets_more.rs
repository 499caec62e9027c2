//! The targets of issue 14 (TCPMSS, CT, NFQUEUE, TTL/HL, DSCP/TOS, CLASSIFY, NETMAP, TPROXY,
//! SYNPROXY, CHECKSUM, AUDIT, TEE, TCPOPTSTRIP, CONNSECMARK, SECMARK, IDLETIMER, RATEEST,
//! HMARK, DNPT/SNPT): option tables and the checks iptables 1.8.9 and the kernel make.
//!
//! Which chains each may be used in is [`crate::command`]'s `allowed_chains` (one place,
//! checked when the rule is added); the table, when there is one, is in [`MORE_TARGETS`].

use std::net::IpAddr;

use crate::error::{ErrorKind, ParseError};
use crate::lex::Word;
use crate::model::{
    AuditTarget, AuditType, ClassifyTarget, ConnsecmarkTarget, CtTarget, DscpTarget, EcnTarget,
    Family, HmarkTarget, IdletimerTarget, LedTarget, NetmapTarget, NfqueueTarget, NptTarget,
    Protocol, RateestTarget, SecmarkTarget, SynproxyTarget, TableKind, Target, TcpmssTarget,
    TcpoptstripTarget, TeeTarget, TosTarget, TproxyTarget, TtlChange, TtlTarget, CT_EVENTS,
};

use super::targets::TargetDraft;
use super::values;
use super::{OptSpec, RuleCtx};

const fn flag(name: &'static [&'static str]) -> OptSpec {
    OptSpec {
        names: name,
        args: 0,
        negatable: false,
    }
}

const fn one(name: &'static [&'static str]) -> OptSpec {
    OptSpec {
        names: name,
        args: 1,
        negatable: false,
    }
}

/// The targets of this file, their options and the one table they need (None: any, or
/// more than one: checked in their finish).
pub(super) const MORE_TARGETS: &[(&str, &[OptSpec], Option<TableKind>)] = &[
    (
        "TCPMSS",
        &[one(&["--set-mss"]), flag(&["--clamp-mss-to-pmtu"])],
        None,
    ),
    (
        "TTL",
        &[
            one(&["--ttl-set"]),
            one(&["--ttl-dec"]),
            one(&["--ttl-inc"]),
        ],
        Some(TableKind::Mangle),
    ),
    (
        "HL",
        &[one(&["--hl-set"]), one(&["--hl-dec"]), one(&["--hl-inc"])],
        Some(TableKind::Mangle),
    ),
    (
        "DSCP",
        &[one(&["--set-dscp"]), one(&["--set-dscp-class"])],
        Some(TableKind::Mangle),
    ),
    (
        "TOS",
        &[
            one(&["--set-tos"]),
            one(&["--and-tos"]),
            one(&["--or-tos"]),
            one(&["--xor-tos"]),
        ],
        Some(TableKind::Mangle),
    ),
    ("CLASSIFY", &[one(&["--set-class"])], None),
    ("NETMAP", &[one(&["--to"])], Some(TableKind::Nat)),
    (
        "TPROXY",
        &[
            one(&["--on-port"]),
            one(&["--on-ip"]),
            one(&["--tproxy-mark"]),
        ],
        Some(TableKind::Mangle),
    ),
    (
        "SYNPROXY",
        &[
            one(&["--mss"]),
            one(&["--wscale"]),
            flag(&["--sack-perm"]),
            flag(&["--timestamp"]),
            flag(&["--ecn"]),
        ],
        None,
    ),
    (
        "CHECKSUM",
        &[flag(&["--checksum-fill"])],
        Some(TableKind::Mangle),
    ),
    ("AUDIT", &[one(&["--type"])], None),
    ("TEE", &[one(&["--gateway"]), one(&["--oif"])], None),
    (
        "NFQUEUE",
        &[
            one(&["--queue-num"]),
            one(&["--queue-balance"]),
            flag(&["--queue-bypass"]),
            flag(&["--queue-cpu-fanout"]),
        ],
        None,
    ),
    (
        "CT",
        &[
            flag(&["--notrack"]),
            one(&["--helper"]),
            one(&["--timeout"]),
            one(&["--ctevents"]),
            one(&["--expevents"]),
            one(&["--zone"]),
            one(&["--zone-orig"]),
            one(&["--zone-reply"]),
        ],
        Some(TableKind::Raw),
    ),
    (
        "TCPOPTSTRIP",
        &[one(&["--strip-options"])],
        Some(TableKind::Mangle),
    ),
    (
        "CONNSECMARK",
        &[flag(&["--save"]), flag(&["--restore"])],
        None,
    ),
    ("SECMARK", &[one(&["--selctx"])], None),
    (
        "ECN",
        &[
            flag(&["--ecn-tcp-remove"]),
            one(&["--ecn-tcp-cwr"]),
            one(&["--ecn-tcp-ece"]),
            one(&["--ecn-ip-ect"]),
        ],
        Some(TableKind::Mangle),
    ),
    (
        "LED",
        &[
            one(&["--led-trigger-id"]),
            one(&["--led-delay"]),
            flag(&["--led-always-blink"]),
        ],
        None,
    ),
    (
        "IDLETIMER",
        &[one(&["--timeout"]), one(&["--label"]), flag(&["--alarm"])],
        None,
    ),
    (
        "RATEEST",
        &[
            one(&["--rateest-name"]),
            one(&["--rateest-interval"]),
            one(&["--rateest-ewmalog"]),
        ],
        None,
    ),
    (
        "HMARK",
        &[
            one(&["--hmark-tuple"]),
            one(&["--hmark-src-prefix"]),
            one(&["--hmark-dst-prefix"]),
            one(&["--hmark-sport-mask"]),
            one(&["--hmark-dport-mask"]),
            one(&["--hmark-spi-mask"]),
            one(&["--hmark-proto-mask"]),
            one(&["--hmark-rnd"]),
            one(&["--hmark-mod"]),
            one(&["--hmark-offset"]),
        ],
        None,
    ),
    (
        "DNPT",
        &[one(&["--src-pfx"]), one(&["--dst-pfx"])],
        Some(TableKind::Mangle),
    ),
    (
        "SNPT",
        &[one(&["--src-pfx"]), one(&["--dst-pfx"])],
        Some(TableKind::Mangle),
    ),
];

/// Conntrack helpers the kernel ships, with the protocols they attach to (a `CT --helper`
/// rule is refused by the kernel unless its `-p` is one of them).
const HELPERS: &[(&str, &[u8])] = &[
    ("amanda", &[17]),
    ("ftp", &[6]),
    ("irc", &[6]),
    ("netbios-ns", &[17]),
    ("pptp", &[6]),
    ("sane", &[6]),
    ("sip", &[6, 17]),
    ("snmp", &[17]),
    ("tftp", &[17]),
    ("RAS", &[17]),
    ("Q.931", &[6]),
];

/// `--set-dscp-class` names (RFC 2474/2597/3246).
fn dscp_class(name: &str) -> Option<u8> {
    let n = name.to_ascii_lowercase();
    match n.as_str() {
        "be" => return Some(0),
        "ef" => return Some(46),
        _ => {}
    }
    let digits: Vec<u8> = n.bytes().skip(2).map(|b| b.wrapping_sub(b'0')).collect();
    match (&n[..2.min(n.len())], digits.as_slice()) {
        ("cs", [c]) if *c <= 7 => Some(c << 3),
        ("af", [c, p]) if (1..=4).contains(c) && (1..=3).contains(p) => Some((c << 3) | (p << 1)),
        _ => None,
    }
}

/// `--set-tos` symbolic names (RFC 1349), which keep the precedence bits (mask 0x3f).
const TOS_NAMES: &[(&str, u8)] = &[
    ("Minimize-Delay", 0x10),
    ("Maximize-Throughput", 0x08),
    ("Maximize-Reliability", 0x04),
    ("Minimize-Cost", 0x02),
    ("Normal-Service", 0x00),
];

/// TCP option names of `--strip-options`.
const TCP_OPTIONS: &[(&str, u8)] = &[
    ("wscale", 3),
    ("mss", 2),
    ("sack-permitted", 4),
    ("sack", 5),
    ("timestamp", 8),
    ("md5", 19),
];

fn byte(text: &str, lo: u64, hi: u64) -> values::ValueResult<u8> {
    let n = values::number(text)?;
    if n < lo || n > hi {
        return Err(format!("must be {lo} to {hi}"));
    }
    Ok(n as u8)
}

fn addr(text: &str, family: Family) -> values::ValueResult<IpAddr> {
    let a: IpAddr = text.parse().map_err(|_| "not an address".to_string())?;
    values::check_family(a, family)?;
    Ok(a)
}

/// `ADDR[/LEN|/MASK]` as NETMAP and NPT read it: the network, host bits cleared.
fn network(text: &str, family: Family) -> values::ValueResult<rampart_prefix::Prefix> {
    let (a, len) = match text.split_once('/') {
        Some((a, m)) => {
            let width = if family == Family::Ipv4 { 32 } else { 128 };
            (a, values::mask_len(m, family)?.unwrap_or(width))
        }
        None => (text, if family == Family::Ipv4 { 32 } else { 128 }),
    };
    let a = addr(a, family)?;
    rampart_prefix::Prefix::new(a, len).ok_or_else(|| "prefix length too long".to_string())
}

/// A time of RATEEST in microseconds: a number with `s`, `ms` or `us` (seconds without).
fn rateest_time(text: &str) -> values::ValueResult<u64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let v: f64 = num.parse().map_err(|_| "not a time".to_string())?;
    let scale = match unit {
        "" | "s" | "sec" | "secs" => 1e6,
        "ms" | "msec" | "msecs" => 1e3,
        "us" | "usec" | "usecs" => 1.0,
        _ => return Err("units are s, ms or us".into()),
    };
    let us = v * scale;
    if !(0.0..=4e9).contains(&us) {
        return Err("out of range".into());
    }
    Ok(us as u64)
}

impl TargetDraft {
    /// The targets of this file; `None` for the others.
    pub(super) fn finish_more(&self, ctx: &RuleCtx<'_>) -> Option<Result<Target, ParseError>> {
        let r = match self.name.as_str() {
            "TCPMSS" => self.tcpmss(ctx),
            "TTL" => self.ttl(ctx, Family::Ipv4, "ttl"),
            "HL" => self.ttl(ctx, Family::Ipv6, "hl"),
            "DSCP" => self.dscp(ctx),
            "TOS" => self.tos(ctx),
            "CLASSIFY" => self.classify(ctx),
            "NETMAP" => self.netmap(ctx),
            "TPROXY" => self.tproxy(ctx),
            "SYNPROXY" => self.synproxy(ctx),
            "CHECKSUM" => match self.has("--checksum-fill") {
                true => Ok(Target::Checksum),
                false => Err(self.missing(ctx, "--checksum-fill")),
            },
            "AUDIT" => self.audit(ctx),
            "TEE" => self.tee(ctx),
            "NFQUEUE" => self.nfqueue(ctx),
            "CT" => self.ct(ctx),
            "NOTRACK" => Ok(Target::NotrackAlias),
            "TCPOPTSTRIP" => self.tcpoptstrip(ctx),
            "CONNSECMARK" => self.connsecmark(ctx),
            "SECMARK" => self.secmark(ctx),
            "IDLETIMER" => self.idletimer(ctx),
            "ECN" => self.ecn(ctx),
            "LED" => self.led(ctx),
            "RATEEST" => self.rateest(ctx),
            "HMARK" => self.hmark(ctx),
            "DNPT" | "SNPT" => self.npt(ctx),
            _ => return None,
        };
        Some(r)
    }

    fn only_family(&self, ctx: &RuleCtx<'_>, family: Family) -> Result<(), ParseError> {
        if ctx.family == family {
            return Ok(());
        }
        let other = if family == Family::Ipv4 {
            Family::Ipv6
        } else {
            Family::Ipv4
        };
        let hint = match self.name.as_str() {
            "TTL" => "ip6tables changes the hop limit with -j HL --hl-set/--hl-dec/--hl-inc",
            "HL" => "iptables changes the TTL with -j TTL --ttl-set/--ttl-dec/--ttl-inc",
            _ => "",
        };
        let err = ctx.error(
            &self.word,
            ErrorKind::UnknownTarget(format!(
                "{} (a {} target, not {})",
                self.name,
                family.command(),
                other.command()
            )),
        );
        Err(if hint.is_empty() {
            err
        } else {
            err.with_hint(hint)
        })
    }

    fn one_of(
        &self,
        ctx: &RuleCtx<'_>,
        keys: &[&str],
    ) -> Result<(&'static str, &Word, &Word), ParseError> {
        let given: Vec<_> = self
            .opts
            .iter()
            .filter(|(k, _, _)| keys.contains(k))
            .collect();
        match given.as_slice() {
            [] => Err(self.missing(ctx, &keys.join(" or "))),
            // A flag has no value: its own word stands in.
            [(k, o, a)] => Ok((k, o, a.first().unwrap_or(o))),
            [(_, first, _), (_, second, _), ..] => Err(ctx.error(
                second,
                ErrorKind::Conflict(second.text.clone(), first.text.clone()),
            )),
        }
    }

    fn tcp_only(&self, ctx: &RuleCtx<'_>) -> Result<(), ParseError> {
        let what = format!("-j {}", self.name);
        ctx.need_protocol(&self.word, &what, &[Protocol::TCP], "tcp")
    }

    fn tcpmss(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        self.tcp_only(ctx)?;
        // Both given: the last one written wins, as both fill the same field.
        let Some((key, opt, args)) = self
            .opts
            .iter()
            .rfind(|(k, _, _)| matches!(*k, "--set-mss" | "--clamp-mss-to-pmtu"))
        else {
            return Err(self.missing(ctx, "--set-mss or --clamp-mss-to-pmtu"));
        };
        let arg = args.first().unwrap_or(opt);
        let mss = match *key {
            "--set-mss" => {
                let max = if ctx.family == Family::Ipv4 {
                    65515
                } else {
                    65495
                };
                Some(ctx.value(opt, arg, |t| values::bounded(t, max).map(|v| v as u16))?)
            }
            _ => None,
        };
        Ok(Target::Tcpmss(TcpmssTarget { mss }))
    }

    fn ttl(&self, ctx: &RuleCtx<'_>, family: Family, field: &str) -> Result<Target, ParseError> {
        self.only_family(ctx, family)?;
        let keys = [
            format!("--{field}-set"),
            format!("--{field}-dec"),
            format!("--{field}-inc"),
        ];
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let (key, opt, arg) = self.one_of(ctx, &keys)?;
        let op = match &key[key.len() - 3..] {
            "set" => TtlChange::Set,
            "dec" => TtlChange::Dec,
            _ => TtlChange::Inc,
        };
        let lo = if op == TtlChange::Set { 0 } else { 1 };
        let value = ctx.value(opt, arg, |t| byte(t, lo, 255))?;
        let t = TtlTarget { op, value };
        Ok(if family == Family::Ipv4 {
            Target::Ttl(t)
        } else {
            Target::Hl(t)
        })
    }

    fn dscp(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let (key, opt, arg) = self.one_of(ctx, &["--set-dscp", "--set-dscp-class"])?;
        let dscp = if key == "--set-dscp" {
            ctx.value(opt, arg, |t| byte(t, 0, 63))?
        } else {
            ctx.value(opt, arg, |t| {
                dscp_class(t).ok_or_else(|| "not a DSCP class (af11-af43, cs0-cs7, be, ef)".into())
            })?
        };
        Ok(Target::Dscp(DscpTarget { dscp }))
    }

    fn tos(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let (key, opt, arg) =
            self.one_of(ctx, &["--set-tos", "--and-tos", "--or-tos", "--xor-tos"])?;
        let t = if key == "--set-tos" {
            ctx.value(opt, arg, |t| {
                if let Some((_, v)) = TOS_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(t)) {
                    return Ok(TosTarget {
                        value: *v,
                        mask: 0x3f,
                    });
                }
                let (v, m) = match t.split_once('/') {
                    Some((v, m)) => (v, Some(m)),
                    None => (t, None),
                };
                let value =
                    byte(v, 0, 255).map_err(|_| format!("`{t}` is not a TOS value or name"))?;
                let mask = m.map(|m| byte(m, 0, 255)).transpose()?.unwrap_or(0xff);
                Ok(TosTarget { value, mask })
            })?
        } else {
            let v = ctx.value(opt, arg, |t| byte(t, 0, 255))?;
            match key {
                "--and-tos" => TosTarget { value: 0, mask: !v },
                "--or-tos" => TosTarget { value: v, mask: v },
                _ => TosTarget { value: v, mask: 0 },
            }
        };
        Ok(Target::Tos(t))
    }

    fn classify(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let (_, opt, arg) = self.one_of(ctx, &["--set-class"])?;
        let c = ctx.value(opt, arg, |t| {
            let bad = || "write MAJOR:MINOR in hexadecimal (1:10)".to_string();
            let (a, b) = t.split_once(':').ok_or_else(bad)?;
            // Read as 32-bit numbers and cut to 16 bits, as TC_H_MAKE does.
            let hex = |s: &str| {
                u32::from_str_radix(s, 16)
                    .map(|v| v as u16)
                    .map_err(|_| bad())
            };
            Ok(ClassifyTarget {
                major: hex(a)?,
                minor: hex(b)?,
            })
        })?;
        Ok(Target::Classify(c))
    }

    fn netmap(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let (_, opt, arg) = self.one_of(ctx, &["--to"])?;
        let to = ctx.value(opt, arg, |t| network(t, ctx.family))?;
        Ok(Target::Netmap(NetmapTarget { to }))
    }

    fn tproxy(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let Some((opt, arg)) = self.get("--on-port") else {
            return Err(self.missing(ctx, "--on-port"));
        };
        let port = ctx.value(opt, arg, values::port)?;
        ctx.need_protocol(
            &self.word,
            "-j TPROXY",
            &[Protocol::TCP, Protocol::UDP],
            "tcp` or `-p udp",
        )?;
        let addr = match self.get("--on-ip") {
            Some((o, a)) => ctx.value(o, a, |t| addr(t, ctx.family))?,
            None if ctx.family == Family::Ipv4 => IpAddr::from([0u8; 4]),
            None => IpAddr::from([0u8; 16]),
        };
        let (mark, mask) = match self.get("--tproxy-mark") {
            Some((o, a)) => {
                let m = ctx.value(o, a, values::mark)?;
                (m.value, m.mask)
            }
            None => (0, 0),
        };
        Ok(Target::Tproxy(TproxyTarget {
            port,
            addr,
            mark,
            mask,
        }))
    }

    fn synproxy(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        self.tcp_only(ctx)?;
        let mss = self
            .get("--mss")
            .map(|(o, a)| ctx.value(o, a, |t| values::bounded(t, 65535).map(|v| v as u16)))
            .transpose()?;
        let wscale = self
            .get("--wscale")
            .map(|(o, a)| ctx.value(o, a, |t| byte(t, 0, 255)))
            .transpose()?;
        Ok(Target::Synproxy(SynproxyTarget {
            mss,
            wscale,
            sack_perm: self.has("--sack-perm"),
            timestamp: self.has("--timestamp"),
            ecn: self.has("--ecn"),
        }))
    }

    fn audit(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let (_, opt, arg) = self.one_of(ctx, &["--type"])?;
        let kind = ctx.value(opt, arg, |t| match t {
            "accept" => Ok(AuditType::Accept),
            "drop" => Ok(AuditType::Drop),
            "reject" => Ok(AuditType::Reject),
            _ => Err("an audit type is accept, drop or reject".into()),
        })?;
        Ok(Target::Audit(AuditTarget { kind }))
    }

    fn tee(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let (_, opt, arg) = self.one_of(ctx, &["--gateway"])?;
        let gateway = ctx.value(opt, arg, |t| addr(t, ctx.family))?;
        let oif = self
            .get("--oif")
            .map(|(o, a)| {
                ctx.value(o, a, |t| match t.len() {
                    1..=15 => Ok(t.to_string()),
                    _ => Err("interface names are 1 to 15 characters".into()),
                })
            })
            .transpose()?;
        Ok(Target::Tee(Box::new(TeeTarget { gateway, oif })))
    }

    fn nfqueue(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let mut q = NfqueueTarget {
            bypass: self.has("--queue-bypass"),
            cpu_fanout: self.has("--queue-cpu-fanout"),
            ..NfqueueTarget::default()
        };
        if let (Some((num, _)), Some((bal, _))) =
            (self.get("--queue-num"), self.get("--queue-balance"))
        {
            return Err(ctx.error(bal, ErrorKind::Conflict(bal.text.clone(), num.text.clone())));
        }
        if let Some((o, a)) = self.get("--queue-num") {
            q.first = ctx.value(o, a, |t| values::bounded(t, 65535).map(|v| v as u16))?;
            q.last = q.first;
        }
        if let Some((o, a)) = self.get("--queue-balance") {
            (q.first, q.last) = ctx.value(o, a, |t| {
                let (lo, hi) = t.split_once(':').ok_or("write FIRST:LAST")?;
                let n = |s: &str| values::bounded(s, 65535).map(|v| v as u16);
                let (lo, hi) = (n(lo)?, n(hi)?);
                if lo >= hi {
                    return Err(format!("{lo} should be less than {hi}"));
                }
                if u32::from(hi - lo) + 1 > 65535 {
                    return Err("at most 65535 queues".into());
                }
                Ok((lo, hi))
            })?;
        } else if q.cpu_fanout {
            return Err(self
                .missing(ctx, "--queue-balance")
                .with_hint("--queue-cpu-fanout spreads over the queues of --queue-balance"));
        }
        Ok(Target::Nfqueue(q))
    }

    fn ct(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let mut c = CtTarget {
            notrack: self.has("--notrack"),
            ..CtTarget::default()
        };
        if let Some((o, a)) = self.get("--helper").filter(|_| !c.notrack) {
            let known = HELPERS.iter().find(|(n, _)| *n == a.text);
            let Some((name, protos)) = known else {
                let names: Vec<&str> = HELPERS.iter().map(|(n, _)| *n).collect();
                return Err(ctx.bad(
                    o,
                    a,
                    format!("not a conntrack helper ({})", names.join(", ")),
                ));
            };
            let protos: Vec<Protocol> = protos.iter().map(|p| Protocol(*p)).collect();
            let needed = if protos.len() > 1 {
                "tcp` or `-p udp"
            } else if protos[0] == Protocol::TCP {
                "tcp"
            } else {
                "udp"
            };
            ctx.need_protocol(a, &format!("--helper {name}"), &protos, needed)?;
        }
        if let Some((o, a)) = self.get("--helper") {
            c.helper = Some(ctx.value(o, a, |t| match t.len() {
                1..=15 => Ok(t.to_string()),
                _ => Err("a helper name is 1 to 15 characters".into()),
            })?);
        }
        if let Some((o, a)) = self.get("--timeout") {
            c.timeout = Some(ctx.value(o, a, |t| match t.len() {
                1..=31 => Ok(t.to_string()),
                _ => Err("a timeout policy name is 1 to 31 characters".into()),
            })?);
        }
        let events = |key: &str, names: &[&str]| -> Result<u16, ParseError> {
            let Some((o, a)) = self.get(key) else {
                return Ok(0);
            };
            ctx.value(o, a, |t| {
                t.split(',').try_fold(0u16, |acc, e| {
                    names
                        .iter()
                        .position(|n| *n == e)
                        .map(|i| acc | (1 << i))
                        .ok_or_else(|| format!("unknown event type `{e}` ({})", names.join(", ")))
                })
            })
        };
        c.ctevents = events("--ctevents", &CT_EVENTS)?;
        c.expevents = events("--expevents", &["new"])? as u8;
        // As libxt_CT: --zone-orig and --zone-reply each add their direction (both given
        // is the same as neither); the last zone value wins.
        for (key, opt, args) in &self.opts {
            match *key {
                "--zone" => {}
                "--zone-orig" => c.zone_orig = true,
                "--zone-reply" => c.zone_reply = true,
                _ => continue,
            }
            let arg = &args[0];
            if arg.text == "mark" {
                c.zone_mark = true;
                c.zone = 0;
            } else {
                c.zone = ctx.value(opt, arg, |t| {
                    values::bounded(t, 65535)
                        .map(|v| v as u16)
                        .map_err(|_| format!("cannot parse {t} as a zone ID (0-65535 or mark)"))
                })?;
                c.zone_mark = false;
            }
        }
        let bare_notrack = CtTarget {
            notrack: true,
            ..CtTarget::default()
        };
        Ok(if c == bare_notrack {
            Target::Notrack
        } else {
            Target::Ct(Box::new(c))
        })
    }

    fn tcpoptstrip(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        self.tcp_only(ctx)?;
        let mut s = TcpoptstripTarget::default();
        if let Some((o, a)) = self.get("--strip-options") {
            for kind in ctx.value(o, a, |t| {
                t.split(',')
                    .map(|x| match TCP_OPTIONS.iter().find(|(n, _)| *n == x) {
                        Some((_, k)) => Ok(*k),
                        None => byte(x, 0, 255)
                            .map_err(|_| format!("unknown TCP option `{x}` (a number or wscale, mss, sack-permitted, sack, timestamp, md5)")),
                    })
                    .collect::<Result<Vec<u8>, String>>()
            })? {
                s.options[usize::from(kind / 32)] |= 1 << (kind % 32);
            }
        }
        Ok(Target::Tcpoptstrip(Box::new(s)))
    }

    fn selinux_tables(&self, ctx: &RuleCtx<'_>) -> Result<(), ParseError> {
        if matches!(ctx.table, TableKind::Mangle | TableKind::Security) {
            return Ok(());
        }
        Err(ctx
            .error(
                &self.word,
                ErrorKind::TargetNotAllowed {
                    target: self.name.clone(),
                    table: ctx.table.name().into(),
                    chain: ctx.chain.clone().unwrap_or_default(),
                },
            )
            .with_hint(format!(
                "{} works in the mangle and security tables",
                self.name
            )))
    }

    fn connsecmark(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        self.selinux_tables(ctx)?;
        let (key, _, _) = self.one_of(ctx, &["--save", "--restore"])?;
        Ok(Target::Connsecmark(ConnsecmarkTarget {
            save: key == "--save",
        }))
    }

    fn secmark(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        self.selinux_tables(ctx)?;
        let (_, opt, arg) = self.one_of(ctx, &["--selctx"])?;
        let selctx = ctx.value(opt, arg, |t| match t.len() {
            1..=255 => Ok(t.to_string()),
            _ => Err("a security context is 1 to 255 characters".into()),
        })?;
        Ok(Target::Secmark(Box::new(SecmarkTarget { selctx })))
    }

    /// `ECN`, option by option in order as libipt_ECN applies them: `--ecn-tcp-remove`
    /// replaces what came before it (so `--ecn-ip-ect 1 --ecn-tcp-remove` loses the IP
    /// part), and it excludes `--ecn-tcp-cwr`/`--ecn-tcp-ece`.
    fn ecn(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        self.only_family(ctx, Family::Ipv4)?;
        let remove = self.opts.iter().find(|(k, _, _)| *k == "--ecn-tcp-remove");
        if let Some((_, w, _)) = remove {
            for other in ["--ecn-tcp-cwr", "--ecn-tcp-ece"] {
                if self.has(other) {
                    return Err(ctx.error(
                        w,
                        ErrorKind::Conflict("--ecn-tcp-remove".into(), other.into()),
                    ));
                }
            }
        }
        let mut e = EcnTarget::default();
        for (key, opt, args) in &self.opts {
            let bit =
                |max: u64| ctx.value(opt, &args[0], |t| values::bounded(t, max).map(|v| v as u8));
            match *key {
                "--ecn-tcp-remove" => {
                    e = EcnTarget {
                        ece: Some(0),
                        cwr: Some(0),
                        ip_ect: None,
                    }
                }
                "--ecn-tcp-cwr" => e.cwr = Some(bit(1)?),
                "--ecn-tcp-ece" => e.ece = Some(bit(1)?),
                _ => e.ip_ect = Some(bit(3)?),
            }
        }
        if e == EcnTarget::default() {
            return Err(self.missing(
                ctx,
                "--ecn-tcp-remove, --ecn-tcp-cwr, --ecn-tcp-ece or --ecn-ip-ect",
            ));
        }
        if e.touches_tcp() {
            ctx.need_protocol(&self.word, "-j ECN on TCP flags", &[Protocol::TCP], "tcp")?;
        }
        Ok(Target::Ecn(e))
    }

    /// `LED`: the trigger id (at most 16 characters: the kernel's name is `netfilter-`
    /// and the id in 27 bytes), the delay (`inf` or a number, read as `strtoul` does),
    /// always-blink.
    fn led(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let Some((io, ia)) = self.get("--led-trigger-id") else {
            return Err(self.missing(ctx, "--led-trigger-id"));
        };
        let id = ctx.value(io, ia, |t| match t.len() {
            1..=16 => Ok(t.to_string()),
            _ => Err("a trigger id is 1 to 16 characters".into()),
        })?;
        let delay = match self.get("--led-delay") {
            Some((o, a)) => ctx.value(o, a, |t| {
                if t.len() >= 3 && t[..3].eq_ignore_ascii_case("inf") {
                    return Ok(u32::MAX);
                }
                // strtoul: a leading `-` wraps, the value is cut to 32 bits.
                let (neg, digits) = match t.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, t),
                };
                let n = values::number(digits)
                    .map_err(|_| "a delay is a number of milliseconds or inf".to_string())?;
                let n = if neg { n.wrapping_neg() } else { n };
                Ok(n as u32)
            })?,
            None => 0,
        };
        Ok(Target::Led(Box::new(LedTarget {
            id,
            delay,
            always_blink: self.has("--led-always-blink"),
        })))
    }

    fn idletimer(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let Some((to, ta)) = self.get("--timeout") else {
            return Err(self.missing(ctx, "--timeout"));
        };
        let Some((lo, la)) = self.get("--label") else {
            return Err(self.missing(ctx, "--label"));
        };
        let timeout = ctx.value(to, ta, values::u32_value)?;
        let label = ctx.value(lo, la, |t| match t.len() {
            1..=27 => Ok(t.to_string()),
            _ => Err("a label is 1 to 27 characters".into()),
        })?;
        Ok(Target::Idletimer(Box::new(IdletimerTarget {
            timeout,
            label,
            alarm: self.has("--alarm"),
        })))
    }

    fn rateest(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let mut got = Vec::new();
        for key in ["--rateest-name", "--rateest-interval", "--rateest-ewmalog"] {
            got.push(self.get(key).ok_or_else(|| self.missing(ctx, key))?);
        }
        let (no, na) = got[0];
        let name = ctx.value(no, na, |t| match t.len() {
            1..=15 => Ok(t.to_string()),
            _ => Err("a rate estimator name is 1 to 15 characters".into()),
        })?;
        let (io, ia) = got[1];
        let interval_us = ctx.value(io, ia, rateest_time)?;
        let (eo, ea) = got[2];
        let ewma_us = ctx.value(eo, ea, rateest_time)?;
        // libxt_RATEEST's final check: the interval is the smallest power-of-two multiple
        // of 250 ms not below the one written; the averaging constant is found likewise.
        let Some(code) = (0..=5).find(|i| interval_us <= (1u64 << i) * 250_000) else {
            return Err(ctx.bad(io, ia, "the interval is at most 8 s"));
        };
        let mut ewma_log = 1u8;
        while ewma_log < 32 {
            let w = 1.0 - 1.0 / f64::from(1u32 << ewma_log.min(31));
            if interval_us as f64 / -w.ln() > ewma_us as f64 {
                break;
            }
            ewma_log += 1;
        }
        ewma_log -= 1;
        if ewma_log == 0 || ewma_log >= 31 {
            return Err(ctx.bad(eo, ea, "ewmalog value is out of range"));
        }
        Ok(Target::Rateest(Box::new(RateestTarget {
            name,
            interval: code as i8 - 2,
            ewma_log,
        })))
    }

    fn hmark(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let width: u8 = if ctx.family == Family::Ipv4 { 32 } else { 128 };
        let mut h = HmarkTarget::default();
        for (key, opt, args) in &self.opts {
            let arg = &args[0];
            match *key {
                "--hmark-tuple" => {
                    for part in arg.text.split(',') {
                        match part {
                            "src" => h.src_prefix = Some(width),
                            "dst" => h.dst_prefix = Some(width),
                            "sport" => h.sport_mask = Some(0xffff),
                            "dport" => h.dport_mask = Some(0xffff),
                            "spi" => h.spi_mask = Some(u32::MAX),
                            "proto" => h.proto_mask = Some(0xffff),
                            "ct" => h.ct = true,
                            _ => {
                                return Err(ctx.bad(
                                    opt,
                                    arg,
                                    "tuple parts are src, dst, sport, dport, spi, proto and ct",
                                ))
                            }
                        }
                    }
                }
                "--hmark-src-prefix" | "--hmark-dst-prefix" => {
                    // libxt_HMARK reads up to 128 and the kernel's mask saturates.
                    let p = ctx.value(opt, arg, |t| byte(t, 0, 128))?.min(width);
                    if *key == "--hmark-src-prefix" {
                        h.src_prefix = Some(p);
                    } else {
                        h.dst_prefix = Some(p);
                    }
                }
                "--hmark-sport-mask" | "--hmark-dport-mask" | "--hmark-proto-mask" => {
                    let m =
                        ctx.value(opt, arg, |t| values::bounded(t, 0xffff).map(|v| v as u16))?;
                    match *key {
                        "--hmark-sport-mask" => h.sport_mask = Some(m),
                        "--hmark-dport-mask" => h.dport_mask = Some(m),
                        _ => h.proto_mask = Some(m),
                    }
                }
                "--hmark-spi-mask" => h.spi_mask = Some(ctx.value(opt, arg, values::u32_value)?),
                "--hmark-rnd" => h.rnd = ctx.value(opt, arg, values::u32_value)?,
                "--hmark-mod" => {
                    h.modulus = ctx.value(opt, arg, values::u32_value)?;
                    if h.modulus == 0 {
                        return Err(ctx.bad(opt, arg, "must be 1 to 4294967295"));
                    }
                }
                "--hmark-offset" => h.offset = Some(ctx.value(opt, arg, values::u32_value)?),
                _ => {}
            }
        }
        if !self.has("--hmark-rnd") {
            return Err(self.missing(ctx, "--hmark-rnd"));
        }
        if !self.has("--hmark-mod") {
            return Err(self.missing(ctx, "--hmark-mod"));
        }
        if h.spi_mask.is_some() && (h.sport_mask.is_some() || h.dport_mask.is_some()) {
            return Err(ctx.error(
                &self.word,
                ErrorKind::Conflict("--hmark-spi-mask".into(), "--hmark-?port-mask".into()),
            ));
        }
        let any = h.src_prefix.is_some()
            || h.dst_prefix.is_some()
            || h.sport_mask.is_some()
            || h.dport_mask.is_some()
            || h.spi_mask.is_some()
            || h.proto_mask.is_some();
        if !any {
            return Err(self.missing(ctx, "--hmark-tuple (or a prefix or mask)"));
        }
        Ok(Target::Hmark(Box::new(h)))
    }

    fn npt(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        self.only_family(ctx, Family::Ipv6)?;
        let mut got = Vec::new();
        for key in ["--src-pfx", "--dst-pfx"] {
            let (o, a) = self.get(key).ok_or_else(|| self.missing(ctx, key))?;
            let p = ctx.value(o, a, |t| network(t, Family::Ipv6))?;
            if p.len() > 64 {
                return Err(ctx.bad(o, a, "NPT translates prefixes of at most 64 bits"));
            }
            got.push(p);
        }
        if got[0].len() != got[1].len() {
            let (o, a) = self.get("--dst-pfx").expect("read above");
            return Err(ctx.bad(o, a, "both prefixes must have the same length"));
        }
        let n = Box::new(NptTarget {
            src: got[0],
            dst: got[1],
        });
        Ok(if self.name == "DNPT" {
            Target::Dnpt(n)
        } else {
            Target::Snpt(n)
        })
    }
}
