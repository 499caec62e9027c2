//! The modules rampart reads and prints exactly but does not model (issue 14's long
//! tail: IPv6 extension headers, IPsec SPIs, DCCP, ECN, connbytes, u32, bpf ...).
//!
//! Each is a table of options, listed in the order `iptables-save` prints them, each with
//! the [`Kind`] of value it takes: the value is checked as iptables checks it and turned
//! into its printed form at parse time, so a rule becomes an [`OpaqueMatch`] of canonical
//! words. The simulator treats these as unknown and `compile` refuses them with the
//! module's [`OpaqueModule::reason`].

use std::net::Ipv6Addr;

use crate::error::{ErrorKind, ParseError};
use crate::lex::Word;
use crate::model::{Family, Match, OpaqueArg, OpaqueMatch, Protocol};

use super::values::{self, ValueResult};
use super::{OptSpec, RuleCtx};

/// How one option's value is read and printed.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// No value.
    Flag,
    /// A number up to the bound, printed in decimal.
    Num(u64),
    /// `a[:b]` up to the bound, printed `a` or `a:b` (`:b` from 0, `a:` to the bound).
    Range(u64),
    /// A number printed `0x%08x`.
    Hex8,
    /// `value[/mask]`, printed `0x%x[/0x%x]` (mask shown unless all ones).
    HexMask,
    /// A word printed as written.
    Word,
    /// One of the names (input, printed).
    Choice(&'static [(&'static str, &'static str)]),
    /// A custom reader that returns the printed form.
    Custom(fn(&str, Family) -> ValueResult<String>),
    /// A custom reader whose printed form goes in double quotes.
    CustomQuoted(fn(&str, Family) -> ValueResult<String>),
    /// `--cluster-local-node N`: printed as the nodemask it means.
    NodeMask,
}

/// One option of an opaque module.
#[derive(Debug, Clone, Copy)]
struct Slot {
    kind: Kind,
    /// The name printed instead of the option's own (`--cluster-local-node` prints as
    /// `--cluster-local-nodemask`).
    print_as: Option<&'static str>,
}

/// An opaque module: its options and the rules iptables applies to it.
#[derive(Debug)]
pub(super) struct OpaqueModule {
    /// The name after `-m`.
    pub name: &'static str,
    /// The family it exists in (`None`: both).
    family: Option<Family>,
    /// Its options, in iptables-save's print order.
    pub specs: &'static [OptSpec],
    slots: &'static [Slot],
    /// Options of which at least one must be given (empty: none needed).
    need_one: &'static [&'static str],
    /// Options that must all be given.
    need_all: &'static [&'static str],
    /// Protocol numbers `-p` must name (not negated), with their name for the hint.
    proto: Option<(&'static [u8], &'static str)>,
    /// Built-in chains it is allowed in (`None`: all).
    chains: Option<&'static [&'static str]>,
    /// Why `compile` refuses it.
    pub reason: &'static str,
}

const fn o(names: &'static [&'static str], args: usize, negatable: bool) -> OptSpec {
    OptSpec {
        names,
        args,
        negatable,
    }
}

const fn s(kind: Kind) -> Slot {
    Slot {
        kind,
        print_as: None,
    }
}

const U32: u64 = u32::MAX as u64;

