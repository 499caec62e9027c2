//! `-j` targets: their option tables and how options become a [`Target`].

use crate::error::{ErrorKind, ParseError};
use crate::lex::Word;
use crate::model::{
    ConnmarkTarget, Family, LogTarget, MasqueradeTarget, NatTarget, NflogTarget, PortRange,
    Protocol, RejectWith, SetCombinedTarget, SetOp, SetRef, SetTarget, TableKind, Target, XMark,
};

use super::targets_more::MORE_TARGETS;
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

const fn two(name: &'static [&'static str]) -> OptSpec {
    OptSpec {
        names: name,
        args: 2,
        negatable: false,
    }
}

const MARK_OPS: [OptSpec; 5] = [
    one(&["--set-xmark"]),
    one(&["--set-mark"]),
    one(&["--and-mark"]),
    one(&["--or-mark"]),
    one(&["--xor-mark"]),
];

/// Supported targets, their options, and the table they need (None: any table).
pub(super) const TARGETS: &[(&str, &[OptSpec], Option<TableKind>)] = &[
    ("ACCEPT", &[], None),
    ("DROP", &[], None),
    ("RETURN", &[], None),
    (
        "REJECT",
        &[one(&["--reject-with"])],
        Some(TableKind::Filter),
    ),
    (
        "LOG",
        &[
            one(&["--log-prefix"]),
            one(&["--log-level"]),
            flag(&["--log-tcp-sequence"]),
            flag(&["--log-tcp-options"]),
            flag(&["--log-ip-options"]),
            flag(&["--log-uid"]),
            flag(&["--log-macdecode"]),
        ],
        None,
    ),
    (
        "SNAT",
        &[
            one(&["--to-source"]),
            flag(&["--random"]),
            flag(&["--persistent"]),
        ],
        Some(TableKind::Nat),
    ),
    (
        "DNAT",
        &[
            one(&["--to-destination"]),
            flag(&["--random"]),
            flag(&["--persistent"]),
        ],
        Some(TableKind::Nat),
    ),
    (
        "MASQUERADE",
        &[one(&["--to-ports"]), flag(&["--random"])],
        Some(TableKind::Nat),
    ),
    (
        "REDIRECT",
        &[one(&["--to-ports"]), flag(&["--random"])],
        Some(TableKind::Nat),
    ),
    ("MARK", &MARK_OPS, None),
    (
        "CONNMARK",
        &[
            MARK_OPS[0],
            MARK_OPS[1],
            MARK_OPS[2],
            MARK_OPS[3],
            MARK_OPS[4],
            flag(&["--save-mark"]),
            flag(&["--restore-mark"]),
            one(&["--nfmask"]),
            one(&["--ctmask"]),
            one(&["--mask"]),
        ],
        None,
    ),
    ("NOTRACK", &[], Some(TableKind::Raw)),
    ("TRACE", &[], Some(TableKind::Raw)),
    (
        "SET",
        &[
            two(&["--add-set"]),
            two(&["--del-set"]),
            one(&["--timeout"]),
            flag(&["--exist"]),
            two(&["--map-set"]),
            flag(&["--map-mark"]),
            flag(&["--map-prio"]),
            flag(&["--map-queue"]),
        ],
        None,
    ),
    (
        "NFLOG",
        &[
            one(&["--nflog-group"]),
            one(&["--nflog-prefix"]),
            one(&["--nflog-size"]),
            one(&["--nflog-range"]),
            one(&["--nflog-threshold"]),
        ],
        None,
    ),
];

/// Kernel targets rampart does not model; `-j` with one of them is an error, not a jump
/// to a user chain of that name.
const UNSUPPORTED: &[&str] = &["CLUSTERIP", "QUEUE", "ULOG", "MIRROR"];

/// Whether `name` is a target extension name (supported or not) rather than a chain.
pub(super) fn is_extension(name: &str) -> bool {
    all_targets().any(|(n, _, _)| *n == name) || UNSUPPORTED.contains(&name)
}

