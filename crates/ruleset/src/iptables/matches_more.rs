//! The modules of issue 14 that rampart models: owner, pkttype, connmark, ttl, hl, dscp,
//! tos, time, string, statistic, helper, policy, rpfilter, physdev, tcpmss, sctp,
//! devgroup. Their option tables, how each option fills the model, and the checks
//! iptables and the kernel make once the rule is known (protocol, table, chain).
//!
//! Modules read and printed without a model are in [`super::opaque`].

use crate::error::{ErrorKind, ParseError};
use crate::lex::Word;
use crate::model::{
    ChunkMatch, DevgroupMatch, Family, Interface, IpsecMode, Match, Neg, NumRange, OwnerMatch,
    PhysdevMatch, PktType, PolicyDir, PolicyElem, PolicyMatch, PortRange, Protocol, RpfilterMatch,
    SctpChunk, SctpChunks, SctpMatch, StatisticMatch, StatisticMode, StringAlgo, StringMatch,
    TableKind, TimeMatch, TosValue, TtlMatch, TtlOp,
};

use super::values::{self, ValueResult};
use super::{OptSpec, RuleCtx};

const fn opt(names: &'static [&'static str], args: usize, negatable: bool) -> OptSpec {
    OptSpec {
        names,
        args,
        negatable,
    }
}

const OWNER: &[OptSpec] = &[
    opt(&["--uid-owner"], 1, true),
    opt(&["--gid-owner"], 1, true),
    opt(&["--socket-exists"], 0, true),
    opt(&["--suppl-groups"], 0, false),
];
const PKTTYPE: &[OptSpec] = &[opt(&["--pkt-type"], 1, true)];
const CONNMARK: &[OptSpec] = &[opt(&["--mark"], 1, true)];
const TTL: &[OptSpec] = &[
    opt(&["--ttl-eq", "--ttl"], 1, true),
    opt(&["--ttl-lt"], 1, false),
    opt(&["--ttl-gt"], 1, false),
];
const HL: &[OptSpec] = &[
    opt(&["--hl-eq"], 1, true),
    opt(&["--hl-lt"], 1, false),
    opt(&["--hl-gt"], 1, false),
];
const DSCP: &[OptSpec] = &[opt(&["--dscp"], 1, true), opt(&["--dscp-class"], 1, true)];
const TOS: &[OptSpec] = &[opt(&["--tos"], 1, true)];
const TIME: &[OptSpec] = &[
    opt(&["--datestart"], 1, false),
    opt(&["--datestop"], 1, false),
    opt(&["--timestart"], 1, false),
    opt(&["--timestop"], 1, false),
    opt(&["--monthdays"], 1, true),
    opt(&["--weekdays"], 1, true),
    opt(&["--kerneltz", "--localtz"], 0, false),
    opt(&["--utc"], 0, false),
    opt(&["--contiguous"], 0, false),
];
const STRING: &[OptSpec] = &[
    opt(&["--string"], 1, true),
    opt(&["--hex-string"], 1, true),
    opt(&["--algo"], 1, false),
    opt(&["--from"], 1, false),
    opt(&["--to"], 1, false),
    opt(&["--icase"], 0, false),
];
const STATISTIC: &[OptSpec] = &[
    opt(&["--mode"], 1, false),
    opt(&["--probability"], 1, true),
    opt(&["--every"], 1, true),
    opt(&["--packet"], 1, false),
];
const HELPER: &[OptSpec] = &[opt(&["--helper"], 1, true)];
const POLICY: &[OptSpec] = &[
    opt(&["--dir"], 1, false),
    opt(&["--pol"], 1, false),
    opt(&["--strict"], 0, false),
    opt(&["--reqid"], 1, true),
    opt(&["--spi"], 1, true),
    opt(&["--proto"], 1, true),
    opt(&["--mode"], 1, true),
    opt(&["--tunnel-src"], 1, true),
    opt(&["--tunnel-dst"], 1, true),
    opt(&["--next"], 0, false),
];
const RPFILTER: &[OptSpec] = &[
    opt(&["--loose"], 0, false),
    opt(&["--validmark"], 0, false),
    opt(&["--accept-local"], 0, false),
    opt(&["--invert"], 0, false),
];
const PHYSDEV: &[OptSpec] = &[
    opt(&["--physdev-in"], 1, true),
    opt(&["--physdev-out"], 1, true),
    opt(&["--physdev-is-in"], 0, true),
    opt(&["--physdev-is-out"], 0, true),
    opt(&["--physdev-is-bridged"], 0, true),
];
const TCPMSS: &[OptSpec] = &[opt(&["--mss"], 1, true)];
const SCTP: &[OptSpec] = &[
    opt(&["--sport", "--source-port"], 1, true),
    opt(&["--dport", "--destination-port"], 1, true),
    opt(&["--chunk-types"], 2, true),
];
const DEVGROUP: &[OptSpec] = &[
    opt(&["--src-group"], 1, true),
    opt(&["--dst-group"], 1, true),
];

