//! `-m` modules: their option tables and how each option fills the model.
//!
//! Each module is a [`Module`] state that receives options one by one (already looked up
//! in its [`OptSpec`] table, so arity, negation and duplicates are checked generically) and
//! at the end of the rule becomes one [`Match`] with iptables' defaults filled in.

use crate::error::{ErrorKind, ParseError};
use crate::lex::Word;
use crate::model::{
    AddrtypeMatch, ByteRate, ConnlimitMatch, ConntrackMatch, CtDir, CtStatus, Family, HashlimitKey,
    HashlimitLimit, HashlimitMatch, IcmpType, IprangeMatch, LengthRange, LimitMatch, LimitMode,
    MacAddr, Match, MultiportMatch, Neg, NumRange, PortRange, PortSide, Protocol, Rate, RateUnit,
    RecentCommand, RecentMatch, SetDir, SetMatch, TcpFlagsMatch, TcpMatch, UdpMatch,
};

use super::values;
use super::{OptSpec, RuleCtx};

const fn opt(names: &'static [&'static str], args: usize, negatable: bool) -> OptSpec {
    OptSpec {
        names,
        args,
        negatable,
    }
}

const TCP: &[OptSpec] = &[
    opt(&["--sport", "--source-port"], 1, true),
    opt(&["--dport", "--destination-port"], 1, true),
    opt(&["--syn"], 0, true),
    opt(&["--tcp-flags"], 2, true),
];
const UDP: &[OptSpec] = &[
    opt(&["--sport", "--source-port"], 1, true),
    opt(&["--dport", "--destination-port"], 1, true),
];
const ICMP: &[OptSpec] = &[opt(&["--icmp-type"], 1, true)];
const ICMP6: &[OptSpec] = &[opt(&["--icmpv6-type"], 1, true)];
const MULTIPORT: &[OptSpec] = &[
    opt(&["--sports", "--source-ports"], 1, true),
    opt(&["--dports", "--destination-ports"], 1, true),
    opt(&["--ports"], 1, true),
];
const STATE: &[OptSpec] = &[opt(&["--state"], 1, true)];
const CONNTRACK: &[OptSpec] = &[
    opt(&["--ctstate"], 1, true),
    opt(&["--ctproto"], 1, true),
    opt(&["--ctorigsrc"], 1, true),
    opt(&["--ctorigdst"], 1, true),
    opt(&["--ctreplsrc"], 1, true),
    opt(&["--ctrepldst"], 1, true),
    opt(&["--ctorigsrcport"], 1, true),
    opt(&["--ctorigdstport"], 1, true),
    opt(&["--ctreplsrcport"], 1, true),
    opt(&["--ctrepldstport"], 1, true),
    opt(&["--ctstatus"], 1, true),
    opt(&["--ctexpire"], 1, true),
    opt(&["--ctdir"], 1, false),
];
const LIMIT: &[OptSpec] = &[
    opt(&["--limit"], 1, false),
    opt(&["--limit-burst"], 1, false),
];
const HASHLIMIT: &[OptSpec] = &[
    // `!` flips the mode (libxt_hashlimit): `! --hashlimit-upto` is `--hashlimit-above`.
    opt(&["--hashlimit-upto", "--hashlimit"], 1, true),
    opt(&["--hashlimit-above"], 1, true),
    opt(&["--hashlimit-burst"], 1, false),
    opt(&["--hashlimit-mode"], 1, false),
    opt(&["--hashlimit-name"], 1, false),
    opt(&["--hashlimit-srcmask"], 1, false),
    opt(&["--hashlimit-dstmask"], 1, false),
    opt(&["--hashlimit-htable-max"], 1, false),
    opt(&["--hashlimit-htable-expire"], 1, false),
    opt(&["--hashlimit-htable-size"], 1, false),
    opt(&["--hashlimit-htable-gcinterval"], 1, false),
    opt(&["--hashlimit-rate-match"], 0, false),
    opt(&["--hashlimit-rate-interval"], 1, false),
];
const CONNLIMIT: &[OptSpec] = &[
    opt(&["--connlimit-upto"], 1, false),
    opt(&["--connlimit-above"], 1, false),
    opt(&["--connlimit-mask"], 1, false),
    opt(&["--connlimit-saddr"], 0, false),
    opt(&["--connlimit-daddr"], 0, false),
];
const RECENT: &[OptSpec] = &[
    opt(&["--name"], 1, false),
    opt(&["--set"], 0, true),
    opt(&["--rcheck"], 0, true),
    opt(&["--update"], 0, true),
    opt(&["--remove"], 0, true),
    opt(&["--seconds"], 1, false),
    opt(&["--hitcount"], 1, false),
    opt(&["--rttl"], 0, false),
    opt(&["--reap"], 0, false),
    opt(&["--rsource"], 0, false),
    opt(&["--rdest"], 0, false),
    opt(&["--mask"], 1, false),
];
const COMMENT: &[OptSpec] = &[opt(&["--comment"], 1, false)];
const SET: &[OptSpec] = &[opt(&["--match-set"], 2, true)];
const IPRANGE: &[OptSpec] = &[
    opt(&["--src-range"], 1, true),
    opt(&["--dst-range"], 1, true),
];
const MAC: &[OptSpec] = &[opt(&["--mac-source"], 1, true)];
const LENGTH: &[OptSpec] = &[opt(&["--length"], 1, true)];
const ADDRTYPE: &[OptSpec] = &[
    opt(&["--src-type"], 1, true),
    opt(&["--dst-type"], 1, true),
    opt(&["--limit-iface-in"], 0, false),
    opt(&["--limit-iface-out"], 0, false),
];
const MARK: &[OptSpec] = &[opt(&["--mark"], 1, true)];