const FRAG: &[OptSpec] = &[
    o(&["--fragid"], 1, true),
    o(&["--fraglen"], 1, true),
    o(&["--fragres"], 0, false),
    o(&["--fragfirst"], 0, false),
    o(&["--fragmore"], 0, false),
    o(&["--fraglast"], 0, false),
];
const FRAG_S: &[Slot] = &[
    s(Kind::Range(U32)),
    s(Kind::Num(U32)),
    s(Kind::Flag),
    s(Kind::Flag),
    s(Kind::Flag),
    s(Kind::Flag),
];
const RT: &[OptSpec] = &[
    o(&["--rt-type"], 1, true),
    o(&["--rt-segsleft"], 1, true),
    o(&["--rt-len"], 1, true),
    o(&["--rt-0-res"], 0, false),
    o(&["--rt-0-addrs"], 1, false),
    o(&["--rt-0-not-strict"], 0, false),
];
const RT_S: &[Slot] = &[
    s(Kind::Num(255)),
    s(Kind::Range(U32)),
    s(Kind::Num(U32)),
    s(Kind::Flag),
    s(Kind::Custom(v6_list)),
    s(Kind::Flag),
];
const HBH: &[OptSpec] = &[o(&["--hbh-len"], 1, true), o(&["--hbh-opts"], 1, false)];
const DST: &[OptSpec] = &[o(&["--dst-len"], 1, true), o(&["--dst-opts"], 1, false)];
const EXT_S: &[Slot] = &[s(Kind::Num(U32)), s(Kind::Custom(ext_opts))];
const IPV6HEADER: &[OptSpec] = &[o(&["--header"], 1, true), o(&["--soft"], 0, false)];
const IPV6HEADER_S: &[Slot] = &[s(Kind::Custom(v6_headers)), s(Kind::Flag)];
const AH: &[OptSpec] = &[
    o(&["--ahspi"], 1, true),
    o(&["--ahlen"], 1, true),
    o(&["--ahres"], 0, false),
];
const AH_S: &[Slot] = &[s(Kind::Range(U32)), s(Kind::Num(U32)), s(Kind::Flag)];
const ESP: &[OptSpec] = &[o(&["--espspi"], 1, true)];
const SPI_S: &[Slot] = &[s(Kind::Range(U32))];
const IPCOMP: &[OptSpec] = &[o(&["--ipcompspi"], 1, true), o(&["--compres"], 0, false)];
const IPCOMP_S: &[Slot] = &[s(Kind::Range(U32)), s(Kind::Flag)];
const DCCP: &[OptSpec] = &[
    o(&["--sport", "--source-port"], 1, true),
    o(&["--dport", "--destination-port"], 1, true),
    o(&["--dccp-types"], 1, true),
    o(&["--dccp-option"], 1, true),
];
const DCCP_S: &[Slot] = &[
    s(Kind::Custom(ports)),
    s(Kind::Custom(ports)),
    s(Kind::Custom(dccp_types)),
    s(Kind::Num(255)),
];
const MH: &[OptSpec] = &[o(&["--mh-type"], 1, true)];
const MH_S: &[Slot] = &[s(Kind::Custom(mh_types))];
const NONE: &[OptSpec] = &[];
const ECN: &[OptSpec] = &[
    o(&["--ecn-tcp-ece"], 0, true),
    o(&["--ecn-tcp-cwr"], 0, true),
    o(&["--ecn-ip-ect"], 1, true),
];
const ECN_S: &[Slot] = &[s(Kind::Flag), s(Kind::Flag), s(Kind::Num(3))];
const CONNBYTES: &[OptSpec] = &[
    o(&["--connbytes"], 1, true),
    o(&["--connbytes-mode"], 1, false),
    o(&["--connbytes-dir"], 1, false),
];
const CONNBYTES_S: &[Slot] = &[
    s(Kind::Custom(connbytes)),
    s(Kind::Choice(&[
        ("packets", "packets"),
        ("bytes", "bytes"),
        ("avgpkt", "avgpkt"),
    ])),
    s(Kind::Choice(&[
        ("original", "original"),
        ("reply", "reply"),
        ("both", "both"),
    ])),
];
const CONNLABEL: &[OptSpec] = &[o(&["--label"], 1, true), o(&["--set"], 0, false)];
const CONNLABEL_S: &[Slot] = &[s(Kind::CustomQuoted(label)), s(Kind::Flag)];
const QUOTA: &[OptSpec] = &[o(&["--quota"], 1, true)];
const QUOTA_S: &[Slot] = &[s(Kind::Num(u64::MAX))];
const SOCKET: &[OptSpec] = &[
    o(&["--transparent"], 0, false),
    o(&["--nowildcard"], 0, false),
    o(&["--restore-skmark"], 0, false),
];
const SOCKET_S: &[Slot] = &[s(Kind::Flag), s(Kind::Flag), s(Kind::Flag)];
const CGROUP: &[OptSpec] = &[o(&["--path"], 1, true), o(&["--cgroup"], 1, true)];
const CGROUP_S: &[Slot] = &[s(Kind::Word), s(Kind::Num(U32))];
const CPU: &[OptSpec] = &[o(&["--cpu"], 1, true)];
const NUM_S: &[Slot] = &[s(Kind::Num(U32))];
const NFACCT: &[OptSpec] = &[o(&["--nfacct-name"], 1, false)];
const WORD_S: &[Slot] = &[s(Kind::Word)];
const IPVS: &[OptSpec] = &[
    o(&["--ipvs"], 0, true),
    o(&["--vproto"], 1, true),
    o(&["--vaddr"], 1, true),
    o(&["--vport"], 1, true),
    o(&["--vdir"], 1, false),
    o(&["--vmethod"], 1, true),
    o(&["--vportctl"], 1, true),
];
const IPVS_S: &[Slot] = &[
    s(Kind::Flag),
    s(Kind::Custom(proto_number)),
    s(Kind::Custom(prefix)),
    s(Kind::Custom(ports)),
    s(Kind::Choice(&[
        ("ORIGINAL", "ORIGINAL"),
        ("REPLY", "REPLY"),
    ])),
    s(Kind::Choice(&[
        ("GATE", "GATE"),
        ("IPIP", "IPIP"),
        ("MASQ", "MASQ"),
    ])),
    s(Kind::Custom(ports)),
];
const REALM: &[OptSpec] = &[o(&["--realm"], 1, true)];
const REALM_S: &[Slot] = &[s(Kind::HexMask)];
const CLUSTER: &[OptSpec] = &[
    o(&["--cluster-local-nodemask"], 1, true),
    o(&["--cluster-local-node"], 1, true),
    o(&["--cluster-total-nodes"], 1, false),
    o(&["--cluster-hash-seed"], 1, false),
];
const CLUSTER_S: &[Slot] = &[
    s(Kind::Hex8),
    Slot {
        kind: Kind::NodeMask,
        print_as: Some("--cluster-local-nodemask"),
    },
    s(Kind::Num(32)),
    s(Kind::Hex8),
];
const SRH: &[OptSpec] = &[
    o(&["--srh-next-hdr"], 1, true),
    o(&["--srh-hdr-len-eq"], 1, true),
    o(&["--srh-hdr-len-gt"], 1, true),
    o(&["--srh-hdr-len-lt"], 1, true),
    o(&["--srh-segs-left-eq"], 1, true),
    o(&["--srh-segs-left-gt"], 1, true),
    o(&["--srh-segs-left-lt"], 1, true),
    o(&["--srh-last-entry-eq"], 1, true),
    o(&["--srh-last-entry-gt"], 1, true),
    o(&["--srh-last-entry-lt"], 1, true),
    o(&["--srh-tag"], 1, true),
    o(&["--srh-psid"], 1, true),
    o(&["--srh-nsid"], 1, true),
    o(&["--srh-lsid"], 1, true),
];
const SRH_S: &[Slot] = &[
    s(Kind::Num(255)),
    s(Kind::Num(255)),
    s(Kind::Num(255)),
    s(Kind::Num(255)),
    s(Kind::Num(255)),
    s(Kind::Num(255)),
    s(Kind::Num(255)),
    s(Kind::Num(255)),
    s(Kind::Num(255)),
    s(Kind::Num(255)),
    s(Kind::Num(65535)),
    s(Kind::Custom(prefix)),
    s(Kind::Custom(prefix)),
    s(Kind::Custom(prefix)),
];
const BPF: &[OptSpec] = &[
    o(&["--bytecode"], 1, false),
    o(&["--object-pinned"], 1, false),
];
const BPF_S: &[Slot] = &[s(Kind::CustomQuoted(bytecode)), s(Kind::Word)];
const OSF: &[OptSpec] = &[
    o(&["--genre"], 1, true),
    o(&["--ttl"], 1, false),
    o(&["--log"], 1, false),
];
const OSF_S: &[Slot] = &[s(Kind::Word), s(Kind::Num(2)), s(Kind::Num(2))];
const U32_OPT: &[OptSpec] = &[o(&["--u32"], 1, true)];
const U32_S: &[Slot] = &[s(Kind::CustomQuoted(u32_expr))];
const NO_SLOTS: &[Slot] = &[];