/// Every supported target with its options and table.
pub(super) fn all_targets(
) -> impl Iterator<Item = &'static (&'static str, &'static [OptSpec], Option<TableKind>)> {
    TARGETS.iter().chain(MORE_TARGETS)
}

/// Names of the supported targets, for hints.
pub(super) fn supported_names() -> String {
    let names: Vec<&str> = all_targets().map(|(n, _, _)| *n).collect();
    format!("{}, or a user chain", names.join(", "))
}

/// A target being filled while its rule is read.
#[derive(Debug)]
pub(super) struct TargetDraft {
    /// The target name (a key of [`TARGETS`]) or a user chain.
    pub name: String,
    /// The `-j NAME` word.
    pub word: Word,
    /// Option keys given so far.
    pub seen: Vec<&'static str>,
    /// Options with their values, in order.
    pub(super) opts: Vec<(&'static str, Word, Vec<Word>)>,
}

impl TargetDraft {
    /// A target for `-j NAME`; user chains have no options.
    pub fn new(name: &str, word: Word) -> Result<TargetDraft, ErrorKind> {
        if UNSUPPORTED.contains(&name) {
            return Err(ErrorKind::UnknownTarget(name.to_string()));
        }
        Ok(TargetDraft {
            name: name.to_string(),
            word,
            seen: Vec::new(),
            opts: Vec::new(),
        })
    }

    /// The option table of this target (empty for chains).
    pub fn specs(&self) -> &'static [OptSpec] {
        all_targets()
            .find(|(n, _, _)| *n == self.name)
            .map(|(_, s, _)| *s)
            .unwrap_or(&[])
    }

    /// The table this target needs, if restricted to one.
    pub fn table(&self) -> Option<TableKind> {
        all_targets()
            .find(|(n, _, _)| *n == self.name)
            .and_then(|(_, _, t)| *t)
    }

    /// Records an option; values are read in [`TargetDraft::finish`], where every option
    /// of the target is known (CONNMARK's masks depend on the operation).
    pub fn set(&mut self, key: &'static str, opt: &Word, args: &[Word]) {
        self.opts.push((key, opt.clone(), args.to_vec()));
    }

