//! The lowered IR: one nft table of sets and chains whose rules are nft statements, each
//! rule keeping its way back to the model rule it came from.

use std::fmt;

use crate::error::RulePlace;

/// The nft table rampart owns (`table inet rampart`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The table's name (family is always `inet`).
    pub name: String,
    /// Named sets: the ruleset's ipsets, then sets that rules fill (hashlimit, connlimit,
    /// recent).
    pub sets: Vec<Set>,
    /// Base chains first (by iptables table, then hook), then regular chains.
    pub chains: Vec<Chain>,
    /// `ct helper` objects that `CT --helper` rules assign.
    pub helpers: Vec<CtHelper>,
}

/// A `ct helper NAME { type "ftp" protocol tcp; }` object: nft assigns conntrack helpers
/// by object, where iptables' `CT --helper` names the helper in the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtHelper {
    /// The object's name (`ftp-tcp`).
    pub name: String,
    /// The kernel helper (`ftp`, `netbios-ns`).
    pub helper: String,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
}

impl Table {
    /// The chain with this nft name.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The set with this nft name.
    pub fn set(&self, name: &str) -> Option<&Set> {
        self.sets.iter().find(|s| s.name == name)
    }
}

/// A chain: a base chain registered on a hook, or a regular chain reached by jump/goto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The nft name (`filter_input`, `ip_filter_INPUT`, `ip6_filter_mychain`).
    pub name: String,
    /// Hook registration, for base chains.
    pub base: Option<BaseChain>,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// How a base chain is registered with the kernel. Its policy is always `accept`: the
/// iptables policies are rules of the chain (see the crate doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseChain {
    /// `filter`, `nat` or `route`.
    pub kind: ChainType,
    /// The netfilter hook.
    pub hook: Hook,
    /// The hook priority.
    pub priority: Priority,
    /// The interface of an [`Hook::Ingress`] chain (`device "eth0"`).
    pub device: Option<String>,
}

/// nft chain types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainType {
    /// `type filter`.
    Filter,
    /// `type nat`: consulted for the first packet of a connection.
    Nat,
    /// `type route`: re-routes locally generated packets whose mark or address changed
    /// (what iptables' mangle OUTPUT does).
    Route,
}

impl ChainType {
    /// The nft keyword.
    pub fn name(self) -> &'static str {
        match self {
            ChainType::Filter => "filter",
            ChainType::Nat => "nat",
            ChainType::Route => "route",
        }
    }
}

/// The five netfilter hooks of the IP families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hook {
    /// `prerouting`.
    Prerouting,
    /// `input`.
    Input,
    /// `forward`.
    Forward,
    /// `output`.
    Output,
    /// `postrouting`.
    Postrouting,
    /// `ingress` of one interface (its [`BaseChain::device`]): before conntrack, routing
    /// and defragmentation (inet tables, kernel 5.10 and later).
    Ingress,
}

impl Hook {
    /// The nft keyword.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::Ingress => "ingress",
        }
    }

    /// The hook of an iptables built-in chain name.
    pub fn of_builtin(chain: &str) -> Option<Hook> {
        Some(match chain {
            "PREROUTING" => Hook::Prerouting,
            "INPUT" => Hook::Input,
            "FORWARD" => Hook::Forward,
            "OUTPUT" => Hook::Output,
            "POSTROUTING" => Hook::Postrouting,
            _ => return None,
        })
    }
}

/// A hook priority: the number the kernel orders by and nft's standard name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The value (lower runs first).
    pub value: i32,
    /// nft's name (`raw`, `mangle`, `dstnat`, `filter`, `security`, `srcnat`); empty for
    /// a priority written as its number.
    pub name: &'static str,
}

/// One nft rule: statements in evaluation order, an optional comment, and the model rule
/// it came from (`None` for the rules the compiler adds: dispatch and policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The statements.
    pub stmts: Vec<Stmt>,
    /// The iptables comment (`-m comment`), or the compiler's note on its own rules.
    pub comment: Option<String>,
    /// The model rule this one was lowered from.
    pub origin: Option<RulePlace>,
}

/// One nft statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    /// A relational match: `left right`, `left == right` or `left != right`.
    Match {
        /// The expression read from the packet (`ip saddr`, `tcp flags & (syn|ack)`).
        left: String,
        /// The comparison.
        op: Op,
        /// The value, range, anonymous set or `@set`.
        right: String,
    },
    /// A statement that may match and keeps state (`limit rate ...`, `update @s { ... }`).
    Stateful(String),
    /// `counter`.
    Counter,
    /// A non-terminal action (`log ...`, `meta mark set ...`, `snat ip to ...`, `notrack`).
    Action(String),
    /// The verdict that ends the rule.
    Verdict(Verdict),
}

/// Comparison of a [`Stmt::Match`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Implicit equality (or set membership, or flag test): `ip saddr 192.0.2.1`.
    Implicit,
    /// Written `==` (after a bitwise expression).
    Eq,
    /// `!=`.
    Ne,
}

/// An nft verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `return`.
    Return,
    /// `jump CHAIN`.
    Jump(String),
    /// `goto CHAIN`.
    Goto(String),
    /// `reject ...` (the text after `reject`, possibly empty).
    Reject(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Return => f.write_str("return"),
            Verdict::Jump(c) => write!(f, "jump {c}"),
            Verdict::Goto(c) => write!(f, "goto {c}"),
            Verdict::Reject(w) if w.is_empty() => f.write_str("reject"),
            Verdict::Reject(w) => write!(f, "reject {w}"),
        }
    }
}

impl fmt::Display for Stmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stmt::Match { left, op, right } => match op {
                Op::Implicit => write!(f, "{left} {right}"),
                Op::Eq => write!(f, "{left} == {right}"),
                Op::Ne => write!(f, "{left} != {right}"),
            },
            Stmt::Stateful(s) | Stmt::Action(s) => f.write_str(s),
            Stmt::Counter => f.write_str("counter"),
            Stmt::Verdict(v) => write!(f, "{v}"),
        }
    }
}

/// A named nft set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// The nft name.
    pub name: String,
    /// The key type, e.g. `ipv4_addr` or `ipv4_addr . inet_proto . inet_service`.
    pub key: String,
    /// `flags interval` (with `auto-merge`): CIDR lists and ranges.
    pub interval: bool,
    /// `flags timeout`: elements expire (bans).
    pub timeout_flag: bool,
    /// `flags dynamic`: filled from the packet path by rules.
    pub dynamic: bool,
    /// `auto-merge` (interval sets): nft joins adjacent and overlapping elements it adds.
    /// Off for sets filled over netlink: with it nft reads every set element of every
    /// table before the command (1.37 s beside a million-entry list, measured).
    pub auto_merge: bool,
    /// Default element timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// `size`: maximum number of elements.
    pub size: Option<u32>,
    /// The elements.
    pub elements: Vec<Element>,
    /// What the set stands for (`ipset blocklist`, `hashlimit http`), printed as a comment.
    pub note: String,
}

/// One element of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The key as nft writes it (`192.0.2.0/24`, `192.0.2.7 . tcp . 80`).
    pub key: String,
    /// Element timeout in seconds, when it differs from the set's default.
    pub timeout: Option<u32>,
    /// The element comment.
    pub comment: Option<String>,
}