/// The modelled modules with their option tables.
pub(super) const MODULES: &[(&str, &[OptSpec])] = &[
    ("owner", OWNER),
    ("pkttype", PKTTYPE),
    ("connmark", CONNMARK),
    ("ttl", TTL),
    ("hl", HL),
    ("dscp", DSCP),
    ("tos", TOS),
    ("time", TIME),
    ("string", STRING),
    ("statistic", STATISTIC),
    ("helper", HELPER),
    ("policy", POLICY),
    ("rpfilter", RPFILTER),
    ("physdev", PHYSDEV),
    ("tcpmss", TCPMSS),
    ("sctp", SCTP),
    ("devgroup", DEVGROUP),
];

/// A modelled module being filled.
#[derive(Debug)]
pub(super) enum Draft {
    Owner(OwnerMatch),
    Pkttype(Option<Neg<PktType>>),
    Connmark(Option<Neg<crate::model::MarkValue>>),
    Ttl(Option<TtlMatch>),
    Hl(Option<TtlMatch>),
    Dscp(Option<Neg<u8>>),
    Tos(Option<Neg<TosValue>>),
    Time(Box<TimeMatch>),
    String(Box<StringDraft>),
    Statistic(StatisticDraft),
    Helper(Option<Neg<String>>),
    Policy(Box<PolicyDraft>),
    Rpfilter(RpfilterMatch),
    Physdev(PhysdevMatch),
    Tcpmss(Option<Neg<PortRange>>),
    Sctp(SctpMatch),
    Devgroup(DevgroupMatch),
}

#[derive(Debug, Default)]
pub(super) struct StringDraft {
    pattern: Option<(Vec<u8>, bool)>,
    algo: Option<StringAlgo>,
    from: Option<u16>,
    to: Option<u16>,
    icase: bool,
}

#[derive(Debug, Default)]
pub(super) struct StatisticDraft {
    mode: Option<bool>,
    probability: Option<(u32, bool)>,
    every: Option<(u32, bool)>,
    packet: Option<u32>,
}

#[derive(Debug, Default)]
pub(super) struct PolicyDraft {
    dir: Option<PolicyDir>,
    ipsec: Option<bool>,
    strict: bool,
    elems: Vec<PolicyElem>,
    /// Element options seen since the last `--next`.
    elem_seen: Vec<&'static str>,
}

impl Draft {
    /// A fresh draft for a modelled module name, `None` for others or the wrong family.
    pub fn new(name: &str, family: Family) -> Option<Draft> {
        Some(match (name, family) {
            ("owner", _) => Draft::Owner(OwnerMatch::default()),
            ("pkttype", _) => Draft::Pkttype(None),
            ("connmark", _) => Draft::Connmark(None),
            ("ttl", Family::Ipv4) => Draft::Ttl(None),
            ("hl", Family::Ipv6) => Draft::Hl(None),
            ("dscp", _) => Draft::Dscp(None),
            ("tos", _) => Draft::Tos(None),
            ("time", _) => Draft::Time(Box::new(TimeMatch::any())),
            ("string", _) => Draft::String(Box::default()),
            ("statistic", _) => Draft::Statistic(StatisticDraft::default()),
            ("helper", _) => Draft::Helper(None),
            ("policy", _) => Draft::Policy(Box::default()),
            ("rpfilter", _) => Draft::Rpfilter(RpfilterMatch::default()),
            ("physdev", _) => Draft::Physdev(PhysdevMatch::default()),
            ("tcpmss", _) => Draft::Tcpmss(None),
            ("sctp", _) => Draft::Sctp(SctpMatch::default()),
            ("devgroup", _) => Draft::Devgroup(DevgroupMatch::default()),
            _ => return None,
        })
    }

    /// Whether the module checks repeated options itself (policy's per-element options).
    pub fn tracks_repeats(&self) -> bool {
        matches!(self, Draft::Policy(_))
    }