    pub(super) fn get(&self, key: &str) -> Option<(&Word, &Word)> {
        self.opts
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, o, a)| (o, &a[0]))
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.opts.iter().any(|(k, _, _)| *k == key)
    }

    /// The finished target, with iptables' defaults and checks.
    pub fn finish(self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        if let Some(done) = self.finish_more(ctx) {
            return done;
        }
        let target = match self.name.as_str() {
            "ACCEPT" => Target::Accept,
            "DROP" => Target::Drop,
            "RETURN" => Target::Return,
            "REJECT" => self.reject(ctx)?,
            "LOG" => self.log(ctx)?,
            "SNAT" | "DNAT" => self.nat(ctx)?,
            "MASQUERADE" | "REDIRECT" => self.masquerade(ctx)?,
            "MARK" => Target::Mark(self.xmark(ctx)?.ok_or_else(|| {
                self.missing(
                    ctx,
                    "--set-xmark, --set-mark, --and-mark, --or-mark or --xor-mark",
                )
            })?),
            "CONNMARK" => self.connmark(ctx)?,
            "TRACE" => Target::Trace,
            "SET" => self.set_target(ctx)?,
            "NFLOG" => self.nflog(ctx)?,
            _ => Target::Chain(self.name.clone()),
        };
        Ok(target)
    }

    pub(super) fn missing(&self, ctx: &RuleCtx<'_>, what: &str) -> ParseError {
        ctx.error(
            &self.word,
            ErrorKind::MissingValue(format!("-j {} {what}", self.name)),
        )
        .with_hint(format!("-j {} needs {what}", self.name))
    }

    fn reject(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        ctx.only_in_chains(&self.word, "-j REJECT", &["INPUT", "FORWARD", "OUTPUT"])?;
        let Some((opt, arg)) = self.get("--reject-with") else {
            return Ok(Target::Reject(RejectWith::default_for(ctx.family)));
        };
        let with = ctx.value(opt, arg, |t| reject_with(t, ctx.family))?;
        if with == RejectWith::TcpReset {
            ctx.need_protocol(arg, "--reject-with tcp-reset", &[Protocol::TCP], "tcp")?;
        }
        Ok(Target::Reject(with))
    }

    fn log(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let mut log = LogTarget::default();
        if let Some((opt, arg)) = self.get("--log-prefix") {
            log.prefix = Some(ctx.value(opt, arg, |t| match t.chars().count() {
                0 => Err("the prefix is empty".to_string()),
                n if n > 29 => Err(format!("{n} characters; the kernel allows at most 29")),
                _ => Ok(t.to_string()),
            })?);
        }
        if let Some((opt, arg)) = self.get("--log-level") {
            // 4 (warning) is the default: the kernel state is the same whether written or not.
            log.level = Some(ctx.value(opt, arg, values::log_level)?).filter(|l| *l != 4);
        }
        log.flags = crate::model::LogFlags {
            tcp_sequence: self.has("--log-tcp-sequence"),
            tcp_options: self.has("--log-tcp-options"),
            ip_options: self.has("--log-ip-options"),
            uid: self.has("--log-uid"),
            macdecode: self.has("--log-macdecode"),
        };
        Ok(Target::Log(log))
    }

    fn set_target(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let set_ref = |key: &str| -> Result<Option<SetRef>, ParseError> {
            let Some((opt, args)) = self
                .opts
                .iter()
                .find(|(k, _, _)| *k == key)
                .map(|(_, o, a)| (o, a))
            else {
                return Ok(None);
            };
            let set = ctx.value(opt, &args[0], |t| {
                if t.is_empty() || t.len() > 31 {
                    Err("a set name is 1 to 31 characters".to_string())
                } else {
                    Ok(t.to_string())
                }
            })?;
            let dirs = ctx.value(opt, &args[1], super::matches::set_dirs)?;
            Ok(Some(SetRef { set, dirs }))
        };
        let (add, del, map) = (
            set_ref("--add-set")?,
            set_ref("--del-set")?,
            set_ref("--map-set")?,
        );
        if add.is_none() && del.is_none() && map.is_none() {
            return Err(self.missing(ctx, "--add-set, --del-set or --map-set"));
        }
        // libxt_SET's checks: the add options need --add-set, the map flags --map-set.
        for (key, needs, ok) in [
            ("--timeout", "--add-set", add.is_some()),
            ("--exist", "--add-set", add.is_some()),
            ("--map-mark", "--map-set", map.is_some()),
            ("--map-prio", "--map-set", map.is_some()),
            ("--map-queue", "--map-set", map.is_some()),
        ] {
            if !ok && self.has(key) {
                let (_, opt, _) = self.opts.iter().find(|(k, _, _)| *k == key).expect("has");
                let other = ["--del-set", "--map-set", "--add-set"]
                    .into_iter()
                    .find(|o| *o != needs && self.has(o))
                    .unwrap_or("-j SET");
                return Err(ctx
                    .error(opt, ErrorKind::Conflict(key.into(), other.into()))
                    .with_hint(format!("{key} goes with {needs}")));
            }
        }
        let (map_mark, map_prio, map_queue) = (
            self.has("--map-mark"),
            self.has("--map-prio"),
            self.has("--map-queue"),
        );
        if map.is_some() && !(map_mark || map_prio || map_queue) {
            return Err(self.missing(ctx, "--map-mark, --map-prio or --map-queue with --map-set"));
        }
        // The kernel's checks (xt_set, revision 3): mapping only in mangle, priority and
        // queue only after routing.
        if (map_mark || map_prio || map_queue) && ctx.table != TableKind::Mangle {
            return Err(ctx
                .error(
                    &self.word,
                    ErrorKind::TargetNotAllowed {
                        target: "SET --map-set".into(),
                        table: ctx.table.to_string(),
                        chain: ctx.chain.clone().unwrap_or_default(),
                    },
                )
                .with_hint("the kernel maps set data in the mangle table only"));
        }
        if map_prio || map_queue {
            ctx.only_in_chains(
                &self.word,
                "--map-prio/--map-queue",
                &["FORWARD", "OUTPUT", "POSTROUTING"],
            )?;
        }
        let timeout = match self.get("--timeout") {
            Some((opt, arg)) => Some(ctx.value(opt, arg, |t| {
                values::bounded(t, 2_147_483).map(|v| v as u32)
            })?),
            None => None,
        };
        let exist = self.has("--exist");
        Ok(match (add, del, map) {
            (Some(add), None, None) => Target::Set(SetTarget {
                op: SetOp::Add,
                set: add.set,
                dirs: add.dirs,
                timeout,
                exist,
            }),
            (None, Some(del), None) => Target::Set(SetTarget {
                op: SetOp::Del,
                set: del.set,
                dirs: del.dirs,
                timeout: None,
                exist: false,
            }),
            (add, del, map) => Target::SetCombined(Box::new(SetCombinedTarget {
                add,
                exist,
                timeout,
                del,
                map,
                map_mark,
                map_prio,
                map_queue,
            })),
        })
    }

    fn nflog(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let mut log = NflogTarget::default();
        if let Some((opt, arg)) = self.get("--nflog-group") {
            log.group = ctx.value(opt, arg, |t| values::bounded(t, 65535).map(|v| v as u16))?;
        }
        if let Some((opt, arg)) = self.get("--nflog-prefix") {
            log.prefix = Some(ctx.value(opt, arg, |t| match t.chars().count() {
                0 => Err("the prefix is empty".to_string()),
                n if n > 63 => Err(format!("{n} characters; the kernel allows at most 63")),
                _ => Ok(t.to_string()),
            })?);
        }
        if let Some((opt, arg)) = self.get("--nflog-size") {
            log.size = Some(ctx.value(opt, arg, values::u32_value)?);
        }
        // --nflog-range never reached the kernel (no flag tells it to use the length), so
        // iptables-save leaves it out; iptables 1.8.9 refuses it beside --nflog-size.
        if let Some((opt, arg)) = self.get("--nflog-range") {
            ctx.value(opt, arg, values::u32_value)?;
            if log.size.is_some() {
                return Err(ctx
                    .error(
                        opt,
                        ErrorKind::Conflict(opt.text.clone(), "--nflog-size".into()),
                    )
                    .with_hint("--nflog-range has never worked: use --nflog-size alone"));
            }
        }
        if let Some((opt, arg)) = self.get("--nflog-threshold") {
            // 0 is "not set" in the kernel's struct, so it does not print; 1 does.
            log.threshold =
                Some(ctx.value(opt, arg, |t| values::bounded(t, 65535).map(|v| v as u16))?)
                    .filter(|t| *t != 0);
        }
        Ok(Target::Nflog(log))
    }

    fn nat(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let snat = self.name == "SNAT";
        let key = if snat {
            "--to-source"
        } else {
            "--to-destination"
        };
        let Some((opt, arg)) = self.get(key) else {
            return Err(self.missing(ctx, key));
        };
        let (addrs, ports, offset) = ctx.value(opt, arg, |t| nat_spec(t, ctx.family))?;
        if snat && addrs.is_none() {
            return Err(ctx.bad(opt, arg, "SNAT needs an address"));
        }
        if ports.is_some() {
            ctx.need_ports(arg, key)?;
        }
        let nat = NatTarget {
            addrs,
            ports,
            random: self.has("--random"),
            persistent: self.has("--persistent"),
            // libxt_SNAT keeps the shift flag but not its base.
            port_offset: offset.map(|b| if snat { 0 } else { b }),
        };
        Ok(if snat {
            Target::Snat(nat)
        } else {
            Target::Dnat(nat)
        })
    }

    fn masquerade(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let mut m = MasqueradeTarget {
            ports: None,
            random: self.has("--random"),
        };
        if let Some((opt, arg)) = self.get("--to-ports") {
            m.ports = Some(ctx.value(opt, arg, values::nat_ports)?);
            ctx.need_ports(arg, "--to-ports")?;
        }
        Ok(if self.name == "MASQUERADE" {
            Target::Masquerade(m)
        } else {
            Target::Redirect(m)
        })
    }

    /// The mark operation as the kernel's (value, mask) pair, exactly as iptables-save
    /// prints `--set-xmark`; `None` when no mark operation was given.
    fn xmark(&self, ctx: &RuleCtx<'_>) -> Result<Option<XMark>, ParseError> {
        let ops: Vec<_> = self
            .opts
            .iter()
            .filter(|(k, _, _)| MARK_OPS.iter().any(|s| s.names[0] == *k))
            .collect();
        let Some((key, opt, args)) = ops.first() else {
            return Ok(None);
        };
        if let Some((_, second, _)) = ops.get(1) {
            return Err(ctx.error(
                second,
                ErrorKind::Conflict(second.text.clone(), opt.text.clone()),
            ));
        }
        let arg = &args[0];
        let x = match *key {
            "--set-xmark" => {
                let m = ctx.value(opt, arg, values::mark)?;
                XMark {
                    value: m.value,
                    mask: m.mask,
                }
            }
            "--set-mark" => {
                let m = ctx.value(opt, arg, values::mark)?;
                XMark {
                    value: m.value,
                    mask: m.mask | m.value,
                }
            }
            other => {
                let v = ctx.value(opt, arg, values::u32_value)?;
                match other {
                    "--and-mark" => XMark { value: 0, mask: !v },
                    "--or-mark" => XMark { value: v, mask: v },
                    _ => XMark { value: v, mask: 0 },
                }
            }
        };
        Ok(Some(x))
    }

    fn connmark(&self, ctx: &RuleCtx<'_>) -> Result<Target, ParseError> {
        let save = self.has("--save-mark");
        let restore = self.has("--restore-mark");
        let set = self.xmark(ctx)?;
        let chosen = usize::from(save) + usize::from(restore) + usize::from(set.is_some());
        if chosen > 1 {
            return Err(ctx
                .error(
                    &self.word,
                    ErrorKind::Conflict("--save-mark".into(), "--restore-mark/--set-mark".into()),
                )
                .with_hint(
                    "CONNMARK does one of --set-xmark/--set-mark/..., --save-mark, --restore-mark",
                ));
        }
        if let Some(x) = set {
            if let Some((opt, _)) = ["--nfmask", "--ctmask", "--mask"]
                .iter()
                .find_map(|k| self.get(k))
            {
                return Err(ctx.error(
                    opt,
                    ErrorKind::Conflict(opt.text.clone(), "--set-mark".into()),
                ));
            }
            return Ok(Target::Connmark(ConnmarkTarget::Set(x)));
        }
        if !save && !restore {
            return Err(self.missing(
                ctx,
                "--set-xmark, --set-mark, --save-mark or --restore-mark",
            ));
        }
        let mask = |key: &str| -> Result<Option<u32>, ParseError> {
            self.get(key)
                .map(|(o, a)| ctx.value(o, a, values::u32_value))
                .transpose()
        };
        let both = mask("--mask")?;
        let nfmask = mask("--nfmask")?.or(both).unwrap_or(u32::MAX);
        let ctmask = mask("--ctmask")?.or(both).unwrap_or(u32::MAX);
        Ok(Target::Connmark(if save {
            ConnmarkTarget::Save { nfmask, ctmask }
        } else {
            ConnmarkTarget::Restore { nfmask, ctmask }
        }))
    }
}