/// Supported modules with their option tables; the order is the one shown in hints.
pub(super) const MODULES: &[(&str, &[OptSpec])] = &[
    ("tcp", TCP),
    ("udp", UDP),
    ("icmp", ICMP),
    ("icmp6", ICMP6),
    ("multiport", MULTIPORT),
    ("state", STATE),
    ("conntrack", CONNTRACK),
    ("limit", LIMIT),
    ("hashlimit", HASHLIMIT),
    ("connlimit", CONNLIMIT),
    ("recent", RECENT),
    ("comment", COMMENT),
    ("set", SET),
    ("iprange", IPRANGE),
    ("mac", MAC),
    ("length", LENGTH),
    ("addrtype", ADDRTYPE),
    ("mark", MARK),
];

/// Every module with its option table: the original ones, the modelled ones of
/// [`super::matches_more`], then the opaque ones of [`super::opaque`].
pub(super) fn all_modules() -> impl Iterator<Item = (&'static str, &'static [OptSpec])> {
    MODULES
        .iter()
        .chain(super::matches_more::MODULES)
        .copied()
        .chain(super::opaque::MODULES.iter().map(|m| (m.name, m.specs)))
}

/// The family whose iptables alone has match module `name` (`icmp6`, `hl`, `rt`: IPv6;
/// `icmp`, `ttl`: IPv4), `None` when both or neither have it.
pub(crate) fn module_family(name: &str) -> Option<Family> {
    let exists = |family| {
        let word = Word {
            text: name.to_string(),
            span: crate::Span::default(),
        };
        Module::new(name, word, family).is_some()
    };
    match (exists(Family::Ipv4), exists(Family::Ipv6)) {
        (true, false) => Some(Family::Ipv4),
        (false, true) => Some(Family::Ipv6),
        _ => None,
    }
}

/// The option table of a module name.
pub(super) fn specs(name: &str) -> Option<&'static [OptSpec]> {
    all_modules().find(|(n, _)| *n == name).map(|(_, s)| s)
}

/// A module being filled while its rule is read.
#[derive(Debug)]
pub(super) struct Module {
    /// Canonical module name (a key of [`MODULES`]).
    pub name: &'static str,
    /// The `-m NAME` word (or the option that loaded it implicitly), for errors.
    pub word: Word,
    /// Option keys given so far (first name of each spec), to refuse duplicates.
    pub seen: Vec<&'static str>,
    state: State,
}

#[derive(Debug)]
enum State {
    Tcp(TcpMatch),
    Udp(UdpMatch),
    Icmp(Option<Neg<IcmpType>>),
    Icmp6(Option<Neg<IcmpType>>),
    Multiport(Option<MultiportMatch>),
    Ctstate(Option<Neg<crate::model::CtStates>>),
    Conntrack(ConntrackMatch),
    Limit(Option<Rate>, Option<u32>),
    Hashlimit(Box<HashlimitDraft>),
    Connlimit(Option<(LimitMode, u32)>, Option<u8>, bool),
    Recent(Box<RecentDraft>),
    Comment(Option<String>),
    Set(Option<SetMatch>),
    Iprange(IprangeMatch),
    Mac(Option<Neg<MacAddr>>),
    Length(Option<Neg<LengthRange>>),
    Addrtype(AddrtypeMatch),
    Mark(Option<Neg<crate::model::MarkValue>>),
    More(super::matches_more::Draft),
    Opaque(super::opaque::Draft),
}

#[derive(Debug, Default)]
struct HashlimitDraft {
    name: Option<String>,
    limit: Option<(LimitMode, values::HashlimitRate)>,
    burst: Option<(u64, bool)>,
    key: HashlimitKey,
    src_mask: Option<u8>,
    dst_mask: Option<u8>,
    expire_ms: Option<u32>,
    max: Option<u32>,
    size: Option<u32>,
    gc_interval_ms: Option<u32>,
    rate_match: bool,
    interval: Option<u32>,
}