    /// Takes one option (see `Module::set`); `seen` holds the keys given before.
    pub fn set(
        &mut self,
        ctx: &RuleCtx<'_>,
        key: &'static str,
        opt: &Word,
        args: &[Word],
        negated: bool,
        seen: &[&'static str],
    ) -> Result<(), ParseError> {
        let arg = || &args[0];
        let conflict = |other: &str| {
            Err(ctx.error(
                opt,
                ErrorKind::Conflict(opt.text.clone(), other.to_string()),
            ))
        };
        match self {
            Draft::Owner(o) => match key {
                "--uid-owner" => o.uid = Some(wrap(negated, ctx.value(opt, arg(), id_range)?)),
                "--gid-owner" => o.gid = Some(wrap(negated, ctx.value(opt, arg(), id_range)?)),
                "--socket-exists" => o.socket_exists = Some(negated),
                _ => o.suppl_groups = true,
            },
            Draft::Pkttype(p) => *p = Some(wrap(negated, ctx.value(opt, arg(), pkt_type)?)),
            Draft::Connmark(m) => *m = Some(wrap(negated, ctx.value(opt, arg(), values::mark)?)),
            Draft::Ttl(t) | Draft::Hl(t) => {
                if let Some(first) = seen.first() {
                    return conflict(first);
                }
                let value = ctx.value(opt, arg(), |t| values::bounded(t, 255).map(|n| n as u8))?;
                let op = match (key.rsplit('-').next(), negated) {
                    (Some("eq"), false) => TtlOp::Eq,
                    (Some("eq"), true) => TtlOp::Ne,
                    (Some("lt"), _) => TtlOp::Lt,
                    _ => TtlOp::Gt,
                };
                *t = Some(TtlMatch { op, value });
            }
            Draft::Dscp(d) => {
                if let Some(first) = seen.first() {
                    return conflict(first);
                }
                let v = if key == "--dscp" {
                    ctx.value(opt, arg(), |t| match values::bounded(t, 63) {
                        Ok(n) => Ok(n as u8),
                        Err(_) => Err("a DSCP is 0 to 63 (0x3f)".to_string()),
                    })?
                } else {
                    ctx.value(opt, arg(), dscp_class)?
                };
                *d = Some(wrap(negated, v));
            }
            Draft::Tos(t) => *t = Some(wrap(negated, ctx.value(opt, arg(), tos_value)?)),
            Draft::Time(t) => match key {
                "--datestart" => t.date_start = ctx.value(opt, arg(), date)?,
                "--datestop" => t.date_stop = ctx.value(opt, arg(), date)?,
                "--timestart" => t.daytime_start = ctx.value(opt, arg(), daytime)?,
                "--timestop" => t.daytime_stop = ctx.value(opt, arg(), daytime)?,
                "--monthdays" => {
                    let days = ctx.value(opt, arg(), monthdays)?;
                    t.monthdays = if negated {
                        !days & crate::model::TimeMatch::ALL_MONTHDAYS
                    } else {
                        days
                    };
                }
                "--weekdays" => {
                    let days = ctx.value(opt, arg(), weekdays)?;
                    t.weekdays = if negated {
                        !days & crate::model::TimeMatch::ALL_WEEKDAYS
                    } else {
                        days
                    };
                }
                "--kerneltz" => {
                    if seen.contains(&"--utc") {
                        return conflict("--utc");
                    }
                    t.kernel_tz = true
                }
                "--utc" => {
                    if seen.contains(&"--kerneltz") {
                        return conflict("--kerneltz");
                    }
                }
                _ => t.contiguous = true,
            },
            Draft::String(s) => match key {
                "--string" | "--hex-string" => {
                    if s.pattern.is_some() {
                        return conflict("--string/--hex-string");
                    }
                    let bytes = if key == "--string" {
                        arg().text.as_bytes().to_vec()
                    } else {
                        ctx.value(opt, arg(), hex_string)?
                    };
                    if bytes.is_empty() || bytes.len() > StringMatch::MAX_PATTERN {
                        return Err(ctx.bad(opt, arg(), "a pattern is 1 to 128 bytes"));
                    }
                    s.pattern = Some((bytes, negated));
                }
                "--algo" => {
                    s.algo = Some(match arg().text.as_str() {
                        "bm" => StringAlgo::Bm,
                        "kmp" => StringAlgo::Kmp,
                        _ => return Err(ctx.bad(opt, arg(), "the algorithms are bm and kmp")),
                    })
                }
                "--from" => s.from = Some(ctx.value(opt, arg(), u16_value)?),
                "--to" => s.to = Some(ctx.value(opt, arg(), u16_value)?),
                _ => s.icase = true,
            },
            Draft::Statistic(s) => match key {
                "--mode" => {
                    s.mode = Some(match arg().text.as_str() {
                        "random" => true,
                        "nth" => false,
                        _ => return Err(ctx.bad(opt, arg(), "the modes are random and nth")),
                    })
                }
                "--probability" => {
                    s.probability = Some((ctx.value(opt, arg(), probability)?, negated))
                }
                "--every" => {
                    let n = ctx.value(opt, arg(), values::u32_value)?;
                    if n == 0 {
                        return Err(ctx.bad(opt, arg(), "--every is at least 1"));
                    }
                    s.every = Some((n, negated));
                }
                _ => s.packet = Some(ctx.value(opt, arg(), values::u32_value)?),
            },
            Draft::Helper(h) => {
                if arg().text.len() > 29 {
                    return Err(ctx.bad(opt, arg(), "helper names are at most 29 characters"));
                }
                *h = Some(wrap(negated, arg().text.clone()));
            }
            Draft::Policy(p) => p.set(ctx, key, opt, args, negated)?,
            Draft::Rpfilter(r) => match key {
                "--loose" => r.loose = true,
                "--validmark" => r.validmark = true,
                "--accept-local" => r.accept_local = true,
                _ => r.invert = true,
            },
            Draft::Physdev(p) => match key {
                "--physdev-in" | "--physdev-out" => {
                    if arg().text.len() > 15 {
                        return Err(ctx.bad(
                            opt,
                            arg(),
                            "interface names are at most 15 characters",
                        ));
                    }
                    let v = Some(wrap(negated, Interface(arg().text.clone())));
                    if key == "--physdev-in" {
                        p.physdev_in = v;
                    } else {
                        p.physdev_out = v;
                    }
                }
                "--physdev-is-in" => p.is_in = Some(negated),
                "--physdev-is-out" => p.is_out = Some(negated),
                _ => p.is_bridged = Some(negated),
            },
            Draft::Tcpmss(m) => {
                let range = ctx.value(opt, arg(), |t| {
                    let n = |x: &str| values::bounded(x, 65535).map(|n| n as u16);
                    let (lo, hi) = match t.split_once(':') {
                        Some((a, b)) => (n(a)?, n(b)?),
                        None => (n(t)?, n(t)?),
                    };
                    if lo > hi {
                        return Err("invalid range: the start is after the end".to_string());
                    }
                    Ok(PortRange { lo, hi })
                })?;
                *m = Some(wrap(negated, range));
            }
            Draft::Sctp(s) => match key {
                "--sport" | "--dport" => {
                    let r = Some(wrap(
                        negated,
                        ctx.value(opt, arg(), |t| values::port_range(t, ':'))?,
                    ));
                    if key == "--sport" {
                        s.sport = r;
                    } else {
                        s.dport = r;
                    }
                }
                _ => {
                    let how = match args[0].text.as_str() {
                        "any" => ChunkMatch::Any,
                        "all" => ChunkMatch::All,
                        "only" => ChunkMatch::Only,
                        _ => return Err(ctx.bad(opt, &args[0], "write any, all or only")),
                    };
                    let chunks = ctx.value(opt, &args[1], sctp_chunks)?;
                    s.chunks = Some(wrap(negated, SctpChunks { how, chunks }));
                }
            },
            Draft::Devgroup(d) => {
                let v = Some(wrap(negated, ctx.value(opt, arg(), values::mark)?));
                if key == "--src-group" {
                    d.src = v;
                } else {
                    d.dst = v;
                }
            }
        }
        Ok(())
    }

    /// The finished match with the checks iptables and the kernel make on the whole rule.
    pub fn finish(self, ctx: &RuleCtx<'_>, word: &Word, name: &str) -> Result<Match, ParseError> {
        let missing = |what: &str| {
            Err(ctx
                .error(word, ErrorKind::MissingValue(format!("-m {name} {what}")))
                .with_hint(format!("-m {name} needs {what}")))
        };
        let invalid = |what: String, hint: &str| {
            Err(ctx
                .error(word, ErrorKind::Structure(format!("-m {name}: {what}")))
                .with_hint(hint.to_string()))
        };
        Ok(match self {
            Draft::Owner(o) => {
                ctx.only_in_chains(word, "-m owner", &["OUTPUT", "POSTROUTING"])?;
                if o.uid.is_none() && o.gid.is_none() && o.socket_exists.is_none() {
                    return missing("--uid-owner, --gid-owner or --socket-exists");
                }
                if o.suppl_groups && o.gid.is_none() {
                    return invalid(
                        "--suppl-groups without --gid-owner".into(),
                        "add --gid-owner GID",
                    );
                }
                Match::Owner(o)
            }
            Draft::Pkttype(Some(p)) => Match::Pkttype(p),
            Draft::Pkttype(None) => return missing("--pkt-type"),
            Draft::Connmark(Some(m)) => Match::Connmark(m),
            Draft::Connmark(None) => return missing("--mark"),
            Draft::Ttl(Some(t)) => Match::Ttl(t),
            Draft::Ttl(None) => return missing("--ttl-eq, --ttl-lt or --ttl-gt"),
            Draft::Hl(Some(t)) => Match::Hl(t),
            Draft::Hl(None) => return missing("--hl-eq, --hl-lt or --hl-gt"),
            Draft::Dscp(Some(d)) => Match::Dscp(d),
            Draft::Dscp(None) => return missing("--dscp or --dscp-class"),
            Draft::Tos(Some(t)) => Match::Tos(t),
            Draft::Tos(None) => return missing("--tos"),
            Draft::Time(t) => {
                if t.contiguous && t.daytime_start < t.daytime_stop {
                    return invalid(
                        "--contiguous with --timestart before --timestop".into(),
                        "--contiguous is for windows that cross midnight",
                    );
                }
                Match::Time(*t)
            }
            Draft::String(s) => {
                let Some((pattern, negated)) = s.pattern else {
                    return missing("--string or --hex-string");
                };
                let Some(algo) = s.algo else {
                    return missing("--algo");
                };
                let (from, to) = (s.from.unwrap_or(0), s.to.unwrap_or(u16::MAX));
                if from > to {
                    return invalid(format!("--from {from} is after --to {to}"), "swap them");
                }
                Match::String(StringMatch {
                    pattern,
                    negated,
                    algo,
                    from,
                    to,
                    icase: s.icase,
                })
            }
            Draft::Statistic(s) => {
                let Some(random) = s.mode else {
                    return missing("--mode");
                };
                let (mode, negated) = if random {
                    if s.every.is_some() || s.packet.is_some() {
                        return invalid(
                            "--every and --packet belong to --mode nth".into(),
                            "use --probability with --mode random",
                        );
                    }
                    let Some((probability, negated)) = s.probability else {
                        return missing("--probability");
                    };
                    (StatisticMode::Random { probability }, negated)
                } else {
                    if s.probability.is_some() {
                        return invalid(
                            "--probability belongs to --mode random".into(),
                            "use --every and --packet with --mode nth",
                        );
                    }
                    let Some((every, negated)) = s.every else {
                        return missing("--every");
                    };
                    let Some(packet) = s.packet else {
                        return missing("--packet");
                    };
                    if packet >= every {
                        return invalid(
                            format!("--packet {packet} is not below --every {every}"),
                            "packets are counted from 0 to --every minus 1",
                        );
                    }
                    (StatisticMode::Nth { every, packet }, negated)
                };
                Match::Statistic(StatisticMatch { mode, negated })
            }
            Draft::Helper(Some(h)) => Match::Helper(h),
            Draft::Helper(None) => return missing("--helper"),
            Draft::Policy(p) => {
                let Some(dir) = p.dir else {
                    return missing("--dir");
                };
                // Without --pol the kernel's flags say ipsec.
                let ipsec = p.ipsec.unwrap_or(true);
                let chains: &[&str] = match dir {
                    PolicyDir::In => &["PREROUTING", "INPUT", "FORWARD"],
                    PolicyDir::Out => &["FORWARD", "OUTPUT", "POSTROUTING"],
                };
                ctx.only_in_chains(word, "-m policy --dir", chains)?;
                let mut elems = p.elems;
                if elems.last() == Some(&PolicyElem::default()) {
                    if elems.len() > 1 {
                        return invalid("--next with nothing after it".into(), "remove --next");
                    }
                    elems.pop();
                }
                if !ipsec && (p.strict || !elems.is_empty()) {
                    return invalid(
                        "--pol none takes no --strict or element options".into(),
                        "use --pol ipsec",
                    );
                }
                if elems.len() > 1 && !p.strict {
                    return invalid("--next without --strict".into(), "add --strict");
                }
                if p.strict && elems.is_empty() {
                    return invalid(
                        "--strict without elements".into(),
                        "add --proto, --mode ...",
                    );
                }
                if elems.len() > 4 {
                    return invalid("more than 4 elements".into(), "the kernel holds at most 4");
                }
                for e in &elems {
                    let tunnel = e
                        .mode
                        .as_ref()
                        .is_some_and(|m| (m.value == IpsecMode::Tunnel) != m.negated);
                    if (e.tunnel_src.is_some() || e.tunnel_dst.is_some()) && !tunnel {
                        return invalid(
                            "--tunnel-src/--tunnel-dst outside tunnel mode".into(),
                            "add --mode tunnel",
                        );
                    }
                }
                Match::Policy(PolicyMatch {
                    dir,
                    ipsec,
                    strict: p.strict,
                    elems,
                })
            }
            Draft::Rpfilter(r) => {
                if !matches!(ctx.table, TableKind::Raw | TableKind::Mangle) {
                    return invalid(
                        format!("not allowed in the {} table", ctx.table.name()),
                        "rpfilter works in PREROUTING of the raw and mangle tables: add `-t raw`",
                    );
                }
                ctx.only_in_chains(word, "-m rpfilter", &["PREROUTING"])?;
                Match::Rpfilter(r)
            }
            Draft::Physdev(p) => {
                if p == PhysdevMatch::default() {
                    return missing("--physdev-in, --physdev-out or --physdev-is-*");
                }
                let outward = p.physdev_out.is_some() || p.is_out.is_some();
                if outward && p.is_bridged != Some(false) {
                    ctx.only_in_chains(
                        word,
                        "--physdev-out without --physdev-is-bridged",
                        &["PREROUTING", "INPUT", "FORWARD", "POSTROUTING"],
                    )?;
                }
                Match::Physdev(Box::new(p))
            }
            Draft::Tcpmss(m) => {
                ctx.need_protocol(word, "-m tcpmss", &[Protocol::TCP], "tcp")?;
                match m {
                    Some(m) => Match::Tcpmss(m),
                    None => return missing("--mss"),
                }
            }
            Draft::Sctp(s) => {
                ctx.need_protocol(word, "-m sctp", &[Protocol(132)], "sctp")?;
                Match::Sctp(Box::new(s))
            }
            Draft::Devgroup(d) => {
                if d.src.is_none() && d.dst.is_none() {
                    return missing("--src-group or --dst-group");
                }
                if d.src.is_some() {
                    ctx.only_in_chains(word, "--src-group", &["PREROUTING", "INPUT", "FORWARD"])?;
                }
                if d.dst.is_some() {
                    ctx.only_in_chains(word, "--dst-group", &["FORWARD", "OUTPUT", "POSTROUTING"])?;
                }
                Match::Devgroup(d)
            }
        })
    }
}

impl PolicyDraft {
    fn set(
        &mut self,
        ctx: &RuleCtx<'_>,
        key: &'static str,
        opt: &Word,
        args: &[Word],
        negated: bool,
    ) -> Result<(), ParseError> {
        let dup = || Err(ctx.error(opt, ErrorKind::Duplicate(opt.text.clone())));
        match key {
            "--dir" => {
                if self.dir.is_some() {
                    return dup();
                }
                self.dir = Some(match args[0].text.as_str() {
                    "in" => PolicyDir::In,
                    "out" => PolicyDir::Out,
                    _ => return Err(ctx.bad(opt, &args[0], "write in or out")),
                });
                return Ok(());
            }
            "--pol" => {
                if self.ipsec.is_some() {
                    return dup();
                }
                self.ipsec = Some(match args[0].text.as_str() {
                    "ipsec" => true,
                    "none" => false,
                    _ => return Err(ctx.bad(opt, &args[0], "write ipsec or none")),
                });
                return Ok(());
            }
            "--strict" => {
                if self.strict {
                    return dup();
                }
                self.strict = true;
                return Ok(());
            }
            "--next" => {
                if self.elems.is_empty() || self.elems.last() == Some(&PolicyElem::default()) {
                    return Err(ctx
                        .error(
                            opt,
                            ErrorKind::Structure("--next before any element".into()),
                        )
                        .with_hint("--next separates elements: give element options first"));
                }
                self.elems.push(PolicyElem::default());
                self.elem_seen.clear();
                return Ok(());
            }
            _ => {}
        }
        if self.elem_seen.contains(&key) {
            return dup();
        }
        self.elem_seen.push(key);
        if self.elems.is_empty() {
            self.elems.push(PolicyElem::default());
        }
        let family = ctx.family;
        let e = self.elems.last_mut().expect("an element exists");
        let arg = &args[0];
        match key {
            "--reqid" => e.reqid = Some(wrap(negated, ctx.value(opt, arg, values::u32_value)?)),
            "--spi" => e.spi = Some(wrap(negated, ctx.value(opt, arg, values::u32_value)?)),
            "--proto" => {
                let p = ctx.value(opt, arg, |t| match Protocol::from_name(t) {
                    Some(p) if matches!(p.0, 50 | 51 | 108) => Ok(p.0),
                    _ => Err("the protocols are ah, esp and ipcomp".to_string()),
                })?;
                e.proto = Some(wrap(negated, p));
            }
            "--mode" => {
                let m = match arg.text.as_str() {
                    "transport" => IpsecMode::Transport,
                    "tunnel" => IpsecMode::Tunnel,
                    _ => return Err(ctx.bad(opt, arg, "write transport or tunnel")),
                };
                e.mode = Some(wrap(negated, m));
            }
            "--tunnel-src" => {
                e.tunnel_src = Some(wrap(
                    negated,
                    ctx.value(opt, arg, |t| values::prefix(t, family))?,
                ))
            }
            _ => {
                e.tunnel_dst = Some(wrap(
                    negated,
                    ctx.value(opt, arg, |t| values::prefix(t, family))?,
                ))
            }
        }
        Ok(())
    }
}

fn wrap<T>(negated: bool, value: T) -> Neg<T> {
    Neg { negated, value }
}

/// A user or group id or an id range `a-b`; names are refused (they depend on the
/// machine's user database; iptables-save prints numbers).
fn id_range(text: &str) -> ValueResult<NumRange> {
    let num = |t: &str| {
        if t == "root" {
            return Ok(0);
        }
        if !t.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "`{t}` is a name: write the numeric id (`id -u {t}`), as iptables-save prints it"
            ));
        }
        t.parse::<u32>()
            .map_err(|_| "ids are numbers up to 4294967295".to_string())
    };
    let numeric = |t: &str| t.starts_with(|c: char| c.is_ascii_digit());
    let (lo, hi) = match text.split_once('-') {
        Some((a, b)) if numeric(a) && numeric(b) => (num(a)?, num(b)?),
        _ => (num(text)?, num(text)?),
    };
    if lo > hi {
        return Err("range start is after its end".into());
    }
    Ok(NumRange { lo, hi })
}