/// `--reject-with` names: the canonical ones of the family plus the short aliases
/// iptables-extensions(8) documents.
fn reject_with(text: &str, family: Family) -> values::ValueResult<RejectWith> {
    const V4_ALIASES: &[(&str, RejectWith)] = &[
        ("net-unreach", RejectWith::IcmpNetUnreachable),
        ("host-unreach", RejectWith::IcmpHostUnreachable),
        ("port-unreach", RejectWith::IcmpPortUnreachable),
        ("proto-unreach", RejectWith::IcmpProtoUnreachable),
        ("net-prohib", RejectWith::IcmpNetProhibited),
        ("host-prohib", RejectWith::IcmpHostProhibited),
        ("admin-prohib", RejectWith::IcmpAdminProhibited),
        ("tcp-rst", RejectWith::TcpReset),
    ];
    const V6_ALIASES: &[(&str, RejectWith)] = &[
        ("no-route", RejectWith::Icmp6NoRoute),
        ("adm-prohibited", RejectWith::Icmp6AdmProhibited),
        ("addr-unreach", RejectWith::Icmp6AddrUnreachable),
        ("port-unreach", RejectWith::Icmp6PortUnreachable),
        ("policy-fail", RejectWith::Icmp6PolicyFail),
        ("reject-route", RejectWith::Icmp6RejectRoute),
    ];
    let (prefix, aliases) = match family {
        Family::Ipv4 => ("icmp-", V4_ALIASES),
        Family::Ipv6 => ("icmp6-", V6_ALIASES),
    };
    let canonical = RejectWith::NAMES
        .iter()
        .filter(|(n, _)| n.starts_with(prefix) || *n == "tcp-reset");
    canonical
        .chain(aliases.iter())
        .find(|(n, _)| *n == text)
        .map(|(_, r)| *r)
        .ok_or_else(|| {
            let names: Vec<&str> = RejectWith::NAMES
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| n.starts_with(prefix) || *n == "tcp-reset")
                .collect();
            format!(
                "not a {} reject type ({})",
                family.command(),
                names.join(", ")
            )
        })
}