/// The kernel's cap on `--hashlimit-htable-size` and `--hashlimit-htable-max`
/// (`HASHLIMIT_MAX_SIZE`): larger values are cut to it.
const HASHLIMIT_MAX_SIZE: u32 = 1_048_576;

impl HashlimitDraft {
    /// The rule's hashlimit as libxt_hashlimit's final check and then the kernel's leave
    /// it (defaults filled in, the byte burst in multiples of the rate, the rate of
    /// `--hashlimit-rate-match` per second), or why either refuses it.
    fn finish(
        self,
        mode: LimitMode,
        written: values::HashlimitRate,
    ) -> Result<HashlimitMatch, (String, String, String)> {
        let bad = |option: &str, value: String, reason: &str| {
            Err((option.to_string(), value, reason.to_string()))
        };
        let name = self.name.unwrap_or_default();
        let mut expire = self.expire_ms;
        let (limit, unit_secs) = match written {
            values::HashlimitRate::Bytes { cost } => {
                let mut units = 0;
                if let Some((bytes, _)) = self.burst {
                    let per = ByteRate::bytes_of(cost);
                    if bytes < per {
                        return bad(
                            "--hashlimit-burst",
                            bytes.to_string(),
                            &format!(
                                "burst cannot be smaller than {per}b (one second of the rate)"
                            ),
                        );
                    }
                    // libxt_hashlimit keeps the burst in 32 bits before dividing.
                    units = ((bytes as u32) as u64 / per) as u32 + u32::from(bytes % per != 0);
                    expire = expire.or(Some(60_000));
                }
                (HashlimitLimit::Bytes(ByteRate { cost, burst: units }), 15)
            }
            values::HashlimitRate::Packets { period, unit_secs } => {
                let burst = self.burst.map_or(5, |(b, _)| b);
                if burst > 1_000_000 {
                    return bad(
                        "--hashlimit-burst",
                        burst.to_string(),
                        "a packet burst is between 1 and 1000000",
                    );
                }
                let burst = burst as u32;
                let period = if self.rate_match {
                    period / u64::from(unit_secs)
                } else {
                    period
                };
                if self.rate_match && (period == 0 || period > u64::from(u32::MAX)) {
                    return bad(
                        "--hashlimit-upto",
                        String::new(),
                        "out of the kernel's range for --hashlimit-rate-match",
                    );
                }
                if !self.rate_match && !HashlimitMatch::period_fits(period, burst) {
                    return bad(
                        "--hashlimit-burst",
                        burst.to_string(),
                        "rate × burst overflows the kernel's token counter",
                    );
                }
                let rate = values::hashlimit_printed_rate(period);
                (HashlimitLimit::Packets { rate, burst }, unit_secs)
            }
        };
        let expire = expire.unwrap_or(unit_secs * 1000);
        let rate_match = self.rate_match.then(|| {
            self.interval.unwrap_or(match limit {
                HashlimitLimit::Bytes(_) => 1,
                HashlimitLimit::Packets { .. } => unit_secs,
            })
        });
        Ok(HashlimitMatch {
            name,
            mode,
            expire_ms: (expire != limit.default_expire_ms()).then_some(expire),
            limit,
            key: self.key,
            src_mask: self.src_mask,
            dst_mask: self.dst_mask,
            max: self.max,
            size: self.size,
            gc_interval_ms: self.gc_interval_ms,
            rate_match,
        })
    }
}

#[derive(Debug, Default)]
struct RecentDraft {
    name: Option<String>,
    command: Option<(RecentCommand, bool)>,
    seconds: Option<u32>,
    hitcount: Option<u32>,
    rttl: bool,
    reap: bool,
    rdest: Option<bool>,
    mask: Option<u8>,
}

impl Module {
    /// A fresh module for a name iptables accepts after `-m`; `None` when unsupported.
    pub fn new(name: &str, word: Word, family: Family) -> Option<Module> {
        let state = match (name, family) {
            ("tcp", _) => State::Tcp(TcpMatch::default()),
            ("udp", _) => State::Udp(UdpMatch::default()),
            ("icmp", Family::Ipv4) => State::Icmp(None),
            ("icmp6", Family::Ipv6) => State::Icmp6(None),
            ("multiport", _) => State::Multiport(None),
            ("state", _) => State::Ctstate(None),
            ("conntrack", _) => State::Conntrack(ConntrackMatch::default()),
            ("limit", _) => State::Limit(None, None),
            ("hashlimit", _) => State::Hashlimit(Box::default()),
            ("connlimit", _) => State::Connlimit(None, None, false),
            ("recent", _) => State::Recent(Box::default()),
            ("comment", _) => State::Comment(None),
            ("set", _) => State::Set(None),
            ("iprange", _) => State::Iprange(IprangeMatch {
                src: None,
                dst: None,
            }),
            ("mac", _) => State::Mac(None),
            ("length", _) => State::Length(None),
            ("addrtype", _) => State::Addrtype(AddrtypeMatch::default()),
            ("mark", _) => State::Mark(None),
            _ => match super::matches_more::Draft::new(name, family) {
                Some(d) => State::More(d),
                None => State::Opaque(super::opaque::Draft::new(name, family)?),
            },
        };
        let name = all_modules().find(|(n, _)| *n == name)?.0;
        Some(Module {
            name,
            word,
            seen: Vec::new(),
            state,
        })
    }