fn pkt_type(text: &str) -> ValueResult<PktType> {
    PktType::from_name(text).ok_or_else(|| {
        "packet types are unicast, broadcast, multicast, otherhost, outgoing, loopback".into()
    })
}

/// The DSCP classes `--dscp-class` knows (RFC 2474, 2597, 3246).
const DSCP_CLASSES: &[(&str, u8)] = &[
    ("CS0", 0),
    ("CS1", 8),
    ("CS2", 16),
    ("CS3", 24),
    ("CS4", 32),
    ("CS5", 40),
    ("CS6", 48),
    ("CS7", 56),
    ("BE", 0),
    ("AF11", 10),
    ("AF12", 12),
    ("AF13", 14),
    ("AF21", 18),
    ("AF22", 20),
    ("AF23", 22),
    ("AF31", 26),
    ("AF32", 28),
    ("AF33", 30),
    ("AF41", 34),
    ("AF42", 36),
    ("AF43", 38),
    ("EF", 46),
];

fn dscp_class(text: &str) -> ValueResult<u8> {
    DSCP_CLASSES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(text))
        .map(|(_, v)| *v)
        .ok_or_else(|| "classes are BE, CS0-CS7, AF11-AF43 and EF".into())
}

/// The TOS names of RFC 1349, which compare under the mask 0x3f.
const TOS_NAMES: &[(&str, u8)] = &[
    ("Minimize-Delay", 0x10),
    ("Maximize-Throughput", 0x08),
    ("Maximize-Reliability", 0x04),
    ("Minimize-Cost", 0x02),
    ("Normal-Service", 0x00),
];

