//! The compiler's one error type: a construct of the model that nftables cannot express.
//!
//! Untranslatable rules are errors, never dropped (DESIGN decision 3): a firewall compiled
//! with a rule missing is more permissive than the one the administrator wrote.

use std::fmt;

use rampart_ruleset::{ErrorKind, Family, Span, TableKind};

/// Where a rule of the model lives: family, table, chain, 1-based position (as
/// `iptables -L --line-numbers` counts) and the span it was written at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RulePlace {
    /// IPv4 (`iptables`) or IPv6 (`ip6tables`).
    pub family: Family,
    /// The iptables table.
    pub table: TableKind,
    /// The iptables chain.
    pub chain: String,
    /// 1-based rule number in the chain.
    pub index: usize,
    /// Where the rule was written, when known.
    pub span: Option<Span>,
}

impl fmt::Display for RulePlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -t {} {} rule {}",
            self.family.command(),
            self.table,
            self.chain,
            self.index
        )?;
        if let Some(span) = self.span {
            write!(f, " (line {}:{})", span.line, span.col)?;
        }
        Ok(())
    }
}

/// Where an ipset was defined.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetPlace {
    /// The ipset's name.
    pub name: String,
    /// Where it was created, when known.
    pub span: Option<Span>,
}

impl fmt::Display for SetPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ipset {}", self.name)?;
        if let Some(span) = self.span {
            write!(f, " (line {}:{})", span.line, span.col)?;
        }
        Ok(())
    }
}