    /// This module's option table.
    pub fn specs(&self) -> &'static [OptSpec] {
        specs(self.name).expect("modules are created from MODULES")
    }

    /// Takes one option: `key` is the spec's first name, `opt` the word as written,
    /// `args` its values.
    pub fn set(
        &mut self,
        ctx: &RuleCtx<'_>,
        key: &'static str,
        opt: &Word,
        args: &[Word],
        negated: bool,
    ) -> Result<(), ParseError> {
        let arg = || &args[0];
        let family = ctx.family;
        match &mut self.state {
            State::Tcp(m) => match key {
                "--sport" => {
                    m.sport = port_match(
                        negated,
                        ctx.value(opt, arg(), |t| values::port_range(t, ':'))?,
                    )
                }
                "--dport" => {
                    m.dport = port_match(
                        negated,
                        ctx.value(opt, arg(), |t| values::port_range(t, ':'))?,
                    )
                }
                _ => {
                    if m.flags.is_some() {
                        return Err(ctx.error(
                            opt,
                            ErrorKind::Conflict("--syn".into(), "--tcp-flags".into()),
                        ));
                    }
                    let flags = if key == "--syn" {
                        TcpFlagsMatch::SYN
                    } else {
                        TcpFlagsMatch {
                            mask: ctx.value(opt, &args[0], values::tcp_flags)?,
                            comp: ctx.value(opt, &args[1], values::tcp_flags)?,
                        }
                    };
                    // An empty mask examines nothing: the kernel keeps no condition.
                    m.flags = (negated || flags.mask.0 != 0).then(|| wrap(negated, flags));
                }
            },
            State::Udp(m) => {
                // libxt_udp 1.8.9 loads a reversed range (`60000:29`), which never matches;
                // the loader warns about it (tcp refuses one).
                let range = port_match(
                    negated,
                    ctx.value(opt, arg(), values::port_range_any_order)?,
                );
                match key {
                    "--sport" => m.sport = range,
                    _ => m.dport = range,
                }
            }
            State::Icmp(t) | State::Icmp6(t) => {
                *t = Some(wrap(
                    negated,
                    ctx.value(opt, arg(), |t| values::icmp_type(t, family))?,
                ))
            }
            State::Multiport(m) => {
                if let Some(first) = self.seen.first() {
                    return Err(
                        ctx.error(opt, ErrorKind::Conflict(opt.text.clone(), (*first).into()))
                    );
                }
                let side = match key {
                    "--sports" => PortSide::Source,
                    "--dports" => PortSide::Destination,
                    _ => PortSide::Either,
                };
                *m = Some(MultiportMatch {
                    side,
                    ports: wrap(negated, ctx.value(opt, arg(), values::port_list)?),
                });
            }
            State::Ctstate(s) => {
                *s = Some(wrap(
                    negated,
                    ctx.value(opt, arg(), |t| values::ct_states(t, false))?,
                ))
            }
            State::Conntrack(m) => match key {
                "--ctstate" => {
                    m.state = Some(wrap(
                        negated,
                        ctx.value(opt, arg(), |t| values::ct_states(t, true))?,
                    ))
                }
                "--ctproto" => {
                    let p = ctx.value(opt, arg(), values::protocol)?;
                    let p =
                        p.ok_or_else(|| ctx.bad(opt, arg(), "a protocol is needed (not all)"))?;
                    m.proto = Some(wrap(negated, p));
                }
                "--ctorigsrc" | "--ctorigdst" | "--ctreplsrc" | "--ctrepldst" => {
                    let p = Some(wrap(
                        negated,
                        ctx.value(opt, arg(), |t| values::prefix(t, family))?,
                    ));
                    match key {
                        "--ctorigsrc" => m.orig_src = p,
                        "--ctorigdst" => m.orig_dst = p,
                        "--ctreplsrc" => m.more.get_or_insert_with(Default::default).repl_src = p,
                        _ => m.more.get_or_insert_with(Default::default).repl_dst = p,
                    }
                }
                "--ctorigsrcport" | "--ctorigdstport" | "--ctreplsrcport" | "--ctrepldstport" => {
                    let p = Some(wrap(
                        negated,
                        ctx.value(opt, arg(), |t| values::port_range(t, ':'))?,
                    ));
                    let more = m.more.get_or_insert_with(Default::default);
                    match key {
                        "--ctorigsrcport" => more.orig_src_port = p,
                        "--ctorigdstport" => more.orig_dst_port = p,
                        "--ctreplsrcport" => more.repl_src_port = p,
                        _ => more.repl_dst_port = p,
                    }
                }
                "--ctstatus" => {
                    m.more.get_or_insert_with(Default::default).status =
                        Some(wrap(negated, ctx.value(opt, arg(), ct_status)?))
                }
                "--ctexpire" => {
                    m.more.get_or_insert_with(Default::default).expire =
                        Some(wrap(negated, ctx.value(opt, arg(), ct_expire)?))
                }
                _ => {
                    m.more.get_or_insert_with(Default::default).dir =
                        Some(match arg().text.as_str() {
                            "ORIGINAL" => CtDir::Original,
                            "REPLY" => CtDir::Reply,
                            _ => return Err(ctx.bad(opt, arg(), "write ORIGINAL or REPLY")),
                        })
                }
            },
            State::Limit(rate, burst) => match key {
                "--limit" => *rate = Some(ctx.value(opt, arg(), values::rate)?),
                _ => *burst = Some(ctx.value(opt, arg(), burst_value)?),
            },
            State::Hashlimit(h) => h.set(ctx, key, negated, opt, args.first())?,
            State::Connlimit(limit, mask, daddr) => match key {
                "--connlimit-upto" | "--connlimit-above" => {
                    if limit.is_some() {
                        return Err(ctx.error(
                            opt,
                            ErrorKind::Conflict(
                                "--connlimit-upto".into(),
                                "--connlimit-above".into(),
                            ),
                        ));
                    }
                    let mode = if key == "--connlimit-upto" {
                        LimitMode::Upto
                    } else {
                        LimitMode::Above
                    };
                    *limit = Some((mode, ctx.value(opt, arg(), values::u32_value)?));
                }
                "--connlimit-mask" => {
                    *mask = ctx.value(opt, arg(), |t| values::mask_len(t, family))?
                }
                _ => {
                    let other = if key == "--connlimit-saddr" {
                        "--connlimit-daddr"
                    } else {
                        "--connlimit-saddr"
                    };
                    if self.seen.contains(&other) {
                        return Err(
                            ctx.error(opt, ErrorKind::Conflict(opt.text.clone(), other.into()))
                        );
                    }
                    *daddr = key == "--connlimit-daddr";
                }
            },
            State::Recent(r) => r.set(ctx, key, opt, args, negated)?,
            State::Comment(c) => {
                let text = arg().text.clone();
                if text.len() > 255 {
                    return Err(ctx.bad(opt, arg(), "comments are at most 255 characters"));
                }
                *c = Some(text);
            }
            State::Set(s) => {
                let dirs = ctx.value(opt, &args[1], set_dirs)?;
                *s = Some(SetMatch {
                    name: arg().text.clone(),
                    dirs,
                    negated,
                });
            }
            State::Iprange(m) => {
                let range = Some(wrap(
                    negated,
                    ctx.value(opt, arg(), |t| values::addr_range(t, family))?,
                ));
                match key {
                    "--src-range" => m.src = range,
                    _ => m.dst = range,
                }
            }
            State::Mac(m) => *m = Some(wrap(negated, ctx.value(opt, arg(), mac)?)),
            State::Length(l) => *l = Some(wrap(negated, ctx.value(opt, arg(), length)?)),
            State::Addrtype(a) => match key {
                "--src-type" => {
                    a.src = Some(wrap(negated, ctx.value(opt, arg(), values::addr_types)?))
                }
                "--dst-type" => {
                    a.dst = Some(wrap(negated, ctx.value(opt, arg(), values::addr_types)?))
                }
                _ => {
                    let other = if key == "--limit-iface-in" {
                        "--limit-iface-out"
                    } else {
                        "--limit-iface-in"
                    };
                    if self.seen.contains(&other) {
                        return Err(
                            ctx.error(opt, ErrorKind::Conflict(opt.text.clone(), other.into()))
                        );
                    }
                    a.limit_iface_in = key == "--limit-iface-in";
                    a.limit_iface_out = key == "--limit-iface-out";
                }
            },
            State::Mark(m) => *m = Some(wrap(negated, ctx.value(opt, arg(), values::mark)?)),
            State::More(d) => d.set(ctx, key, opt, args, negated, &self.seen)?,
            State::Opaque(d) => d.set(ctx, key, opt, args, negated)?,
        }
        Ok(())
    }

    /// The finished match, with defaults filled in and the checks iptables makes once the
    /// whole rule is known (required options, protocol, chain).
    pub fn finish(self, ctx: &RuleCtx<'_>) -> Result<Match, ParseError> {
        let missing = |what: &str| {
            Err(ctx
                .error(
                    &self.word,
                    ErrorKind::MissingValue(format!("-m {} {what}", self.name)),
                )
                .with_hint(format!("-m {} needs {what}", self.name)))
        };
        let m = match self.state {
            State::Tcp(m) => {
                ctx.need_protocol(&self.word, "-m tcp", &[Protocol::TCP], "tcp")?;
                Match::Tcp(m)
            }
            State::Udp(m) => {
                ctx.need_protocol(&self.word, "-m udp", &[Protocol::UDP], "udp")?;
                Match::Udp(m)
            }
            State::Icmp(t) => {
                ctx.need_protocol(&self.word, "-m icmp", &[Protocol::ICMP], "icmp")?;
                match t {
                    Some(t) => Match::Icmp(t),
                    None => return missing("--icmp-type"),
                }
            }
            State::Icmp6(t) => {
                ctx.need_protocol(&self.word, "-m icmp6", &[Protocol::ICMPV6], "icmpv6")?;
                match t {
                    Some(t) => Match::Icmp6(t),
                    None => return missing("--icmpv6-type"),
                }
            }
            State::Multiport(m) => {
                let ported = [6, 17, 136, 132, 33].map(Protocol);
                ctx.need_protocol(&self.word, "-m multiport", &ported, "tcp` or `-p udp")?;
                match m {
                    Some(m) => Match::Multiport(m),
                    None => return missing("--dports, --sports or --ports"),
                }
            }
            State::Ctstate(Some(s)) => Match::State(s),
            State::Ctstate(None) => return missing("--state"),
            State::Conntrack(m) if m == ConntrackMatch::default() => {
                return missing("--ctstate, --ctproto, --ctstatus, --ctexpire, --ctdir or an address or port option")
            }
            State::Conntrack(m) => Match::Conntrack(m),
            State::Limit(rate, burst) => Match::Limit(LimitMatch {
                rate: rate.unwrap_or(Rate {
                    count: 3,
                    unit: RateUnit::Hour,
                }),
                burst: burst.unwrap_or(5),
                negated: false,
            }),
            State::Hashlimit(h) => {
                let Some((mode, written)) = h.limit else {
                    return missing("--hashlimit-upto or --hashlimit-above");
                };
                if h.name.is_none() {
                    return missing("--hashlimit-name");
                }
                match h.finish(mode, written) {
                    Ok(m) => Match::Hashlimit(Box::new(m)),
                    Err((option, value, reason)) => {
                        return Err(ctx
                            .error(&self.word, ErrorKind::BadValue { option, value, reason })
                            .with_hint("see `iptables -m hashlimit --help`"))
                    }
                }
            }
            State::Connlimit(limit, mask, by_destination) => {
                let Some((mode, count)) = limit else {
                    return missing("--connlimit-upto or --connlimit-above");
                };
                Match::Connlimit(ConnlimitMatch {
                    mode,
                    count,
                    mask,
                    by_destination,
                })
            }
            State::Recent(r) => {
                let Some((command, negated)) = r.command else {
                    return missing("--set, --rcheck, --update or --remove");
                };
                if r.rttl && command == RecentCommand::Set {
                    return Err(ctx
                        .error(
                            &self.word,
                            ErrorKind::Conflict("--rttl".into(), "--set".into()),
                        )
                        .with_hint(
                            "--rttl compares the TTL of --rcheck/--update with the one --set saw",
                        ));
                }
                if r.reap && r.seconds.is_none() {
                    return Err(ctx
                        .error(&self.word, ErrorKind::MissingValue("--seconds".into()))
                        .with_hint("--reap needs --seconds"));
                }
                Match::Recent(RecentMatch {
                    name: r.name.unwrap_or_else(|| "DEFAULT".into()),
                    command,
                    negated,
                    seconds: r.seconds,
                    hitcount: r.hitcount,
                    rttl: r.rttl,
                    reap: r.reap,
                    by_destination: r.rdest.unwrap_or(false),
                    mask: r.mask,
                })
            }
            State::Comment(Some(c)) => Match::Comment(c),
            State::Comment(None) => return missing("--comment"),
            State::Set(Some(s)) => Match::Set(s),
            State::Set(None) => return missing("--match-set"),
            State::Iprange(m) if m.src.is_none() && m.dst.is_none() => {
                return missing("--src-range or --dst-range")
            }
            State::Iprange(m) => Match::Iprange(m),
            State::Mac(Some(m)) => {
                ctx.only_in_chains(&self.word, "-m mac", &["PREROUTING", "INPUT", "FORWARD"])?;
                Match::Mac(m)
            }
            State::Mac(None) => return missing("--mac-source"),
            State::Length(Some(l)) => Match::Length(l),
            State::Length(None) => return missing("--length"),
            State::Addrtype(a) if a.src.is_none() && a.dst.is_none() => {
                return missing("--src-type or --dst-type")
            }
            State::Addrtype(a) => {
                if a.limit_iface_in {
                    ctx.only_in_chains(
                        &self.word,
                        "--limit-iface-in",
                        &["PREROUTING", "INPUT", "FORWARD"],
                    )?;
                }
                if a.limit_iface_out {
                    ctx.only_in_chains(
                        &self.word,
                        "--limit-iface-out",
                        &["POSTROUTING", "OUTPUT", "FORWARD"],
                    )?;
                }
                Match::Addrtype(a)
            }
            State::Mark(Some(m)) => Match::Mark(m),
            State::Mark(None) => return missing("--mark"),
            State::More(d) => return d.finish(ctx, &self.word, self.name),
            State::Opaque(d) => return d.finish(ctx, &self.word),
        };
        Ok(m)
    }

    /// Whether the module checks repeated options itself (`-m policy`'s `--next`).
    pub fn tracks_repeats(&self) -> bool {
        matches!(&self.state, State::More(d) if d.tracks_repeats())
    }

    /// Whether this is the tcp/udp module whose options a second `-m tcp` would extend:
    /// nft-based iptables merges them into one match, as iptables-save then shows.
    pub fn is_protocol_module(&self) -> bool {
        matches!(self.state, State::Tcp(_) | State::Udp(_))
    }
}