const IN_CHAINS: &[&str] = &["PREROUTING", "INPUT", "FORWARD"];

/// A module with the usual defaults (both families, nothing required).
const fn m(
    name: &'static str,
    specs: &'static [OptSpec],
    slots: &'static [Slot],
    reason: &'static str,
) -> OpaqueModule {
    OpaqueModule {
        name,
        family: None,
        specs,
        slots,
        need_one: &[],
        need_all: &[],
        proto: None,
        chains: None,
        reason,
    }
}

const NO_NFT: &str = "nftables has no equivalent";
const EXTHDR: &str = "only --fragid, --fragfirst/--fragmore/--fraglast, --rt-type and \
     --rt-segsleft have exact nft equivalents: the length options count bytes where nft's \
     `hdrlength` counts 8-byte units, and option lists, reserved bits and --header are not \
     translated";

/// The opaque modules, in the order hints list them.
pub(super) const MODULES: &[OpaqueModule] = &[
    OpaqueModule {
        family: Some(Family::Ipv6),
        ..m("frag", FRAG, FRAG_S, EXTHDR)
    },
    OpaqueModule {
        family: Some(Family::Ipv6),
        ..m("rt", RT, RT_S, EXTHDR)
    },
    OpaqueModule {
        family: Some(Family::Ipv6),
        ..m("hbh", HBH, EXT_S, EXTHDR)
    },
    OpaqueModule {
        family: Some(Family::Ipv6),
        ..m("dst", DST, EXT_S, EXTHDR)
    },
    OpaqueModule {
        family: Some(Family::Ipv6),
        need_one: &["--header"],
        ..m("ipv6header", IPV6HEADER, IPV6HEADER_S, EXTHDR)
    },
    m(
        "ah",
        AH,
        AH_S,
        "only IPv4 `--ahspi` has an nft equivalent (`ah spi`); IPv6 AH is an extension header",
    ),
    OpaqueModule {
        proto: Some((&[50], "esp")),
        ..m(
            "esp",
            ESP,
            SPI_S,
            "rampart does not translate this option to nft",
        )
    },
    OpaqueModule {
        proto: Some((&[108], "ipcomp")),
        ..m(
            "ipcomp",
            IPCOMP,
            IPCOMP_S,
            "nft's `comp cpi` holds 16 bits and has no --compres",
        )
    },
    OpaqueModule {
        proto: Some((&[33], "dccp")),
        ..m("dccp", DCCP, DCCP_S, "nft has no --dccp-option")
    },
    OpaqueModule {
        family: Some(Family::Ipv6),
        proto: Some((&[135], "mh")),
        ..m(
            "mh",
            MH,
            MH_S,
            "rampart does not translate this option to nft",
        )
    },
    OpaqueModule {
        family: Some(Family::Ipv6),
        chains: Some(IN_CHAINS),
        ..m(
            "eui64",
            NONE,
            NO_SLOTS,
            "nftables cannot compare the source address with the frame's MAC address",
        )
    },
    OpaqueModule {
        need_one: &["--ecn-tcp-ece", "--ecn-tcp-cwr", "--ecn-ip-ect"],
        ..m(
            "ecn",
            ECN,
            ECN_S,
            "rampart does not translate this option to nft",
        )
    },
    OpaqueModule {
        need_all: &["--connbytes", "--connbytes-mode", "--connbytes-dir"],
        ..m(
            "connbytes",
            CONNBYTES,
            CONNBYTES_S,
            "rampart does not translate this option to nft",
        )
    },
    OpaqueModule {
        need_one: &["--label"],
        ..m(
            "connlabel",
            CONNLABEL,
            CONNLABEL_S,
            "connection labels by number need nft's connlabel.conf names",
        )
    },
    OpaqueModule {
        need_one: &["--quota"],
        ..m(
            "quota",
            QUOTA,
            QUOTA_S,
            "nft quotas hold at most 2^63-1 bytes",
        )
    },
    OpaqueModule {
        chains: Some(&["PREROUTING", "INPUT"]),
        ..m(
            "socket",
            SOCKET,
            SOCKET_S,
            "rampart does not translate -m socket to nft's socket expressions yet",
        )
    },
    OpaqueModule {
        need_one: &["--path", "--cgroup"],
        chains: Some(&["INPUT", "OUTPUT", "POSTROUTING"]),
        ..m(
            "cgroup",
            CGROUP,
            CGROUP_S,
            "rampart does not translate --path to nft's `socket cgroupv2` yet",
        )
    },
    OpaqueModule {
        need_one: &["--cpu"],
        ..m(
            "cpu",
            CPU,
            NUM_S,
            "rampart does not translate this option to nft",
        )
    },
    OpaqueModule {
        need_one: &["--nfacct-name"],
        ..m(
            "nfacct",
            NFACCT,
            WORD_S,
            "nfacct objects are not nftables counters",
        )
    },
    m("ipvs", IPVS, IPVS_S, NO_NFT),
    OpaqueModule {
        family: Some(Family::Ipv4),
        need_one: &["--realm"],
        ..m(
            "realm",
            REALM,
            REALM_S,
            "rampart does not translate this option to nft",
        )
    },
    OpaqueModule {
        need_all: &["--cluster-total-nodes", "--cluster-hash-seed"],
        need_one: &["--cluster-local-nodemask", "--cluster-local-node"],
        ..m("cluster", CLUSTER, CLUSTER_S, NO_NFT)
    },
    OpaqueModule {
        family: Some(Family::Ipv6),
        ..m(
            "srh",
            SRH,
            SRH_S,
            "rampart does not translate -m srh to nft's exthdr srh yet",
        )
    },
    OpaqueModule {
        need_one: &["--bytecode", "--object-pinned"],
        ..m("bpf", BPF, BPF_S, NO_NFT)
    },
    OpaqueModule {
        family: Some(Family::Ipv4),
        need_one: &["--genre"],
        proto: Some((&[6], "tcp")),
        ..m(
            "osf",
            OSF,
            OSF_S,
            "rampart does not translate -m osf to nft's osf expression yet",
        )
    },
    OpaqueModule {
        need_one: &["--u32"],
        ..m(
            "u32",
            U32_OPT,
            U32_S,
            "nftables has no u32 expression (raw payload matches cannot follow its `@` jumps)",
        )
    },
];

