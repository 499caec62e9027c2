//! The netfilter ruleset model: tables, chains, rules (matches + target), counters and sets.
//!
//! This is the one model (DESIGN decision 3) that the iptables parsers produce and that the
//! simulator, analyser and nft compiler read. It mirrors what the kernel holds, not the text
//! that produced it: `-s a,b` is two rules, `--set-mark` is stored as the `xmark` pair the
//! kernel keeps, and every option has exactly one representation, so two texts that load the
//! same kernel state give equal models.

use std::fmt;
use std::net::IpAddr;

use rampart_prefix::{AddrRange, Prefix};
use serde::{Deserialize, Serialize};

use crate::span::Span;

mod modules;
pub use crate::model_targets::*;
pub use modules::*;

/// Address family of a table: iptables (IPv4) or ip6tables (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4 (`iptables`).
    Ipv4,
    /// IPv6 (`ip6tables`).
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }

    /// The command that manages this family's tables.
    pub fn command(self) -> &'static str {
        match self {
            Family::Ipv4 => "iptables",
            Family::Ipv6 => "ip6tables",
        }
    }
}

/// The five iptables tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// `raw`: before conntrack; NOTRACK and TRACE live here.
    Raw,
    /// `mangle`: packet and connection marks.
    Mangle,
    /// `nat`: consulted for the first packet of each connection only.
    Nat,
    /// `filter`: the default table.
    Filter,
    /// `security`: SELinux marks, after filter.
    Security,
}

impl TableKind {
    /// All tables, in a stable order.
    pub const ALL: [TableKind; 5] = [
        TableKind::Raw,
        TableKind::Mangle,
        TableKind::Nat,
        TableKind::Filter,
        TableKind::Security,
    ];

    /// The table's name as iptables spells it.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Raw => "raw",
            TableKind::Mangle => "mangle",
            TableKind::Nat => "nat",
            TableKind::Filter => "filter",
            TableKind::Security => "security",
        }
    }

    /// Parses a table name.
    pub fn from_name(name: &str) -> Option<TableKind> {
        TableKind::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The built-in chains of this table, in kernel hook order.
    pub fn builtin_chains(self) -> &'static [&'static str] {
        match self {
            TableKind::Raw => &["PREROUTING", "OUTPUT"],
            TableKind::Mangle => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
            TableKind::Nat => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
            TableKind::Filter | TableKind::Security => &["INPUT", "FORWARD", "OUTPUT"],
        }
    }
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Packet and byte counters, as `[packets:bytes]` in `iptables-save -c`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counters {
    /// Packets matched.
    pub packets: u64,
    /// Bytes matched.
    pub bytes: u64,
}

/// The policy of a built-in chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Policy {
    /// Let the packet continue to the next hook.
    Accept,
    /// Discard the packet silently.
    Drop,
}

impl Policy {
    /// The policy's iptables name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Accept => "ACCEPT",
            Policy::Drop => "DROP",
        }
    }
}

/// A whole ruleset: the tables of both families plus the ipsets the rules refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    /// Tables present, at most one per (family, kind), sorted by (family, kind).
    pub tables: Vec<Table>,
    /// Named sets (ipset), shared by both families as in the kernel.
    pub sets: Vec<IpSet>,
}

impl Ruleset {
    /// The table of this family and kind, if any rule or policy created it.
    pub fn table(&self, family: Family, kind: TableKind) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.family == family && t.kind == kind)
    }

    /// The table, created with its built-in chains (policy ACCEPT) when absent, as the
    /// kernel does on first use.
    pub fn table_mut(&mut self, family: Family, kind: TableKind) -> &mut Table {
        let index = match self
            .tables
            .iter()
            .position(|t| t.family == family && t.kind == kind)
        {
            Some(i) => i,
            None => {
                // Kept sorted by (family, kind) so that equal kernel states compare equal
                // whatever order their text created the tables in.
                let at = self
                    .tables
                    .partition_point(|t| (t.family, t.kind) < (family, kind));
                self.tables.insert(at, Table::new(family, kind));
                at
            }
        };
        &mut self.tables[index]
    }

    /// The set with this name.
    pub fn set(&self, name: &str) -> Option<&IpSet> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// Total number of rules in all tables.
    pub fn rule_count(&self) -> usize {
        self.tables
            .iter()
            .flat_map(|t| &t.chains)
            .map(|c| c.rules.len())
            .sum()
    }

    /// The sets rules use (`-m set --match-set`, `-j SET`) that the ruleset does not
    /// define, each with the number of rules using it, by name. The kernel refuses such a
    /// rule until the set exists; an iptables-save file usually comes without its sets
    /// (`ipset save` keeps them).
    pub fn undefined_sets(&self) -> Vec<(String, usize)> {
        let mut used: std::collections::BTreeMap<&str, usize> = Default::default();
        for rule in self
            .tables
            .iter()
            .flat_map(|t| &t.chains)
            .flat_map(|c| &c.rules)
        {
            let mut names: Vec<&str> = rule
                .spec
                .matches
                .iter()
                .filter_map(|m| match m {
                    Match::Set(s) => Some(s.name.as_str()),
                    _ => None,
                })
                .collect();
            if let Some(Action::Jump(Target::Set(t))) = &rule.spec.action {
                names.push(&t.set);
            }
            names.sort_unstable();
            names.dedup();
            for n in names {
                if self.set(n).is_none() {
                    *used.entry(n).or_default() += 1;
                }
            }
        }
        used.into_iter().map(|(n, c)| (n.to_string(), c)).collect()
    }
}

/// One table of one family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// IPv4 or IPv6.
    pub family: Family,
    /// Which of the five tables.
    pub kind: TableKind,
    /// Built-in chains first (kernel order), then user chains in name (byte) order, as the
    /// kernel lists them and `iptables-save` prints them.
    pub chains: Vec<Chain>,
}

impl Table {
    /// A table holding its built-in chains with policy ACCEPT and no rules.
    pub fn new(family: Family, kind: TableKind) -> Table {
        Table {
            family,
            kind,
            chains: kind
                .builtin_chains()
                .iter()
                .map(|name| Chain {
                    name: (*name).to_string(),
                    policy: Some(Policy::Accept),
                    counters: Counters::default(),
                    rules: Vec::new(),
                })
                .collect(),
        }
    }

    /// The chain with this name: the built-in chains (at most five, first), then a binary
    /// search of the user chains, which [`Table::add_chain`] keeps in name order (50,000
    /// chains took 16 s to load when every lookup and insertion scanned them).
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chain_index(name).map(|i| &self.chains[i])
    }

    /// The chain with this name, mutably.
    pub fn chain_mut(&mut self, name: &str) -> Option<&mut Chain> {
        self.chain_index(name).map(|i| &mut self.chains[i])
    }

    fn user_start(&self) -> usize {
        self.chains.iter().take_while(|c| c.is_builtin()).count()
    }

    fn chain_index(&self, name: &str) -> Option<usize> {
        let start = self.user_start();
        if let Some(i) = self.chains[..start].iter().position(|c| c.name == name) {
            return Some(i);
        }
        self.chains[start..]
            .binary_search_by(|c| c.name.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| start + i)
    }

    /// Adds user chain `chain` in its place in name order (byte order, after the built-in
    /// chains: as the kernel lists them and iptables-save prints them); false when a
    /// chain of that name exists (nothing is added). Every user chain is added through
    /// here: the lookups rely on the order.
    pub fn add_chain(&mut self, chain: Chain) -> bool {
        let start = self.user_start();
        match self.chains[start..]
            .binary_search_by(|c| c.name.as_bytes().cmp(chain.name.as_bytes()))
        {
            Ok(_) => false,
            Err(i) => {
                self.chains.insert(start + i, chain);
                true
            }
        }
    }
}