impl HashlimitDraft {
    fn set(
        &mut self,
        ctx: &RuleCtx<'_>,
        key: &str,
        negated: bool,
        opt: &Word,
        arg: Option<&Word>,
    ) -> Result<(), ParseError> {
        let family = ctx.family;
        let Some(arg) = arg else {
            // `--hashlimit-rate-match`, the one option without a value.
            self.rate_match = true;
            return Ok(());
        };
        // The table sizes: 0 means "the kernel chooses", larger than its cap is cut.
        let table_size =
            |t: &str| values::u32_value(t).map(|n| (n > 0).then_some(n.min(HASHLIMIT_MAX_SIZE)));
        let nonzero_ms = |t: &str| match values::u32_value(t)? {
            0 => Err("the kernel refuses 0 milliseconds".to_string()),
            n => Ok(n),
        };
        match key {
            "--hashlimit-upto" | "--hashlimit-above" => {
                if self.limit.is_some() {
                    return Err(ctx.error(
                        opt,
                        ErrorKind::Conflict("--hashlimit-upto".into(), "--hashlimit-above".into()),
                    ));
                }
                let mode = if (key == "--hashlimit-upto") != negated {
                    LimitMode::Upto
                } else {
                    LimitMode::Above
                };
                self.limit = Some((mode, ctx.value(opt, arg, values::hashlimit_rate)?));
            }
            "--hashlimit-burst" => {
                self.burst = Some(ctx.value(opt, arg, values::hashlimit_burst)?)
            }
            "--hashlimit-mode" => self.key = ctx.value(opt, arg, hashlimit_key)?,
            "--hashlimit-name" => self.name = Some(arg.text.clone()),
            "--hashlimit-srcmask" => {
                self.src_mask = ctx.value(opt, arg, |t| values::mask_len(t, family))?
            }
            "--hashlimit-dstmask" => {
                self.dst_mask = ctx.value(opt, arg, |t| values::mask_len(t, family))?
            }
            "--hashlimit-htable-max" => self.max = ctx.value(opt, arg, table_size)?,
            "--hashlimit-htable-size" => self.size = ctx.value(opt, arg, table_size)?,
            "--hashlimit-htable-gcinterval" => {
                let ms = ctx.value(opt, arg, nonzero_ms)?;
                self.gc_interval_ms = (ms != HashlimitMatch::GC_INTERVAL_MS).then_some(ms);
            }
            "--hashlimit-rate-interval" => {
                self.interval = Some(ctx.value(opt, arg, |t| {
                    // iptables reads it with atoi and wants more than 0.
                    values::leading_number(t)
                        .filter(|n| (1..=u64::from(i32::MAX as u32)).contains(n))
                        .map(|n| n as u32)
                        .ok_or_else(|| "an interval is a number of seconds, 1 or more".to_string())
                })?)
            }
            _ => self.expire_ms = Some(ctx.value(opt, arg, nonzero_ms)?),
        }
        Ok(())
    }
}