/// An opaque module being filled: (option index, negated, printed value) per option.
#[derive(Debug)]
pub(super) struct Draft {
    module: &'static OpaqueModule,
    given: Vec<(usize, bool, Option<String>)>,
}

impl Draft {
    /// A fresh draft for `name` in `family`.
    pub fn new(name: &str, family: Family) -> Option<Draft> {
        let module = MODULES
            .iter()
            .find(|m| m.name == name && m.family.is_none_or(|f| f == family))?;
        Some(Draft {
            module,
            given: Vec::new(),
        })
    }

    /// Takes one option.
    pub fn set(
        &mut self,
        ctx: &RuleCtx<'_>,
        key: &'static str,
        opt: &Word,
        args: &[Word],
        negated: bool,
    ) -> Result<(), ParseError> {
        let index = self
            .module
            .specs
            .iter()
            .position(|s| s.names[0] == key)
            .expect("the option is one of the module's");
        if self.module.name == "ah"
            && ctx.family == Family::Ipv4
            && matches!(key, "--ahlen" | "--ahres")
        {
            return Err(ctx
                .error(opt, ErrorKind::UnknownOption(opt.text.clone()))
                .with_hint("--ahlen and --ahres are ip6tables options"));
        }
        let slot = self.module.slots[index];
        // Two spellings printed as one option conflict.
        if let Some(p) = slot.print_as {
            if let Some((i, _, _)) = self.given.iter().find(|(i, _, _)| {
                self.module.specs[*i].names[0] == p || self.module.slots[*i].print_as == Some(p)
            }) {
                return Err(ctx.error(
                    opt,
                    ErrorKind::Conflict(opt.text.clone(), self.module.specs[*i].names[0].into()),
                ));
            }
        }
        if self.module.specs[index].names[0] == "--cluster-local-nodemask"
            && self.given.iter().any(|(i, _, _)| *i == index + 1)
        {
            return Err(ctx.error(
                opt,
                ErrorKind::Conflict(opt.text.clone(), "--cluster-local-node".into()),
            ));
        }
        let value = match slot.kind {
            Kind::Flag => None,
            kind => Some(ctx.value(opt, &args[0], |t| read(kind, t, ctx.family))?),
        };
        self.given.push((index, negated, value));
        Ok(())
    }