/// A chain: built-in (has a policy) or user-defined (no policy; falls back to the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    /// Chain name (built-in names are upper case).
    pub name: String,
    /// `Some` for built-in chains, `None` for user chains.
    pub policy: Option<Policy>,
    /// Policy counters (built-in chains only).
    pub counters: Counters,
    /// Rules, evaluated in order.
    pub rules: Vec<Rule>,
}

impl Chain {
    /// True for the chains the kernel creates with the table.
    pub fn is_builtin(&self) -> bool {
        self.policy.is_some()
    }
}

/// A rule with its counters and the place in the input it came from.
///
/// Equality ignores `span`: two rules loading the same kernel state are equal wherever they
/// were written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    /// What the rule matches and does.
    pub spec: RuleSpec,
    /// Packets and bytes matched so far.
    pub counters: Counters,
    /// Where the rule was written, for error messages and traces.
    #[serde(skip)]
    pub span: Option<Span>,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.spec == other.spec && self.counters == other.counters
    }
}

impl Eq for Rule {}

/// A value with iptables' `!` in front of it or not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Neg<T> {
    /// True when written `! value`.
    pub negated: bool,
    /// The value itself.
    pub value: T,
}

impl<T> Neg<T> {
    /// A value without negation.
    pub fn plain(value: T) -> Neg<T> {
        Neg {
            negated: false,
            value,
        }
    }

    /// The result of testing the value, flipped when negated.
    pub fn apply(&self, matched: bool) -> bool {
        matched != self.negated
    }
}

/// What a rule matches and what it does: the part of a rule that `-D` compares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuleSpec {
    /// `-s`: source prefix.
    pub source: Option<Neg<Prefix>>,
    /// `-d`: destination prefix.
    pub destination: Option<Neg<Prefix>>,
    /// `-i`: input interface (`+` suffix is a wildcard).
    pub in_interface: Option<Neg<Interface>>,
    /// `-o`: output interface.
    pub out_interface: Option<Neg<Interface>>,
    /// `-p`: protocol; absent means `all`.
    pub protocol: Option<Neg<Protocol>>,
    /// `-f`: `Some(true)` for second and later fragments, `Some(false)` for `! -f`.
    pub fragment: Option<bool>,
    /// `-m` modules in the order written.
    pub matches: Vec<Match>,
    /// `-j` or `-g`; `None` for a rule that only counts.
    pub action: Option<Action>,
}

/// A network interface name as a match; a trailing `+` matches any name with that prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Interface(pub String);

impl Interface {
    /// Whether an interface called `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self.0.strip_suffix('+') {
            Some(stem) => name.starts_with(stem),
            None => self.0 == name,
        }
    }
}

/// An IP protocol number, printed by name when it has a well-known one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Protocol(pub u8);

impl Protocol {
    /// ICMP.
    pub const ICMP: Protocol = Protocol(1);
    /// TCP.
    pub const TCP: Protocol = Protocol(6);
    /// UDP.
    pub const UDP: Protocol = Protocol(17);
    /// ICMPv6.
    pub const ICMPV6: Protocol = Protocol(58);

    const NAMES: [(&'static str, u8); 11] = [
        ("icmp", 1),
        ("igmp", 2),
        ("tcp", 6),
        ("udp", 17),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("icmpv6", 58),
        ("sctp", 132),
        ("udplite", 136),
        ("dccp", 33),
    ];

    /// The names of netbase's `/etc/protocols`, which `iptables-save` prints (it asks
    /// `getprotobynumber`), so that a kernel dump reads back and our printout matches it.
    pub const NETBASE: [(&'static str, u8); 52] = [
        ("icmp", 1),
        ("igmp", 2),
        ("ggp", 3),
        ("ipencap", 4),
        ("st", 5),
        ("tcp", 6),
        ("egp", 8),
        ("igp", 9),
        ("pup", 12),
        ("udp", 17),
        ("hmp", 20),
        ("xns-idp", 22),
        ("rdp", 27),
        ("iso-tp4", 29),
        ("dccp", 33),
        ("xtp", 36),
        ("ddp", 37),
        ("idpr-cmtp", 38),
        ("ipv6", 41),
        ("ipv6-route", 43),
        ("ipv6-frag", 44),
        ("idrp", 45),
        ("rsvp", 46),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("skip", 57),
        ("ipv6-icmp", 58),
        ("ipv6-nonxt", 59),
        ("ipv6-opts", 60),
        ("rspf", 73),
        ("vmtp", 81),
        ("eigrp", 88),
        ("ospf", 89),
        ("ax.25", 93),
        ("ipip", 94),
        ("etherip", 97),
        ("encap", 98),
        ("pim", 103),
        ("ipcomp", 108),
        ("vrrp", 112),
        ("l2tp", 115),
        ("isis", 124),
        ("sctp", 132),
        ("fc", 133),
        ("mobility-header", 135),
        ("udplite", 136),
        ("mpls-in-ip", 137),
        ("manet", 138),
        ("hip", 139),
        ("shim6", 140),
        ("wesp", 141),
    ];

    /// The `/etc/protocols` (netbase) name, as `iptables-save` prints it.
    pub fn netbase_name(self) -> Option<&'static str> {
        Protocol::NETBASE
            .iter()
            .find(|(_, n)| *n == self.0)
            .map(|(name, _)| *name)
    }

    /// Parses a name (`tcp`, `ipv6-icmp`, ...) or a number; `all`/`0` is not a protocol here
    /// (the caller stores it as no match at all).
    pub fn from_name(name: &str) -> Option<Protocol> {
        let lower = name.to_ascii_lowercase();
        let lower = match lower.as_str() {
            "ipv6-icmp" | "icmp6" => "icmpv6",
            // libxtables' own aliases for the IPv6 mobility header.
            "mh" | "ipv6-mh" => "mobility-header",
            other => other,
        };
        if let Some((_, n)) = Protocol::NAMES
            .iter()
            .chain(&Protocol::NETBASE)
            .find(|(n, _)| *n == lower)
        {
            return Some(Protocol(*n));
        }
        lower.parse::<u8>().ok().filter(|n| *n != 0).map(Protocol)
    }

    /// The well-known name, if any.
    pub fn name(self) -> Option<&'static str> {
        Protocol::NAMES
            .iter()
            .find(|(_, n)| *n == self.0)
            .map(|(name, _)| *name)
    }

    /// Whether the protocol carries 16-bit ports at the start of its header.
    pub fn has_ports(self) -> bool {
        matches!(self.0, 6 | 17 | 132 | 136 | 33)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// An inclusive port range; a single port has `lo == hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl PortRange {
    /// One port.
    pub fn single(port: u16) -> PortRange {
        PortRange { lo: port, hi: port }
    }

    /// Whether `port` is inside.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}:{}", self.lo, self.hi)
        }
    }
}