impl RecentDraft {
    fn set(
        &mut self,
        ctx: &RuleCtx<'_>,
        key: &str,
        opt: &Word,
        args: &[Word],
        negated: bool,
    ) -> Result<(), ParseError> {
        let command = match key {
            "--set" => Some(RecentCommand::Set),
            "--rcheck" => Some(RecentCommand::Rcheck),
            "--update" => Some(RecentCommand::Update),
            "--remove" => Some(RecentCommand::Remove),
            _ => None,
        };
        if let Some(command) = command {
            if self.command.is_some() {
                return Err(ctx
                    .error(
                        opt,
                        ErrorKind::Conflict(
                            opt.text.clone(),
                            "--set/--rcheck/--update/--remove".into(),
                        ),
                    )
                    .with_hint("a recent match does one of --set, --rcheck, --update, --remove"));
            }
            self.command = Some((command, negated));
            return Ok(());
        }
        match key {
            "--name" => self.name = Some(args[0].text.clone()),
            "--seconds" => self.seconds = Some(ctx.value(opt, &args[0], values::u32_value)?),
            // The kernel keeps at most 65535 timestamps per address; 0 is "not given".
            "--hitcount" => {
                self.hitcount = Some(ctx.value(opt, &args[0], |t| {
                    values::bounded(t, 65535).map(|v| v as u32)
                })?)
                .filter(|h| *h != 0)
            }
            "--rttl" => self.rttl = true,
            "--reap" => self.reap = true,
            "--rsource" | "--rdest" => {
                if self.rdest.is_some() {
                    return Err(ctx.error(
                        opt,
                        ErrorKind::Conflict("--rsource".into(), "--rdest".into()),
                    ));
                }
                self.rdest = Some(key == "--rdest");
            }
            _ => self.mask = ctx.value(opt, &args[0], |t| values::mask_len(t, ctx.family))?,
        }
        Ok(())
    }
}