    /// The finished match.
    pub fn finish(mut self, ctx: &RuleCtx<'_>, word: &Word) -> Result<Match, ParseError> {
        let m = self.module;
        let has = |name: &str| {
            self.given
                .iter()
                .any(|(i, _, _)| m.specs[*i].names[0] == name)
        };
        let missing = |what: String| {
            Err(ctx
                .error(
                    word,
                    ErrorKind::MissingValue(format!("-m {} {what}", m.name)),
                )
                .with_hint(format!("-m {} needs {what}", m.name)))
        };
        if !m.need_one.is_empty() && !m.need_one.iter().any(|n| has(n)) {
            return missing(m.need_one.join(" or "));
        }
        if let Some(n) = m.need_all.iter().find(|n| !has(n)) {
            return missing(n.to_string());
        }
        let tcp_ecn = has("--ecn-tcp-ece") || has("--ecn-tcp-cwr");
        let ah4 = m.name == "ah" && ctx.family == Family::Ipv4;
        if let Some((protos, name)) = m.proto {
            let protos: Vec<Protocol> = protos.iter().map(|p| Protocol(*p)).collect();
            ctx.need_protocol(word, &format!("-m {}", m.name), &protos, name)?;
        } else if tcp_ecn {
            ctx.need_protocol(word, "--ecn-tcp-ece/--ecn-tcp-cwr", &[Protocol::TCP], "tcp")?;
        } else if ah4 {
            ctx.need_protocol(word, "-m ah", &[Protocol(51)], "ah")?;
        }
        if let Some(chains) = m.chains {
            ctx.only_in_chains(word, &format!("-m {}", m.name), chains)?;
        }
        self.given.sort_by_key(|(i, _, _)| *i);
        let mut args = Vec::new();
        let word = |text: &str, quoted: bool| OpaqueArg {
            text: text.to_string(),
            quoted,
        };
        for (i, negated, value) in &self.given {
            if *negated {
                args.push(word("!", false));
            }
            let slot = m.slots[*i];
            args.push(word(slot.print_as.unwrap_or(m.specs[*i].names[0]), false));
            if let Some(v) = value {
                let quoted = matches!(slot.kind, Kind::CustomQuoted(_));
                args.push(word(v, quoted));
            }
        }
        Ok(Match::Opaque(OpaqueMatch {
            name: m.name.to_string(),
            args,
        }))
    }
}