fn tos_value(text: &str) -> ValueResult<TosValue> {
    if let Some((_, v)) = TOS_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(text)) {
        return Ok(TosValue {
            value: *v,
            mask: 0x3f,
        });
    }
    let byte = |t: &str| {
        values::bounded(t, 255)
            .map(|n| n as u8)
            .map_err(|_| "a TOS is a number 0-255, value/mask, or an RFC 1349 name".to_string())
    };
    Ok(match text.split_once('/') {
        Some((v, m)) => TosValue {
            value: byte(v)?,
            mask: byte(m)?,
        },
        None => TosValue {
            value: byte(text)?,
            mask: 0xff,
        },
    })
}

fn u16_value(text: &str) -> ValueResult<u16> {
    values::bounded(text, 65535).map(|n| n as u16)
}

/// `hh:mm[:ss]` as seconds since midnight.
fn daytime(text: &str) -> ValueResult<u32> {
    let bad = || "a time of day is hh:mm or hh:mm:ss".to_string();
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    let mut n = [0u32; 3];
    for (slot, p) in n.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        *slot = p.parse().map_err(|_| bad())?;
    }
    if n[0] > 23 || n[1] > 59 || n[2] > 59 {
        return Err(bad());
    }
    Ok(n[0] * 3600 + n[1] * 60 + n[2])
}