fn ct_status(text: &str) -> values::ValueResult<CtStatus> {
    let mut bits = 0;
    for part in text.split(',') {
        if part.eq_ignore_ascii_case("NONE") {
            continue;
        }
        let (_, b) = CtStatus::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(part))
            .ok_or_else(|| {
                format!("`{part}` is not a status (NONE, EXPECTED, SEEN_REPLY, ASSURED, CONFIRMED)")
            })?;
        bits |= b;
    }
    Ok(CtStatus(bits))
}

fn ct_expire(text: &str) -> values::ValueResult<NumRange> {
    let (lo, hi) = match text.split_once(':') {
        Some((a, b)) => (values::u32_value(a)?, values::u32_value(b)?),
        None => (values::u32_value(text)?, values::u32_value(text)?),
    };
    // iptables loads a reversed range as written (it can never match).
    Ok(NumRange { lo, hi })
}

fn burst_value(text: &str) -> values::ValueResult<u32> {
    let n = values::u32_value(text)?;
    if n == 0 || n > 10_000 {
        return Err("burst must be between 1 and 10000".into());
    }
    Ok(n)
}

fn hashlimit_key(text: &str) -> values::ValueResult<HashlimitKey> {
    let mut key = HashlimitKey::default();
    for part in text.split(',') {
        match part {
            "srcip" => key.src_ip = true,
            "srcport" => key.src_port = true,
            "dstip" => key.dst_ip = true,
            "dstport" => key.dst_port = true,
            _ => {
                return Err(format!(
                    "unknown mode `{part}` (srcip, srcport, dstip, dstport)"
                ))
            }
        }
    }
    Ok(key)
}