/// A construct that cannot be compiled to nftables, one variant per construct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// A jump or goto the kernel refuses once the table is loaded: a chain loop, or
    /// nesting deeper than its jump stack ([`rampart_ruleset::validate`]).
    #[error("{at}: {kind}")]
    ChainGraph {
        /// The rule that closes the loop or jumps too deep.
        at: RulePlace,
        /// [`ErrorKind::ChainLoop`] or [`ErrorKind::JumpTooDeep`].
        kind: ErrorKind,
    },
    /// `-m recent --hitcount`: nft sets keep no per-element hit history.
    #[error("{at}: `-m recent --hitcount` has no nftables equivalent (sets keep no hit history); use a hashlimit rate limit")]
    RecentHitcount {
        /// The rule.
        at: RulePlace,
    },
    /// `-m recent --rttl`: nft sets do not store the TTL of the packet that added an element.
    #[error("{at}: `-m recent --rttl` has no nftables equivalent (sets do not store the TTL); use a hashlimit rate limit")]
    RecentRttl {
        /// The rule.
        at: RulePlace,
    },
    /// `! --set`, `! --update`, `! --remove`: a set operation whose match result is inverted.
    #[error("{at}: `-m recent ! --{command}` both changes the list and inverts the match; nftables cannot do both in one rule (only `! --rcheck` translates)")]
    RecentNegatedUpdate {
        /// The rule.
        at: RulePlace,
        /// `set`, `update` or `remove`.
        command: &'static str,
    },
    /// One `recent` list checked with different `--seconds`: the nft set has one timeout.
    #[error("{at}: recent list `{name}` is checked with --seconds {seconds} here but {other} elsewhere; an nft set has a single timeout, so every check of a list must use the same --seconds")]
    RecentSecondsConflict {
        /// The rule.
        at: RulePlace,
        /// The list.
        name: String,
        /// This rule's `--seconds` (`none` when absent).
        seconds: String,
        /// The first other value seen.
        other: String,
    },
    /// A rule split in two by `--ports` that also holds an anonymous `limit` bucket.
    #[error("{at}: `-m multiport --ports` becomes two nft rules, which would give this rule's `limit` two separate buckets; split the rule into `--sports` and `--dports` rules yourself")]
    SplitLimit {
        /// The rule.
        at: RulePlace,
    },
    /// `--ctstate` mixing SNAT/DNAT with ordinary states (an OR across two nft keys, so
    /// two nft rules) in a rule with a `limit` bucket.
    #[error("{at}: `--ctstate` mixing SNAT/DNAT with other states becomes two nft rules (`ct state` and `ct status`), which would give this rule's `limit` two separate buckets; write two rules yourself")]
    CtStateMixed {
        /// The rule.
        at: RulePlace,
    },
    /// `! --icmp-type any`: matches nothing.
    #[error("{at}: `! --icmp-type any` matches no packet; remove the rule")]
    IcmpAnyNegated {
        /// The rule.
        at: RulePlace,
    },
    /// SNAT/DNAT to ports only, keeping the address: nft 1.0.6 needs an address.
    #[error("{at}: {target} to a port without an address has no nftables 1.0 form; name the address (or use REDIRECT for this host)")]
    PortOnlyNat {
        /// The rule.
        at: RulePlace,
        /// `SNAT` or `DNAT`.
        target: &'static str,
    },
    /// An IPv6 NAT address range with ports.
    #[error("{at}: {target} to an IPv6 address range with ports has no nftables 1.0 form; use one address")]
    Ipv6NatRangeWithPorts {
        /// The rule.
        at: RulePlace,
        /// `SNAT` or `DNAT`.
        target: &'static str,
    },
    /// CONNMARK save/restore with masks that would combine two registers.
    #[error("{at}: `CONNMARK --{op}` with --nfmask {nfmask:#x} --ctmask {ctmask:#x} combines the packet and connection marks under two masks, which nftables 1.0 cannot express; use full masks")]
    ConnmarkMask {
        /// The rule.
        at: RulePlace,
        /// `save-mark` or `restore-mark`.
        op: &'static str,
        /// `--nfmask`.
        nfmask: u32,
        /// `--ctmask`.
        ctmask: u32,
    },
    /// `-f` on an IPv6 rule.
    #[error("{at}: `-f` (fragment) is an IPv4 match")]
    Ipv6Fragment {
        /// The rule.
        at: RulePlace,
    },
    /// `-m set` naming a set that is not defined.
    #[error("{at}: `--match-set {name}`: no such set (load it with --sets)")]
    UnknownSet {
        /// The rule.
        at: RulePlace,
        /// The set's name.
        name: String,
    },
    /// `-m set` on a set of the other family.
    #[error("{at}: `--match-set {name}`: the set holds {set_family} addresses but the rule is {rule_family}")]
    SetFamily {
        /// The rule.
        at: RulePlace,
        /// The set's name.
        name: String,
        /// `IPv4` or `IPv6`.
        set_family: &'static str,
        /// `IPv4` or `IPv6`.
        rule_family: &'static str,
    },
    /// `-m set` with fewer directions than the set has dimensions.
    #[error(
        "{at}: `--match-set {name}` gives {given} direction(s) but a {kind} set needs {needed}"
    )]
    SetDimensions {
        /// The rule.
        at: RulePlace,
        /// The set's name.
        name: String,
        /// The ipset type.
        kind: &'static str,
        /// Directions written.
        given: usize,
        /// Dimensions of the type.
        needed: usize,
    },
    /// `-j SET` on a set the packet path cannot fill: interval sets (networks) cannot be
    /// updated from a rule, and `--timeout` needs a set with a default timeout.
    #[error("{at}: `-j SET` on set `{name}`: {reason}")]
    SetTargetSet {
        /// The rule.
        at: RulePlace,
        /// The set's name.
        name: String,
        /// Why the set cannot take it, and what to use instead.
        reason: &'static str,
    },
    /// Two hashlimit rules sharing a name but keyed differently.
    #[error("{at}: hashlimit `{name}` is keyed by {key} here but by {other} in another rule; give the rules different --hashlimit-name")]
    HashlimitConflict {
        /// The rule.
        at: RulePlace,
        /// The hashlimit name.
        name: String,
        /// This rule's key type.
        key: String,
        /// The other rule's key type.
        other: String,
    },
    /// A set that needs both intervals (CIDR entries) and timeouts.
    #[error("{at}: {kind} set with timeouts: rampart keeps timeout sets (bans) apart from interval sets (CIDR lists); use hash:ip for entries that expire, hash:net without timeout for networks")]
    IntervalTimeout {
        /// The set.
        at: SetPlace,
        /// The ipset type.
        kind: &'static str,
    },
    /// An entry with `timeout 0` (permanent) in a set with a default timeout.
    #[error("{at}: entry {entry} has timeout 0 (never expires) in a set whose default timeout is {timeout}s; nftables cannot exempt one element; put permanent entries in a set without timeout")]
    PermanentEntry {
        /// The set.
        at: SetPlace,
        /// The entry.
        entry: String,
        /// The set's default timeout.
        timeout: u32,
    },
    /// Two different things would get the same nft name.
    #[error("the nft name `{name}` would be used for both {first} and {second}; rename one")]
    NameClash {
        /// The nft name.
        name: String,
        /// The first user.
        first: String,
        /// The second user.
        second: String,
    },
    /// A match module the compiler does not know (added to the model later).
    #[error("{at}: match `-m {module}` has no nftables translation yet")]
    UnsupportedMatch {
        /// The rule.
        at: RulePlace,
        /// The module.
        module: &'static str,
    },
    /// A match nftables cannot express exactly (or rampart does not translate yet), with
    /// the reason.
    #[error("{at}: `-m {module}` cannot be compiled: {reason}")]
    Refused {
        /// The rule.
        at: RulePlace,
        /// The module.
        module: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A target nftables cannot express (in rampart's inet table), with why.
    #[error("{at}: target `{target}` has no nftables equivalent: {reason}")]
    NoNftEquivalent {
        /// The rule.
        at: RulePlace,
        /// The target.
        target: String,
        /// Why.
        reason: String,
    },
    /// A target the compiler does not know (added to the model later).
    #[error("{at}: target `{target}` has no nftables translation yet")]
    UnsupportedTarget {
        /// The rule.
        at: RulePlace,
        /// The target.
        target: String,
    },
    /// A set type the compiler does not know (added to the model later).
    #[error("{at}: set type {kind} has no nftables translation yet")]
    UnsupportedSetKind {
        /// The set.
        at: SetPlace,
        /// The ipset type.
        kind: &'static str,
    },
}

impl CompileError {
    /// The rule the error is about (`None` for errors about sets and names).
    pub fn place(&self) -> Option<&RulePlace> {
        use CompileError::*;
        match self {
            ChainGraph { at, .. }
            | RecentHitcount { at }
            | RecentRttl { at }
            | RecentNegatedUpdate { at, .. }
            | RecentSecondsConflict { at, .. }
            | SplitLimit { at }
            | CtStateMixed { at }
            | IcmpAnyNegated { at }
            | PortOnlyNat { at, .. }
            | Ipv6NatRangeWithPorts { at, .. }
            | ConnmarkMask { at, .. }
            | Ipv6Fragment { at }
            | UnknownSet { at, .. }
            | SetTargetSet { at, .. }
            | SetFamily { at, .. }
            | SetDimensions { at, .. }
            | HashlimitConflict { at, .. }
            | UnsupportedMatch { at, .. }
            | Refused { at, .. }
            | UnsupportedTarget { at, .. }
            | NoNftEquivalent { at, .. } => Some(at),
            IntervalTimeout { .. }
            | PermanentEntry { .. }
            | NameClash { .. }
            | UnsupportedSetKind { .. } => None,
        }
    }
}

/// Every error of one compilation, in model order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileErrors(pub Vec<CompileError>);

impl CompileErrors {
    /// The errors.
    pub fn errors(&self) -> &[CompileError] {
        &self.0
    }
}

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileErrors {}