/// What `--to-source`/`--to-destination` hold: addresses, ports, port shift base.
type NatSpec = (
    Option<rampart_prefix::AddrRange>,
    Option<PortRange>,
    Option<u16>,
);

/// `ADDR[-ADDR][:PORT[-PORT][/BASE]]`, IPv6 addresses in brackets when ports follow.
fn nat_spec(text: &str, family: Family) -> values::ValueResult<NatSpec> {
    let (addr, ports) = match family {
        Family::Ipv4 => match text.split_once(':') {
            Some((a, p)) => (a.to_string(), Some(p)),
            None => (text.to_string(), None),
        },
        Family::Ipv6 if text.starts_with('[') => match text.rsplit_once("]:") {
            Some((a, p)) => (a.replace(['[', ']'], ""), Some(p)),
            None => (text.replace(['[', ']'], ""), None),
        },
        Family::Ipv6 => match text.strip_prefix(':') {
            Some(p) => (String::new(), Some(p)),
            None => (text.to_string(), None),
        },
    };
    let addrs = if addr.is_empty() {
        None
    } else {
        Some(values::addr_range(&addr, family)?)
    };
    let (ports, base) = match ports.map(|p| p.split_once('/')) {
        Some(Some((range, base))) => {
            let r = values::nat_ports(range)?;
            if r.lo == r.hi {
                return Err(format!("garbage after port value: `/{base}`"));
            }
            (Some(r), Some(values::nat_port(base)?))
        }
        Some(None) => (ports.map(values::nat_ports).transpose()?, None),
        None => (None, None),
    };
    if addrs.is_none() && ports.is_none() {
        return Err("needs an address or a port".into());
    }
    Ok((addrs, ports, base))
}