/// TCP flag bits, as in the TCP header's flags byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// The six flags iptables knows by name, in its print order.
    pub const NAMES: [(&'static str, u8); 6] = [
        ("FIN", 0x01),
        ("SYN", 0x02),
        ("RST", 0x04),
        ("PSH", 0x08),
        ("ACK", 0x10),
        ("URG", 0x20),
    ];
    /// `ALL` as iptables means it: the six named flags.
    pub const ALL: u8 = 0x3f;

    /// Whether every bit of `bits` is set.
    pub fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }
}

impl fmt::Display for TcpFlags {
    /// The flag names in iptables' order, comma-separated (`SYN,ACK`), or `NONE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = TcpFlags::NAMES
            .iter()
            .filter(|(_, b)| self.0 & b != 0)
            .map(|(n, _)| *n);
        match names.next() {
            None => f.write_str("NONE"),
            Some(first) => {
                f.write_str(first)?;
                names.try_for_each(|n| write!(f, ",{n}"))
            }
        }
    }
}

/// `--tcp-flags MASK COMP`: the flags in `mask` are examined and must equal `comp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TcpFlagsMatch {
    /// Flags to examine.
    pub mask: TcpFlags,
    /// Flags among `mask` that must be set (the others must be clear).
    pub comp: TcpFlags,
}

impl TcpFlagsMatch {
    /// What `--syn` means: SYN set, RST, ACK and FIN clear.
    pub const SYN: TcpFlagsMatch = TcpFlagsMatch {
        mask: TcpFlags(TcpFlags::FIN | TcpFlags::SYN | TcpFlags::RST | TcpFlags::ACK),
        comp: TcpFlags(TcpFlags::SYN),
    };
}

/// One `-m` module (or an implicit protocol match) of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "module", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Match {
    /// `-m tcp`: ports and flags.
    Tcp(TcpMatch),
    /// `-m udp`: ports.
    Udp(UdpMatch),
    /// `-m icmp --icmp-type`.
    Icmp(Neg<IcmpType>),
    /// `-m icmp6 --icmpv6-type`.
    Icmp6(Neg<IcmpType>),
    /// `-m multiport`.
    Multiport(MultiportMatch),
    /// `-m state --state`.
    State(Neg<CtStates>),
    /// `-m conntrack`.
    Conntrack(ConntrackMatch),
    /// `-m limit`.
    Limit(LimitMatch),
    /// `-m hashlimit`.
    Hashlimit(Box<HashlimitMatch>),
    /// `-m connlimit`.
    Connlimit(ConnlimitMatch),
    /// `-m recent`.
    Recent(RecentMatch),
    /// `-m comment --comment`.
    ///
    /// Serialized as `{"module": "comment", "text": ...}`: serde cannot put the tag of an
    /// internally tagged enum beside a bare string.
    #[serde(with = "comment_text")]
    Comment(String),
    /// `-m set --match-set`.
    Set(SetMatch),
    /// `-m iprange`.
    Iprange(IprangeMatch),
    /// `-m mac --mac-source`.
    Mac(Neg<MacAddr>),
    /// `-m length --length`.
    Length(Neg<LengthRange>),
    /// `-m addrtype`.
    Addrtype(AddrtypeMatch),
    /// `-m mark --mark`.
    Mark(Neg<MarkValue>),
    /// `-m owner`.
    Owner(OwnerMatch),
    /// `-m pkttype --pkt-type`.
    Pkttype(Neg<PktType>),
    /// `-m connmark --mark`.
    Connmark(Neg<MarkValue>),
    /// `-m ttl` (IPv4).
    Ttl(TtlMatch),
    /// `-m hl` (IPv6).
    Hl(TtlMatch),
    /// `-m dscp --dscp` / `--dscp-class`: the 6-bit DSCP.
    Dscp(Neg<u8>),
    /// `-m tos --tos`.
    Tos(Neg<TosValue>),
    /// `-m time`.
    Time(TimeMatch),
    /// `-m string`.
    String(StringMatch),
    /// `-m statistic`.
    Statistic(StatisticMatch),
    /// `-m helper --helper`.
    Helper(Neg<String>),
    /// `-m policy`.
    Policy(PolicyMatch),
    /// `-m rpfilter`.
    Rpfilter(RpfilterMatch),
    /// `-m physdev`.
    Physdev(Box<PhysdevMatch>),
    /// `-m tcpmss --mss`.
    Tcpmss(Neg<PortRange>),
    /// `-m sctp`.
    Sctp(Box<SctpMatch>),
    /// `-m devgroup`.
    Devgroup(DevgroupMatch),
    /// `-s`/`-d` with a netmask that is no prefix (see [`AddrMaskMatch`]).
    AddrMask(AddrMaskMatch),
    /// A module read and printed but not modelled (see [`OpaqueMatch`]).
    Opaque(OpaqueMatch),
}

impl Match {
    /// The module name as written after `-m`.
    pub fn module_name(&self) -> &'static str {
        match self {
            Match::Tcp(_) => "tcp",
            Match::Udp(_) => "udp",
            Match::Icmp(_) => "icmp",
            Match::Icmp6(_) => "icmp6",
            Match::Multiport(_) => "multiport",
            Match::State(_) => "state",
            Match::Conntrack(_) => "conntrack",
            Match::Limit(_) => "limit",
            Match::Hashlimit(_) => "hashlimit",
            Match::Connlimit(_) => "connlimit",
            Match::Recent(_) => "recent",
            Match::Comment(_) => "comment",
            Match::Set(_) => "set",
            Match::Iprange(_) => "iprange",
            Match::Mac(_) => "mac",
            Match::Length(_) => "length",
            Match::Addrtype(_) => "addrtype",
            Match::Mark(_) => "mark",
            Match::Owner(_) => "owner",
            Match::Pkttype(_) => "pkttype",
            Match::Connmark(_) => "connmark",
            Match::Ttl(_) => "ttl",
            Match::Hl(_) => "hl",
            Match::Dscp(_) => "dscp",
            Match::Tos(_) => "tos",
            Match::Time(_) => "time",
            Match::String(_) => "string",
            Match::Statistic(_) => "statistic",
            Match::Helper(_) => "helper",
            Match::Policy(_) => "policy",
            Match::Rpfilter(_) => "rpfilter",
            Match::Physdev(_) => "physdev",
            Match::Tcpmss(_) => "tcpmss",
            Match::Sctp(_) => "sctp",
            Match::Devgroup(_) => "devgroup",
            // Not a module: printed as `-s`/`-d` (see `AddrMaskMatch`).
            Match::AddrMask(_) => "addrmask",
            Match::Opaque(o) => crate::iptables::opaque_name(&o.name),
        }
    }
}

/// The serde form of [`Match::Comment`]'s text: a map with one `text` field.
mod comment_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Text<T> {
        text: T,
    }

    pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        Text { text }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Text::<String>::deserialize(d)?.text)
    }

    #[cfg(test)]
    mod tests {
        use crate::model::Match;

        #[test]
        fn comment_round_trips_through_json() {
            let m = Match::Comment("rampart: webserver: ssh in".into());
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(
                json,
                r#"{"module":"comment","text":"rampart: webserver: ssh in"}"#
            );
            assert_eq!(serde_json::from_str::<Match>(&json).unwrap(), m);
        }
    }
}