/// Why `compile` refuses the opaque module `name`.
pub(crate) fn refusal(name: &str) -> &'static str {
    MODULES
        .iter()
        .find(|m| m.name == name)
        .map_or(NO_NFT, |m| m.reason)
}

fn read(kind: Kind, text: &str, family: Family) -> ValueResult<String> {
    Ok(match kind {
        Kind::Flag => String::new(),
        Kind::Num(max) => values::bounded(text, max)?.to_string(),
        Kind::Range(max) => {
            let n = |t: &str| values::bounded(t, max);
            match text.split_once(':') {
                Some((a, b)) => {
                    let lo = if a.is_empty() { 0 } else { n(a)? };
                    let hi = if b.is_empty() { max } else { n(b)? };
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}:{hi}")
                    }
                }
                None => n(text)?.to_string(),
            }
        }
        Kind::Hex8 => format!("0x{:08x}", values::u32_value(text)?),
        Kind::HexMask => {
            let v = values::mark(text)?;
            if v.mask == u32::MAX {
                format!("{:#x}", v.value)
            } else {
                format!("{:#x}/{:#x}", v.value, v.mask)
            }
        }
        Kind::Word => {
            if text.is_empty() || text.len() > 255 {
                return Err("1 to 255 characters".into());
            }
            text.to_string()
        }
        Kind::Choice(names) => names
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, p)| p.to_string())
            .ok_or_else(|| {
                let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                format!("write one of {}", all.join(", "))
            })?,
        Kind::Custom(f) | Kind::CustomQuoted(f) => f(text, family)?,
        Kind::NodeMask => {
            let n = values::bounded(text, 32)?;
            if n == 0 {
                return Err("nodes are numbered from 1".into());
            }
            format!("0x{:08x}", 1u32 << (n - 1))
        }
    })
}

fn ports(text: &str, _: Family) -> ValueResult<String> {
    Ok(values::port_range(text, ':')?.to_string())
}

/// An address with an optional length, printed `addr/len` with the address as given
/// (the kernel keeps the address and the mask apart, unmasked).
fn prefix(text: &str, family: Family) -> ValueResult<String> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let a: std::net::IpAddr = addr
        .parse()
        .map_err(|_| format!("`{addr}` is not an address"))?;
    values::check_family(a, family)?;
    let width = if a.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => values::bounded(l, width)?,
        None => width,
    };
    Ok(format!("{a}/{len}"))
}