/// `YYYY[-MM[-DD[Thh[:mm[:ss]]]]]` in UTC, as libxt_time reads it, as seconds since the
/// epoch (the kernel keeps 32 bits; dates from 1970 to 2038).
fn date(text: &str) -> ValueResult<u32> {
    let bad = || "a date is YYYY[-MM[-DD[Thh[:mm[:ss]]]]] between 1970 and 2038".to_string();
    let (day, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let num = |t: &str, max: u32| -> ValueResult<u32> {
        if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse::<u32>().ok().filter(|n| *n <= max).ok_or_else(bad)
    };
    let d: Vec<&str> = day.split('-').collect();
    if d.len() > 3 {
        return Err(bad());
    }
    let year = num(d[0], 9999)?;
    let month = d.get(1).map_or(Ok(1), |m| num(m, 12))?;
    let mday = d.get(2).map_or(Ok(1), |m| num(m, 31))?;
    if !(1970..=2038).contains(&year) || month == 0 || mday == 0 {
        return Err(bad());
    }
    let mut secs = 0;
    if let Some(t) = time {
        let p: Vec<&str> = t.split(':').collect();
        if p.len() > 3 {
            return Err(bad());
        }
        secs = num(p[0], 23)? * 3600
            + p.get(1).map_or(Ok(0), |m| num(m, 59))? * 60
            + p.get(2).map_or(Ok(0), |s| num(s, 59))?;
    }
    let days = crate::model::days_from_civil(i64::from(year), month, mday);
    let total = days * 86_400 + i64::from(secs);
    u32::try_from(total)
        .ok()
        .filter(|t| *t <= i32::MAX as u32)
        .ok_or_else(bad)
}

fn monthdays(text: &str) -> ValueResult<u32> {
    let mut bits = 0u32;
    for part in text.split(',') {
        let n: u32 = part
            .parse()
            .ok()
            .filter(|n| (1..=31).contains(n))
            .ok_or_else(|| format!("`{part}` is not a day of the month (1-31)"))?;
        bits |= 1 << n;
    }
    Ok(bits)
}

/// Day names as libxt_time prints them, Monday first (bit 1).
pub(crate) const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn weekdays(text: &str) -> ValueResult<u8> {
    let mut bits = 0u8;
    for part in text.split(',') {
        let n = match part.parse::<u8>() {
            Ok(n) if (1..=7).contains(&n) => n,
            _ => WEEKDAYS
                .iter()
                .position(|d| d.eq_ignore_ascii_case(part))
                .map(|i| i as u8 + 1)
                .ok_or_else(|| format!("`{part}` is not a weekday (Mon-Sun or 1-7)"))?,
        };
        bits |= 1 << n;
    }
    Ok(bits)
}

/// `--hex-string`: text with `|hex bytes|` sections (spaces allowed between the bytes).
fn hex_string(text: &str) -> ValueResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut hex = false;
    let mut digits = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (hex, c) {
            (_, '|') => {
                if hex && !digits.is_empty() {
                    return Err("odd number of hex digits".into());
                }
                hex = !hex;
            }
            (true, ' ') => {}
            (true, c) if c.is_ascii_hexdigit() => {
                digits.push(c);
                if digits.len() == 2 {
                    out.push(u8::from_str_radix(&digits, 16).expect("two hex digits"));
                    digits.clear();
                }
            }
            (true, _) => return Err(format!("`{c}` is not a hex digit")),
            (false, '\\') => {
                let next = chars.next().ok_or("`\\` at the end")?;
                let mut buf = [0; 4];
                out.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
            }
            (false, c) => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    if hex {
        return Err("a `|` section is not closed".into());
    }
    Ok(out)
}

/// `--probability P`, 0 to 1, as the kernel's 31-bit threshold (libxt_statistic rounds
/// P × 2³¹ to the nearest integer).
fn probability(text: &str) -> ValueResult<u32> {
    let p: f64 = text
        .parse()
        .ok()
        .filter(|p: &f64| (0.0..=1.0).contains(p))
        .ok_or("a probability is a number from 0 to 1")?;
    Ok((p * f64::from(0x8000_0000u32)).round() as u32)
}

/// SCTP chunk names in libxt_sctp's table, with the flag letters each allows (bit 7 first).
pub(crate) const SCTP_CHUNKS: &[(&str, u8, &str)] = &[
    ("DATA", 0, "----IUBE"),
    ("INIT", 1, "--------"),
    ("INIT_ACK", 2, "--------"),
    ("SACK", 3, "--------"),
    ("HEARTBEAT", 4, "--------"),
    ("HEARTBEAT_ACK", 5, "--------"),
    ("ABORT", 6, "-------T"),
    ("SHUTDOWN", 7, "--------"),
    ("SHUTDOWN_ACK", 8, "--------"),
    ("ERROR", 9, "--------"),
    ("COOKIE_ECHO", 10, "--------"),
    ("COOKIE_ACK", 11, "--------"),
    ("ECN_ECNE", 12, "--------"),
    ("ECN_CWR", 13, "--------"),
    ("SHUTDOWN_COMPLETE", 14, "-------T"),
    ("I_DATA", 64, "----IUBE"),
    ("RE_CONFIG", 130, "--------"),
    ("PAD", 132, "--------"),
    ("ASCONF", 193, "--------"),
    ("ASCONF_ACK", 128, "--------"),
    ("FORWARD_TSN", 192, "--------"),
    ("I_FORWARD_TSN", 194, "--------"),
];

fn sctp_chunks(text: &str) -> ValueResult<Vec<SctpChunk>> {
    let mut out: Vec<SctpChunk> = Vec::new();
    for part in text.split(',') {
        let (name, flags) = match part.split_once(':') {
            Some((n, f)) => (n, f),
            None => (part, ""),
        };
        if name.eq_ignore_ascii_case("ALL") || name.eq_ignore_ascii_case("NONE") {
            return Err("rampart reads chunk names, not ALL or NONE: list the chunks".into());
        }
        let (_, ty, valid) = SCTP_CHUNKS
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("`{name}` is not an SCTP chunk type"))?;
        let mut cond = Vec::new();
        for f in flags.chars() {
            let bit = valid
                .char_indices()
                .find(|(_, v)| *v != '-' && v.eq_ignore_ascii_case(&f))
                .map(|(i, _)| 7 - i as u8)
                .ok_or_else(|| format!("`{f}` is not a flag of {name}"))?;
            cond.retain(|(b, _)| *b != bit);
            cond.push((bit, f.is_ascii_uppercase()));
        }
        cond.sort_by_key(|(b, _)| std::cmp::Reverse(*b));
        match out.iter_mut().find(|c| c.ty == *ty) {
            Some(c) => c.flags = cond,
            None => out.push(SctpChunk {
                ty: *ty,
                flags: cond,
            }),
        }
    }
    out.sort_by_key(|c| c.ty);
    Ok(out)
}