/// `-m tcp` options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TcpMatch {
    /// `--sport`.
    pub sport: Option<Neg<PortRange>>,
    /// `--dport`.
    pub dport: Option<Neg<PortRange>>,
    /// `--tcp-flags` or `--syn`.
    pub flags: Option<Neg<TcpFlagsMatch>>,
}

/// `-m udp` options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UdpMatch {
    /// `--sport`.
    pub sport: Option<Neg<PortRange>>,
    /// `--dport`.
    pub dport: Option<Neg<PortRange>>,
}

/// An ICMP or ICMPv6 type, optionally with a code; `None` type means `any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IcmpType {
    /// Type number; `None` for `any`.
    pub ty: Option<u8>,
    /// Code (the first of a range); `None` matches every code.
    pub code: Option<u8>,
    /// The last code of a range `TYPE/MIN:MAX` (`Some` only when it differs from `code`).
    /// iptables-save prints only the first code, but the kernel matches the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_max: Option<u8>,
}

impl IcmpType {
    /// Every code of one type, or of every type (`None`).
    pub fn of_type(ty: Option<u8>) -> IcmpType {
        IcmpType {
            ty,
            code: None,
            code_max: None,
        }
    }

    /// The codes matched, first and last (`0..=255` for every code).
    pub fn codes(self) -> (u8, u8) {
        match self.code {
            None => (0, 255),
            Some(lo) => (lo, self.code_max.unwrap_or(lo)),
        }
    }
}

/// Which ports `multiport` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortSide {
    /// `--sports`.
    Source,
    /// `--dports`.
    Destination,
    /// `--ports`: either.
    Either,
}

/// `-m multiport`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MultiportMatch {
    /// Which side's port is compared.
    pub side: PortSide,
    /// Up to 15 ports or ranges; negation applies to the whole list.
    pub ports: Neg<Vec<PortRange>>,
}

/// Connection tracking states as a bit set (the kernel's `XT_STATE_BIT` layout is not needed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CtStates(pub u8);

impl CtStates {
    /// INVALID.
    pub const INVALID: u8 = 0x01;
    /// NEW.
    pub const NEW: u8 = 0x02;
    /// ESTABLISHED.
    pub const ESTABLISHED: u8 = 0x04;
    /// RELATED.
    pub const RELATED: u8 = 0x08;
    /// UNTRACKED.
    pub const UNTRACKED: u8 = 0x10;
    /// SNAT (conntrack module only): the connection's source was translated.
    pub const SNAT: u8 = 0x20;
    /// DNAT (conntrack module only): the connection's destination was translated.
    pub const DNAT: u8 = 0x40;
    /// Names in iptables-save print order.
    pub const NAMES: [(&'static str, u8); 7] = [
        ("INVALID", 0x01),
        ("NEW", 0x02),
        ("RELATED", 0x08),
        ("ESTABLISHED", 0x04),
        ("UNTRACKED", 0x10),
        ("SNAT", 0x20),
        ("DNAT", 0x40),
    ];

    /// Whether any state of `other` is in this set.
    pub fn intersects(self, other: CtStates) -> bool {
        self.0 & other.0 != 0
    }
}

/// `-m conntrack`; only the options rampart can model are present, others are parse errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConntrackMatch {
    /// `--ctstate`.
    pub state: Option<Neg<CtStates>>,
    /// `--ctproto`.
    pub proto: Option<Neg<Protocol>>,
    /// `--ctorigsrc`.
    pub orig_src: Option<Neg<Prefix>>,
    /// `--ctorigdst`.
    pub orig_dst: Option<Neg<Prefix>>,
    /// The options real servers use less (reply addresses, ports, status, expiry,
    /// direction), boxed to keep every rule's match small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<Box<ConntrackMore>>,
}

/// The rarer options of `-m conntrack`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConntrackMore {
    /// `--ctreplsrc`.
    pub repl_src: Option<Neg<Prefix>>,
    /// `--ctrepldst`.
    pub repl_dst: Option<Neg<Prefix>>,
    /// `--ctorigsrcport`.
    pub orig_src_port: Option<Neg<PortRange>>,
    /// `--ctorigdstport`.
    pub orig_dst_port: Option<Neg<PortRange>>,
    /// `--ctreplsrcport`.
    pub repl_src_port: Option<Neg<PortRange>>,
    /// `--ctrepldstport`.
    pub repl_dst_port: Option<Neg<PortRange>>,
    /// `--ctstatus`.
    pub status: Option<Neg<CtStatus>>,
    /// `--ctexpire`: remaining lifetime in seconds.
    pub expire: Option<Neg<NumRange>>,
    /// `--ctdir`: which direction of the connection the packet travels.
    pub dir: Option<CtDir>,
}

/// Conntrack status bits `--ctstatus` tests, in the kernel's `IPS_*` layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CtStatus(pub u32);

impl CtStatus {
    /// Names and bits, in the order iptables prints them.
    pub const NAMES: [(&'static str, u32); 4] = [
        ("EXPECTED", 1),
        ("SEEN_REPLY", 2),
        ("ASSURED", 4),
        ("CONFIRMED", 8),
    ];
}

/// `--ctdir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CtDir {
    /// The packet travels as the connection's first packet did.
    Original,
    /// The packet is a reply.
    Reply,
}

/// A rate: `count` per `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rate {
    /// Events allowed per unit.
    pub count: u32,
    /// The time unit.
    pub unit: RateUnit,
}

/// The time unit of a [`Rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateUnit {
    /// per second.
    Second,
    /// per minute.
    Minute,
    /// per hour.
    Hour,
    /// per day.
    Day,
}

impl RateUnit {
    /// Seconds in one unit.
    pub fn seconds(self) -> u32 {
        match self {
            RateUnit::Second => 1,
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
            RateUnit::Day => 86400,
        }
    }
}

/// `-m limit`: a token bucket shared by every packet reaching the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LimitMatch {
    /// `--limit` (default 3/hour).
    pub rate: Rate,
    /// `--limit-burst` (default 5).
    pub burst: u32,
    /// `! --limit`: match when over the rate.
    pub negated: bool,
}

/// Whether a hashlimit matches below or above its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitMode {
    /// `--hashlimit-upto` / `--connlimit-upto`: match while within the limit.
    Upto,
    /// `--hashlimit-above` / `--connlimit-above`: match once over it.
    Above,
}

/// Which packet fields key a hashlimit bucket (`--hashlimit-mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HashlimitKey {
    /// `srcip`.
    pub src_ip: bool,
    /// `srcport`.
    pub src_port: bool,
    /// `dstip`.
    pub dst_ip: bool,
    /// `dstport`.
    pub dst_port: bool,
}