fn proto_number(text: &str, _: Family) -> ValueResult<String> {
    Ok(values::protocol(text)?.map_or(0, |p| p.0).to_string())
}

fn v6_list(text: &str, _: Family) -> ValueResult<String> {
    let addrs = text
        .split(',')
        .map(|a| {
            a.parse::<Ipv6Addr>()
                .map(|a| a.to_string())
                .map_err(|_| format!("`{a}` is not an IPv6 address"))
        })
        .collect::<ValueResult<Vec<_>>>()?;
    if addrs.len() > 16 {
        return Err("at most 16 addresses".into());
    }
    Ok(addrs.join(","))
}

/// `--hbh-opts` / `--dst-opts`: `type[:length]`, comma-separated.
fn ext_opts(text: &str, _: Family) -> ValueResult<String> {
    let items = text
        .split(',')
        .map(|item| {
            let n = |t: &str| values::bounded(t, 255);
            Ok(match item.split_once(':') {
                Some((t, l)) => format!("{}:{}", n(t)?, n(l)?),
                None => n(item)?.to_string(),
            })
        })
        .collect::<ValueResult<Vec<_>>>()?;
    if items.len() > 16 {
        return Err("at most 16 options".into());
    }
    Ok(items.join(","))
}

/// ipv6header's names, printed in its bitmask order (highest bit first).
const V6_HEADERS: &[(&[&str], u8, &str)] = &[
    (&["hop", "hop-by-hop", "0"], 0, "hop-by-hop"),
    (&["dst", "ipv6-opts", "60"], 1, "ipv6-opts"),
    (&["route", "ipv6-route", "43"], 2, "ipv6-route"),
    (&["frag", "ipv6-frag", "44"], 3, "ipv6-frag"),
    (&["auth", "ah", "51"], 4, "ah"),
    (&["esp", "50"], 5, "esp"),
    (&["none", "ipv6-nonxt", "59"], 6, "ipv6-nonxt"),
    (&["prot", "protocol", "255"], 7, "protocol"),
];

fn v6_headers(text: &str, _: Family) -> ValueResult<String> {
    let mut bits = 0u8;
    for part in text.split(',') {
        let (_, bit, _) = V6_HEADERS
            .iter()
            .find(|(names, _, _)| names.contains(&part))
            .ok_or_else(|| format!("`{part}` is not an IPv6 header name"))?;
        bits |= 1 << bit;
    }
    Ok(V6_HEADERS
        .iter()
        .filter(|(_, bit, _)| bits & (1 << bit) != 0)
        .map(|(_, _, name)| *name)
        .collect::<Vec<_>>()
        .join(","))
}

const DCCP_TYPES: &[&str] = &[
    "REQUEST", "RESPONSE", "DATA", "ACK", "DATAACK", "CLOSEREQ", "CLOSE", "RESET", "SYNC",
    "SYNCACK", "INVALID",
];

fn dccp_types(text: &str, _: Family) -> ValueResult<String> {
    let mut bits = 0u16;
    for part in text.split(',') {
        let i = DCCP_TYPES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(part))
            .ok_or_else(|| format!("`{part}` is not a DCCP packet type"))?;
        bits |= 1 << i;
    }
    Ok(DCCP_TYPES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(","))
}

const MH_TYPES: &[(&str, &str, u8)] = &[
    ("binding-refresh-request", "brr", 0),
    ("home-test-init", "hoti", 1),
    ("careof-test-init", "coti", 2),
    ("home-test", "hot", 3),
    ("careof-test", "cot", 4),
    ("binding-update", "bu", 5),
    ("binding-acknowledgement", "ba", 6),
    ("binding-error", "be", 7),
];

fn mh_types(text: &str, _: Family) -> ValueResult<String> {
    let one = |t: &str| -> ValueResult<u8> {
        if let Some((_, _, n)) = MH_TYPES.iter().find(|(l, s, _)| *l == t || *s == t) {
            return Ok(*n);
        }
        values::bounded(t, 255).map(|n| n as u8)
    };
    Ok(match text.split_once(':') {
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { one(a)? };
            let hi = if b.is_empty() { 255 } else { one(b)? };
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}:{hi}")
            }
        }
        None => one(text)?.to_string(),
    })
}