pub(super) fn set_dirs(text: &str) -> values::ValueResult<Vec<SetDir>> {
    let dirs = text
        .split(',')
        .map(|d| match d {
            "src" => Ok(SetDir::Src),
            "dst" => Ok(SetDir::Dst),
            _ => Err(format!("`{d}` is not src or dst")),
        })
        .collect::<values::ValueResult<Vec<_>>>()?;
    if dirs.len() > 6 {
        return Err("at most 6 directions".into());
    }
    Ok(dirs)
}

fn mac(text: &str) -> values::ValueResult<MacAddr> {
    let parts: Vec<&str> = text.split(':').collect();
    let bad = || "a MAC address is six hex bytes separated by `:`".to_string();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut bytes = [0u8; 6];
    for (b, p) in bytes.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(MacAddr(bytes))
}

fn length(text: &str) -> values::ValueResult<LengthRange> {
    let num = |t: &str| values::bounded(t, 65535).map(|n| n as u16);
    match text.split_once(':') {
        Some((lo, hi)) => Ok(LengthRange {
            lo: if lo.is_empty() { 0 } else { num(lo)? },
            hi: if hi.is_empty() { 65535 } else { num(hi)? },
        }),
        None => {
            let n = num(text)?;
            Ok(LengthRange { lo: n, hi: n })
        }
    }
}

/// `value` with the rule's `!` applied.
fn wrap<T>(negated: bool, value: T) -> Neg<T> {
    Neg { negated, value }
}

/// A tcp/udp `--sport`/`--dport` in the form the kernel (nft backend) keeps: the full range
/// `0:65535` is no condition at all, and `! 0:N` is stored as `N+1:65535` (a `0:N` range is
/// a single `<=` comparison, negated to `>`). `! 0:65535` stays: it matches nothing.
fn port_match(negated: bool, range: PortRange) -> Option<Neg<PortRange>> {
    match (negated, range.lo, range.hi) {
        (false, 0, u16::MAX) => None,
        (true, 0, hi) if hi > 0 && hi < u16::MAX => Some(Neg::plain(PortRange {
            lo: hi + 1,
            hi: u16::MAX,
        })),
        _ => Some(wrap(negated, range)),
    }
}