/// `-m hashlimit`: one token bucket per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HashlimitMatch {
    /// `--hashlimit-name`.
    pub name: String,
    /// `--hashlimit-upto` or `--hashlimit-above` (plain `--hashlimit` means upto).
    pub mode: LimitMode,
    /// The rate and burst, in packets or in bytes.
    pub limit: HashlimitLimit,
    /// `--hashlimit-mode`; all false means one bucket for the rule.
    pub key: HashlimitKey,
    /// `--hashlimit-srcmask` (default: full width).
    pub src_mask: Option<u8>,
    /// `--hashlimit-dstmask`.
    pub dst_mask: Option<u8>,
    /// `--hashlimit-htable-expire` in milliseconds, `None` when it is the default that
    /// iptables-save leaves out (see [`HashlimitMatch::expire_ms`]).
    pub expire_ms: Option<u32>,
    /// `--hashlimit-htable-max`: at most this many keys are tracked. In nftables (the
    /// meter's set `size`) a packet whose key finds the table full matches nothing.
    pub max: Option<u32>,
    /// `--hashlimit-htable-size`: hash buckets (`None`: the kernel sizes the table). Only
    /// memory and speed depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// `--hashlimit-htable-gcinterval` in milliseconds (`None`: 1000): how often idle
    /// entries are collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_interval_ms: Option<u32>,
    /// `--hashlimit-rate-match` with its interval in seconds
    /// (`--hashlimit-rate-interval`): the rule matches on the flow's measured rate and
    /// limits nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_match: Option<u32>,
}

/// What a hashlimit counts: packets (`10/sec`) or bytes (`4kb/s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashlimitLimit {
    /// A packet rate and a burst in packets.
    Packets {
        /// The rate, as iptables-save prints it (hashlimit keeps the interval between
        /// packets in 1/1000000 s, so up to 1000000/sec).
        rate: Rate,
        /// `--hashlimit-burst` (default 5).
        burst: u32,
    },
    /// A byte rate.
    Bytes(ByteRate),
}

/// A hashlimit byte rate as the kernel holds it: a cost per 16-byte unit
/// (`u32::MAX / (bytes/16 + 1)`, libxt_hashlimit's `bytes_to_cost`), so the bytes per
/// second are what that cost gives back, not always what was written (`3000b/s` is
/// 2992 bytes per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ByteRate {
    /// The kernel's cost (`avg`), 2 or more.
    pub cost: u32,
    /// `--hashlimit-burst` in multiples of the rate's bytes (rounded up), 0 when no burst
    /// was given.
    pub burst: u32,
}

impl ByteRate {
    /// hashlimit's `XT_HASHLIMIT_BYTE_SHIFT`: bytes are counted in 16-byte units.
    const SHIFT: u32 = 4;

    /// The cost of a rate of `bytes` per second; 0 when the rate is too high to hold.
    pub fn cost_of(bytes: u64) -> u32 {
        // iptables truncates to 32 bits here; so do we, to agree with it.
        let units = (bytes >> Self::SHIFT) as u32;
        u32::MAX.checked_div(units.wrapping_add(1)).unwrap_or(0)
    }

    /// The bytes per second a cost allows.
    pub fn bytes_of(cost: u32) -> u64 {
        let per = u32::MAX.checked_div(cost).unwrap_or(u32::MAX);
        u64::from(per.saturating_sub(1)) << Self::SHIFT
    }

    /// The bytes per second this rate allows.
    pub fn bytes_per_second(self) -> u64 {
        Self::bytes_of(self.cost)
    }

    /// The burst in bytes, when one was given.
    pub fn burst_bytes(self) -> Option<u64> {
        (self.burst > 0).then(|| self.bytes_per_second() * u64::from(self.burst))
    }
}

impl HashlimitMatch {
    /// iptables' default `--hashlimit-htable-gcinterval`, in milliseconds.
    pub const GC_INTERVAL_MS: u32 = 1000;

    /// The expiry the kernel holds, in milliseconds: the one given, or the one
    /// iptables-save leaves out.
    pub fn expire_ms(&self) -> u32 {
        self.expire_ms
            .unwrap_or_else(|| self.limit.default_expire_ms())
    }

    /// Whether the kernel takes this rate with this burst (see
    /// [`HashlimitMatch::period_fits`]). So `1/day` takes a burst of 1 only, `3/day` up
    /// to 2.
    pub fn burst_fits(rate: Rate, burst: u32) -> bool {
        let avg = 1_000_000 * u64::from(rate.unit.seconds()) / u64::from(rate.count.max(1));
        Self::period_fits(avg, burst)
    }

    /// The kernel's check (`hashlimit_mt_check_common`, revision 3) refuses
    /// `user2credits(avg * burst) < user2credits(avg)` in wrapping 64-bit arithmetic,
    /// where `avg` is the interval in 1/1000000 s and `user2credits` multiplies by
    /// `HZ * CREDITS_PER_JIFFY / 1000000` (137438953 with HZ=250).
    pub fn period_fits(avg: u64, burst: u32) -> bool {
        const CREDITS_FACTOR: u64 = 137_438_953;
        let credits = |user: u64| user.wrapping_mul(CREDITS_FACTOR);
        credits(avg.wrapping_mul(u64::from(burst))) >= credits(avg)
    }
}

impl HashlimitLimit {
    /// The expiry iptables-save leaves out, in milliseconds (libxt_hashlimit's
    /// "quantum"): the printed unit of a packet rate, 15 s for a byte rate, 60 s with a
    /// byte burst.
    pub fn default_expire_ms(self) -> u32 {
        match self {
            HashlimitLimit::Packets { rate, .. } => rate.unit.seconds() * 1000,
            HashlimitLimit::Bytes(b) if b.burst == 0 => 15_000,
            HashlimitLimit::Bytes(_) => 60_000,
        }
    }
}

/// `-s`/`-d` with a netmask that is not a prefix (`-s 192.0.2.13/255.0.255.0`, which
/// iptables accepts and the kernel compares as `addr & mask`). Kept as a match, not in
/// [`RuleSpec::source`], so that code reading the source as a prefix never takes it for
/// one (to such code it is a match it does not know); printed where iptables prints
/// `-s`/`-d`, as `iptables-save` does: the masked address, then the mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddrMaskMatch {
    /// `-d` (else `-s`).
    pub destination: bool,
    /// `!`.
    pub negated: bool,
    /// The address with the mask applied.
    pub addr: IpAddr,
    /// The mask (same family, not a prefix).
    pub mask: IpAddr,
}

impl AddrMaskMatch {
    /// Whether `a` is in it (before negation): `a & mask == addr`.
    pub fn contains(&self, a: IpAddr) -> bool {
        match (a, self.mask, self.addr) {
            (IpAddr::V4(a), IpAddr::V4(m), IpAddr::V4(want)) => {
                u32::from(a) & u32::from(m) == u32::from(want)
            }
            (IpAddr::V6(a), IpAddr::V6(m), IpAddr::V6(want)) => {
                u128::from(a) & u128::from(m) == u128::from(want)
            }
            _ => false,
        }
    }

    /// `ADDR/MASK` as iptables-save prints it.
    pub fn text(&self) -> String {
        format!("{}/{}", self.addr, self.mask)
    }
}

/// `-m connlimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnlimitMatch {
    /// `--connlimit-upto` or `--connlimit-above`.
    pub mode: LimitMode,
    /// The connection count.
    pub count: u32,
    /// `--connlimit-mask` (default full width).
    pub mask: Option<u8>,
    /// `--connlimit-daddr`: group by destination instead of source.
    pub by_destination: bool,
}

/// What a `recent` rule does with its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecentCommand {
    /// `--set`: add the address (always matches).
    Set,
    /// `--rcheck`: match if listed.
    Rcheck,
    /// `--update`: match if listed, and refresh the entry.
    Update,
    /// `--remove`: match if listed, and remove it.
    Remove,
}