/// `--connbytes from[:to]`: libxt_connbytes prints `from` alone when there is no upper
/// bound.
fn connbytes(text: &str, _: Family) -> ValueResult<String> {
    let n = |t: &str| values::bounded(t, u64::MAX);
    Ok(match text.split_once(':') {
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { n(a)? };
            if b.is_empty() {
                lo.to_string()
            } else {
                format!("{lo}:{}", n(b)?)
            }
        }
        None => n(text)?.to_string(),
    })
}

/// Labels by number (names need `/etc/xtables/connlabel.conf`, which differs per host).
fn label(text: &str, _: Family) -> ValueResult<String> {
    values::bounded(text, 127)
        .map(|n| n.to_string())
        .map_err(|_| "write the label number 0-127 (names depend on connlabel.conf)".into())
}

/// `--bytecode "N,op jt jf k,..."` (the form `nfbpf_compile` prints): N instructions of
/// four numbers each.
fn bytecode(text: &str, _: Family) -> ValueResult<String> {
    let mut parts = text.split(',');
    let count: usize = parts
        .next()
        .and_then(|n| n.trim().parse().ok())
        .ok_or("bytecode starts with the instruction count")?;
    let insns: Vec<&str> = parts.collect();
    if count == 0 || count > 64 || insns.len() != count {
        return Err(format!(
            "the count ({count}) must equal the instructions given ({}) and be 1 to 64",
            insns.len()
        ));
    }
    for i in &insns {
        let nums: Vec<&str> = i.split_whitespace().collect();
        if nums.len() != 4 || nums.iter().any(|n| n.parse::<u64>().is_err()) {
            return Err(format!("`{i}` is not four numbers `code jt jf k`"));
        }
    }
    Ok(text.to_string())
}

/// The u32 expression grammar (libxt_u32): tests joined by `&&`; a test is a location
/// (a number, then `&N`, `<<N`, `>>N` or `@N` steps), `=`, and a comma list of values or
/// `a:b` ranges. Printed in libxt_u32's canonical form: hex numbers, no spaces.
fn u32_expr(text: &str, _: Family) -> ValueResult<String> {
    const MAX_TESTS: usize = 10;
    const MAX_STEPS: usize = 10;
    const MAX_VALUES: usize = 10;
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let num = |t: &str| -> ValueResult<u32> {
        values::u32_value(t).map_err(|_| format!("`{t}` is not a 32-bit number"))
    };
    let mut tests = Vec::new();
    for test in squeezed.split("&&") {
        let (loc, vals) = test
            .split_once('=')
            .ok_or_else(|| format!("`{test}` has no `=`"))?;
        let mut out = String::new();
        let mut rest = loc;
        let first_end = rest.find(['&', '<', '>', '@']).unwrap_or(rest.len());
        out.push_str(&format!("{:#x}", num(&rest[..first_end])?));
        rest = &rest[first_end..];
        let mut steps = 0;
        while !rest.is_empty() {
            let (op, tail) = if let Some(t) = rest.strip_prefix("<<") {
                ("<<", t)
            } else if let Some(t) = rest.strip_prefix(">>") {
                (">>", t)
            } else if let Some(t) = rest.strip_prefix('&') {
                ("&", t)
            } else if let Some(t) = rest.strip_prefix('@') {
                ("@", t)
            } else {
                return Err(format!("unexpected `{rest}`"));
            };
            let end = tail.find(['&', '<', '>', '@']).unwrap_or(tail.len());
            out.push_str(&format!("{op}{:#x}", num(&tail[..end])?));
            rest = &tail[end..];
            steps += 1;
            if steps >= MAX_STEPS {
                return Err(format!("at most {MAX_STEPS} steps per location"));
            }
        }
        out.push('=');
        let values = vals
            .split(',')
            .map(|v| {
                Ok(match v.split_once(':') {
                    Some((a, b)) => format!("{:#x}:{:#x}", num(a)?, num(b)?),
                    None => format!("{:#x}", num(v)?),
                })
            })
            .collect::<ValueResult<Vec<_>>>()?;
        if values.len() > MAX_VALUES {
            return Err(format!("at most {MAX_VALUES} values per test"));
        }
        out.push_str(&values.join(","));
        tests.push(out);
        if tests.len() > MAX_TESTS {
            return Err(format!("at most {MAX_TESTS} tests"));
        }
    }
    Ok(tests.join("&&"))
}