/// `-m recent`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecentMatch {
    /// `--name` (default `DEFAULT`).
    pub name: String,
    /// The command.
    pub command: RecentCommand,
    /// `!` before the command.
    pub negated: bool,
    /// `--seconds`: only entries seen within this many seconds count.
    pub seconds: Option<u32>,
    /// `--hitcount`: at least this many hits within `seconds`.
    pub hitcount: Option<u32>,
    /// `--rttl`.
    pub rttl: bool,
    /// `--reap`.
    pub reap: bool,
    /// `--rdest`: track destination addresses instead of sources.
    pub by_destination: bool,
    /// `--mask` (default all ones), as a prefix length.
    pub mask: Option<u8>,
}

/// Which address of the packet a set is looked up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetDir {
    /// `src`.
    Src,
    /// `dst`.
    Dst,
}

/// `-m set --match-set NAME src[,dst...]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SetMatch {
    /// The set's name.
    pub name: String,
    /// Which packet field feeds each dimension of the set (address, then port).
    pub dirs: Vec<SetDir>,
    /// `! --match-set`.
    pub negated: bool,
}

/// `-m iprange`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IprangeMatch {
    /// `--src-range`.
    pub src: Option<Neg<AddrRange>>,
    /// `--dst-range`.
    pub dst: Option<Neg<AddrRange>>,
}

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// `--length` range of the IP packet's total length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LengthRange {
    /// Minimum.
    pub lo: u16,
    /// Maximum.
    pub hi: u16,
}

/// Address types of `-m addrtype` (the kernel's RTN_* kinds), as a bit set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AddrTypes(pub u16);

impl AddrTypes {
    /// Names in the kernel's order (bit n is `1 << n`).
    pub const NAMES: [&'static str; 12] = [
        "UNSPEC",
        "UNICAST",
        "LOCAL",
        "BROADCAST",
        "ANYCAST",
        "MULTICAST",
        "BLACKHOLE",
        "UNREACHABLE",
        "PROHIBIT",
        "THROW",
        "NAT",
        "XRESOLVE",
    ];

    /// The bit of a name.
    pub fn bit(name: &str) -> Option<u16> {
        AddrTypes::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| 1 << i)
    }
}

/// `-m addrtype`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddrtypeMatch {
    /// `--src-type`.
    pub src: Option<Neg<AddrTypes>>,
    /// `--dst-type`.
    pub dst: Option<Neg<AddrTypes>>,
    /// `--limit-iface-in`.
    pub limit_iface_in: bool,
    /// `--limit-iface-out`.
    pub limit_iface_out: bool,
}

/// `--mark value[/mask]`: matches when `mark & mask == value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MarkValue {
    /// The value.
    pub value: u32,
    /// The mask (all ones when not written).
    pub mask: u32,
}

/// `-j` versus `-g`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `-j TARGET`: for a user chain, RETURN comes back here.
    Jump(Target),
    /// `-g CHAIN`: RETURN from CHAIN goes back to this chain's caller.
    Goto(String),
}

/// A target of `-j`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Target {
    /// Accept: leave this hook's table.
    Accept,
    /// Drop silently.
    Drop,
    /// Return to the calling chain (or apply the policy in a built-in chain).
    Return,
    /// Drop and answer with an error.
    Reject(RejectWith),
    /// Log and continue.
    Log(LogTarget),
    /// Jump to a user chain.
    /// (In JSON `{"target": "CHAIN", "chain": NAME}`: a tagged enum cannot hold a bare
    /// string.)
    #[serde(with = "chain_target")]
    Chain(String),
    /// `SNAT --to-source` (nat POSTROUTING/INPUT).
    Snat(NatTarget),
    /// `DNAT --to-destination` (nat PREROUTING/OUTPUT).
    Dnat(NatTarget),
    /// `MASQUERADE`: SNAT to the out-interface's address.
    Masquerade(MasqueradeTarget),
    /// `REDIRECT --to-ports`: DNAT to the host itself.
    Redirect(MasqueradeTarget),
    /// `MARK`: sets the packet mark to `(mark & !mask) ^ value`.
    Mark(XMark),
    /// `CONNMARK`.
    Connmark(ConnmarkTarget),
    /// `CT --notrack` or `NOTRACK`: skip connection tracking.
    Notrack,
    /// `TRACE`: ask the kernel to log the packet's path.
    Trace,
    /// `SET --add-set` / `--del-set`: put the packet's address in a set or take it out,
    /// then go on (how a rate meter bans its source from the packet path).
    Set(SetTarget),
    /// `NFLOG`: copy the packet to a netlink log group (read by `rampart guard`), then go on.
    Nflog(NflogTarget),
    /// `NOTRACK`, the old name of `CT --notrack`: the same kernel state, but iptables-save
    /// prints it as written.
    #[serde(rename = "NOTRACK-ALIAS")]
    NotrackAlias,
    /// `TCPMSS`: rewrite the MSS of TCP SYNs, then go on.
    Tcpmss(TcpmssTarget),
    /// `TTL`: change the IPv4 TTL, then go on.
    Ttl(TtlTarget),
    /// `HL`: change the IPv6 hop limit, then go on.
    Hl(TtlTarget),
    /// `DSCP`: set the DiffServ code point, then go on.
    Dscp(DscpTarget),
    /// `TOS`: change the TOS byte, then go on.
    Tos(TosTarget),
    /// `CLASSIFY`: set the packet's priority (tc class), then go on.
    Classify(ClassifyTarget),
    /// `NETMAP`: 1:1 network translation (nat table).
    Netmap(NetmapTarget),
    /// `TPROXY`: deliver to a local socket unchanged (mangle PREROUTING).
    Tproxy(TproxyTarget),
    /// `SYNPROXY`: SYN cookies in front of a server.
    Synproxy(SynproxyTarget),
    /// `CHECKSUM --checksum-fill`: compute a missing checksum, then go on.
    Checksum,
    /// `AUDIT`: an audit record, then go on.
    Audit(AuditTarget),
    /// `TEE`: a copy to a neighbour, then go on.
    Tee(Box<TeeTarget>),
    /// `NFQUEUE`: hand the packet to a user-space program.
    Nfqueue(NfqueueTarget),
    /// `CT` with options other than a bare `--notrack`.
    Ct(Box<CtTarget>),
    /// `TCPOPTSTRIP`: remove TCP options, then go on.
    Tcpoptstrip(Box<TcpoptstripTarget>),
    /// `CONNSECMARK`: copy the SELinux mark, then go on.
    Connsecmark(ConnsecmarkTarget),
    /// `SECMARK`: set the SELinux mark, then go on.
    Secmark(Box<SecmarkTarget>),
    /// `IDLETIMER`: restart a sysfs timer, then go on.
    Idletimer(Box<IdletimerTarget>),
    /// `RATEEST`: feed a rate estimator, then go on.
    Rateest(Box<RateestTarget>),
    /// `HMARK`: set the mark from a hash, then go on.
    Hmark(Box<HmarkTarget>),
    /// `DNPT`: IPv6 destination prefix translation, then go on.
    Dnpt(Box<NptTarget>),
    /// `SNPT`: IPv6 source prefix translation, then go on.
    Snpt(Box<NptTarget>),
    /// `ECN`: rewrite the ECN bits, then go on.
    Ecn(EcnTarget),
    /// `LED`: blink a LED trigger, then go on.
    Led(Box<LedTarget>),
    /// `SET --map-set`, or `--add-set` with `--del-set`: then go on.
    SetCombined(Box<SetCombinedTarget>),
}

impl Target {
    /// True for targets after which no further rule of the chain is evaluated.
    /// (`CT --notrack` only marks the packet; the chain goes on, as in the kernel.)
    pub fn is_terminal(&self) -> bool {
        !matches!(
            self,
            Target::Log(_)
                | Target::Mark(_)
                | Target::Connmark(_)
                | Target::Trace
                | Target::Notrack
                | Target::Set(_)
                | Target::Nflog(_)
                | Target::NotrackAlias
                | Target::Tcpmss(_)
                | Target::Ttl(_)
                | Target::Hl(_)
                | Target::Dscp(_)
                | Target::Tos(_)
                | Target::Classify(_)
                | Target::Checksum
                | Target::Audit(_)
                | Target::Tee(_)
                | Target::Ct(_)
                | Target::Tcpoptstrip(_)
                | Target::Connsecmark(_)
                | Target::Secmark(_)
                | Target::Idletimer(_)
                | Target::Rateest(_)
                | Target::Hmark(_)
                | Target::Dnpt(_)
                | Target::Snpt(_)
                | Target::Ecn(_)
                | Target::Led(_)
                | Target::SetCombined(_)
        )
    }
}

/// ICMP error or TCP reset sent by `REJECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RejectWith {
    /// `icmp-net-unreachable`.
    IcmpNetUnreachable,
    /// `icmp-host-unreachable`.
    IcmpHostUnreachable,
    /// `icmp-port-unreachable` (the IPv4 default).
    IcmpPortUnreachable,
    /// `icmp-proto-unreachable`.
    IcmpProtoUnreachable,
    /// `icmp-net-prohibited`.
    IcmpNetProhibited,
    /// `icmp-host-prohibited`.
    IcmpHostProhibited,
    /// `icmp-admin-prohibited`.
    IcmpAdminProhibited,
    /// `icmp6-no-route`.
    Icmp6NoRoute,
    /// `icmp6-adm-prohibited`.
    Icmp6AdmProhibited,
    /// `icmp6-addr-unreachable`.
    Icmp6AddrUnreachable,
    /// `icmp6-port-unreachable` (the IPv6 default).
    Icmp6PortUnreachable,
    /// `tcp-reset`.
    TcpReset,
    /// `icmp6-policy-fail` (source address failed ingress/egress policy).
    Icmp6PolicyFail,
    /// `icmp6-reject-route` (reject route to destination).
    Icmp6RejectRoute,
}

impl RejectWith {
    /// Canonical names as `iptables-save` prints them, with accepted aliases.
    pub const NAMES: [(&'static str, RejectWith); 14] = [
        ("icmp-net-unreachable", RejectWith::IcmpNetUnreachable),
        ("icmp-host-unreachable", RejectWith::IcmpHostUnreachable),
        ("icmp-port-unreachable", RejectWith::IcmpPortUnreachable),
        ("icmp-proto-unreachable", RejectWith::IcmpProtoUnreachable),
        ("icmp-net-prohibited", RejectWith::IcmpNetProhibited),
        ("icmp-host-prohibited", RejectWith::IcmpHostProhibited),
        ("icmp-admin-prohibited", RejectWith::IcmpAdminProhibited),
        ("icmp6-no-route", RejectWith::Icmp6NoRoute),
        ("icmp6-adm-prohibited", RejectWith::Icmp6AdmProhibited),
        ("icmp6-addr-unreachable", RejectWith::Icmp6AddrUnreachable),
        ("icmp6-port-unreachable", RejectWith::Icmp6PortUnreachable),
        ("tcp-reset", RejectWith::TcpReset),
        ("icmp6-policy-fail", RejectWith::Icmp6PolicyFail),
        ("icmp6-reject-route", RejectWith::Icmp6RejectRoute),
    ];

    /// The canonical name.
    pub fn name(self) -> &'static str {
        RejectWith::NAMES
            .iter()
            .find(|(_, r)| *r == self)
            .map(|(n, _)| *n)
            .expect("every variant is named")
    }

    /// The default for a family.
    pub fn default_for(family: Family) -> RejectWith {
        match family {
            Family::Ipv4 => RejectWith::IcmpPortUnreachable,
            Family::Ipv6 => RejectWith::Icmp6PortUnreachable,
        }
    }
}

/// `LOG` options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogTarget {
    /// `--log-prefix` (at most 29 characters, as the kernel allows).
    pub prefix: Option<String>,
    /// `--log-level` as a syslog number 0-7 (default 4, warning).
    pub level: Option<u8>,
    /// `--log-tcp-sequence`, `--log-tcp-options`, `--log-ip-options`, `--log-uid`,
    /// `--log-macdecode`.
    #[serde(default, skip_serializing_if = "LogFlags::is_empty")]
    pub flags: LogFlags,
}

/// What `-j LOG` adds to each line beyond the headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogFlags {
    /// `--log-tcp-sequence`: TCP sequence numbers.
    pub tcp_sequence: bool,
    /// `--log-tcp-options`: TCP options.
    pub tcp_options: bool,
    /// `--log-ip-options`: IP options.
    pub ip_options: bool,
    /// `--log-uid`: the sending socket's uid.
    pub uid: bool,
    /// `--log-macdecode`: the MAC header decoded.
    pub macdecode: bool,
}

impl LogFlags {
    /// No flag set.
    pub fn is_empty(&self) -> bool {
        *self == LogFlags::default()
    }
}

/// Whether `-j SET` adds or deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetOp {
    /// `--add-set`.
    Add,
    /// `--del-set`.
    Del,
}

/// `-j SET --add-set NAME src[,dst] [--exist] [--timeout N]` or `--del-set NAME src`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SetTarget {
    /// Add or delete.
    pub op: SetOp,
    /// The set's name.
    pub set: String,
    /// Which addresses (and ports) of the packet make the entry.
    pub dirs: Vec<SetDir>,
    /// `--timeout` in seconds (add only); `None`: the set's default.
    pub timeout: Option<u32>,
    /// `--exist`: adding an entry already there restarts its timeout.
    pub exist: bool,
}

/// `-j NFLOG`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct NflogTarget {
    /// `--nflog-group` (0-65535; default 0).
    pub group: u16,
    /// `--nflog-prefix` (at most 63 characters).
    pub prefix: Option<String>,
    /// `--nflog-size` (`--nflog-range`): bytes of the packet copied.
    pub size: Option<u32>,
    /// `--nflog-threshold`: packets queued in the kernel before sending (default 1).
    pub threshold: Option<u16>,
}

/// The address and port range of an SNAT/DNAT target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NatTarget {
    /// Addresses to translate to (`a` or `a-b`); `None` keeps the address (port-only DNAT).
    pub addrs: Option<AddrRange>,
    /// Ports to translate to.
    pub ports: Option<PortRange>,
    /// `--random`.
    pub random: bool,
    /// `--persistent`.
    pub persistent: bool,
    /// `PORTS/BASE`: shift ports by `port - BASE` into the range instead of picking one
    /// (iptables keeps 0 for SNAT, so that is what the kernel holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_offset: Option<u16>,
}

/// Options of `MASQUERADE` and `REDIRECT`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MasqueradeTarget {
    /// `--to-ports`.
    pub ports: Option<PortRange>,
    /// `--random`.
    pub random: bool,
}

/// A mark change in the kernel's form: `mark = (mark & !mask) ^ value`.
///
/// `--set-mark v/m` becomes `(v, m|v)`, stored as `iptables-save` prints `--set-xmark`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct XMark {
    /// Bits to XOR in.
    pub value: u32,
    /// Bits to clear first.
    pub mask: u32,
}

impl XMark {
    /// Applies the change to a mark.
    pub fn apply(self, mark: u32) -> u32 {
        (mark & !self.mask) ^ self.value
    }
}

/// `CONNMARK` operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum ConnmarkTarget {
    /// `--set-xmark` (and `--set-mark` etc., normalised): change the connection mark.
    Set(XMark),
    /// `--save-mark`: ctmark = (ctmark & !ctmask) ^ (mark & nfmask).
    Save {
        /// `--nfmask`.
        nfmask: u32,
        /// `--ctmask`.
        ctmask: u32,
    },
    /// `--restore-mark`: mark = (mark & !nfmask) ^ (ctmark & ctmask).
    Restore {
        /// `--nfmask`.
        nfmask: u32,
        /// `--ctmask`.
        ctmask: u32,
    },
}

/// An ipset: a named set of addresses, networks or address/port pairs.
///
/// Equality ignores `span`, as for [`Rule`]: the same set written in two places is equal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IpSet {
    /// The set's name.
    pub name: String,
    /// `hash:ip`, `hash:net`, ...
    pub kind: SetKind,
    /// `family inet|inet6` (bitmap:port has none; stored as IPv4).
    pub family: Family,
    /// Default `timeout` in seconds for entries, when the set supports timeouts.
    pub timeout: Option<u32>,
    /// `maxelem` (ipset's default is 65536).
    pub maxelem: Option<u32>,
    /// `hashsize`.
    pub hashsize: Option<u32>,
    /// `range` of a bitmap:port set.
    pub port_range: Option<PortRange>,
    /// `counters`, `comment` and similar flags as written, for printing back.
    pub flags: Vec<String>,
    /// The members (no duplicates); equality ignores their order, as the kernel does.
    pub entries: Vec<SetEntry>,
    /// Where the set was created.
    #[serde(skip)]
    pub span: Option<Span>,
}

impl PartialEq for IpSet {
    fn eq(&self, other: &IpSet) -> bool {
        let IpSet {
            name,
            kind,
            family,
            timeout,
            maxelem,
            hashsize,
            port_range,
            flags,
            entries,
            span: _,
        } = self;
        *name == other.name
            && *kind == other.kind
            && *family == other.family
            && *timeout == other.timeout
            && *maxelem == other.maxelem
            && *hashsize == other.hashsize
            && *port_range == other.port_range
            && *flags == other.flags
            && same_members(entries, &other.entries)
    }
}

/// Set members compared as sets: the kernel keeps (and `ipset save` prints) them in hash
/// order, so the order they were added in carries no meaning.
fn same_members(a: &[SetEntry], b: &[SetEntry]) -> bool {
    use std::collections::HashSet;
    a.len() == b.len() && {
        let a: HashSet<&SetEntry> = a.iter().collect();
        b.iter().all(|e| a.contains(e))
    }
}

impl Eq for IpSet {}

/// The ipset types rampart understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SetKind {
    /// `hash:ip`.
    #[serde(rename = "hash:ip")]
    HashIp,
    /// `hash:net`.
    #[serde(rename = "hash:net")]
    HashNet,
    /// `hash:ip,port`.
    #[serde(rename = "hash:ip,port")]
    HashIpPort,
    /// `hash:net,port`.
    #[serde(rename = "hash:net,port")]
    HashNetPort,
    /// `bitmap:port`.
    #[serde(rename = "bitmap:port")]
    BitmapPort,
}

impl SetKind {
    /// All kinds with their ipset names.
    pub const NAMES: [(&'static str, SetKind); 5] = [
        ("hash:ip", SetKind::HashIp),
        ("hash:net", SetKind::HashNet),
        ("hash:ip,port", SetKind::HashIpPort),
        ("hash:net,port", SetKind::HashNetPort),
        ("bitmap:port", SetKind::BitmapPort),
    ];

    /// The ipset type name.
    pub fn name(self) -> &'static str {
        SetKind::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .expect("every kind is named")
    }
}

/// One member of a set.
///
/// `addr` and `port` are the element itself; the other fields are the per-element extensions
/// ipset keeps beside it (two entries with the same element are the same member).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SetEntry {
    /// The address or network (absent for bitmap:port).
    pub addr: Option<Prefix>,
    /// Protocol and port for `,port` types and bitmap:port.
    pub port: Option<(Protocol, PortRange)>,
    /// Per-entry `timeout` in seconds (the set's default when the set has timeouts and the
    /// entry names none, as the kernel stores it).
    pub timeout: Option<u32>,
    /// `comment "..."` (sets created with `comment`); an empty comment is none, as in ipset.
    pub comment: Option<String>,
    /// `packets N bytes N` (sets created with `counters`: always present there).
    pub counters: Option<Counters>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ruleset holds every rule at once (issue 15: 5M rules of a save file in well under
    /// 4 GB), so a field added to `Rule` or a large variant added to `Match` costs that
    /// much per rule: box what is large and rare instead. A save file's rule with two
    /// matches costs about 520 bytes in `rampart check` (BENCHMARKS.md, "Memory per rule").
    #[test]
    fn rules_and_matches_stay_small() {
        assert!(
            std::mem::size_of::<Rule>() <= 232,
            "{}",
            std::mem::size_of::<Rule>()
        );
        assert!(
            std::mem::size_of::<Match>() <= 72,
            "{}",
            std::mem::size_of::<Match>()
        );
    }
}

#[cfg(test)]
mod chain_order_tests {
    use super::*;

    fn user(name: &str) -> Chain {
        Chain {
            name: name.into(),
            policy: None,
            counters: Counters::default(),
            rules: Vec::new(),
        }
    }

    /// Issue 15: user chains are added in name order and found by binary search, whatever
    /// order they come in; a name taken is refused; built-in chains stay first.
    #[test]
    fn user_chains_stay_in_name_order_and_are_found() {
        let mut t = Table::new(Family::Ipv4, TableKind::Filter);
        for n in ["zeta", "Alpha", "mid", "a", "INPUTX", "b-2", "b"] {
            assert!(t.add_chain(user(n)), "{n}");
        }
        assert!(!t.add_chain(user("mid")));
        let names: Vec<&str> = t.chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["INPUT", "FORWARD", "OUTPUT", "Alpha", "INPUTX", "a", "b", "b-2", "mid", "zeta"]
        );
        for n in &names {
            assert_eq!(t.chain(n).map(|c| c.name.as_str()), Some(*n));
        }
        assert!(t.chain("nosuch").is_none());
        assert!(t.chain_mut("b-2").is_some());
    }
}

/// `Target::Chain` as `{"target": "CHAIN", "chain": NAME}`.
mod chain_target {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Named {
        chain: String,
    }

    pub fn serialize<S: Serializer>(name: &str, s: S) -> Result<S::Ok, S::Error> {
        Named {
            chain: name.to_string(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Named::deserialize(d)?.chain)
    }
}
