//! What a simulated packet went through: branches of steps ending in a fate.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use rampart_ruleset::{Family, Policy, RejectWith, TableKind};
use serde::Serialize;

use crate::packet::{CtState, Packet};

/// A netfilter hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Hook {
    /// Every arriving packet, before routing.
    Prerouting,
    /// Packets for this host.
    Input,
    /// Packets routed through this host.
    Forward,
    /// Locally generated packets.
    Output,
    /// Every leaving packet.
    Postrouting,
}

impl Hook {
    /// The built-in chain name of this hook.
    pub fn chain(self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }
}

/// Where in the packet path a step happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Inside a hook's table.
    Hook(Hook),
    /// The conntrack lookup (priority -200).
    Conntrack,
    /// A routing decision.
    Routing,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Hook(h) => f.write_str(h.chain()),
            Stage::Conntrack => f.write_str("conntrack"),
            Stage::Routing => f.write_str("routing"),
        }
    }
}

/// An address and optional port, for NAT steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Address.
    pub addr: IpAddr,
    /// Port, when the protocol has one and it is known.
    pub port: Option<u16>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.addr, self.port) {
            (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
            (a, Some(p)) => write!(f, "{a}:{p}"),
            (a, None) => write!(f, "{a}"),
        }
    }
}

/// The kind of address translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum NatKind {
    /// Source NAT.
    Snat,
    /// Destination NAT.
    Dnat,
    /// Source NAT to the out-interface's address.
    Masquerade,
    /// Destination NAT to the host itself.
    Redirect,
}

impl fmt::Display for NatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NatKind::Snat => "SNAT",
            NatKind::Dnat => "DNAT",
            NatKind::Masquerade => "MASQUERADE",
            NatKind::Redirect => "REDIRECT",
        })
    }
}

/// What a `-j SET` rule did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum SetChange {
    /// Added, expiring after `timeout` seconds (`None`: never).
    Added {
        /// Seconds.
        timeout: Option<u32>,
    },
    /// Already there: its timeout restarted (`--exist`).
    Refreshed {
        /// Seconds.
        timeout: Option<u32>,
    },
    /// Already there and left as it was.
    AlreadyPresent,
    /// Not added: the set holds its maximum number of entries.
    Full,
    /// Deleted (or was not there).
    Removed,
}

/// What happened at a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A built-in chain without rules: its policy applies.
    NoRules {
        /// The policy.
        policy: Policy,
    },
    /// The end of a built-in chain (or RETURN from it): its policy applies.
    Policy {
        /// The policy.
        policy: Policy,
    },
    /// A rule without target matched (it only counts).
    Matched,
    /// `-j CHAIN`.
    Jump {
        /// The chain entered.
        chain: String,
    },
    /// `-g CHAIN`.
    Goto {
        /// The chain entered.
        chain: String,
    },
    /// RETURN, or the end of a user chain.
    Return {
        /// The chain resumed.
        to: String,
    },
    /// ACCEPT: this table is done for this hook.
    Accept,
    /// DROP.
    Drop,
    /// REJECT.
    Reject {
        /// The answer sent.
        with: RejectWith,
    },
    /// LOG (the packet continues).
    Log {
        /// `--log-prefix`.
        prefix: Option<String>,
    },
    /// TRACE (the packet continues).
    TraceTarget,
    /// NFLOG: a copy to a netlink log group (the packet continues).
    Nflog {
        /// `--nflog-group`.
        group: u16,
        /// `--nflog-prefix`.
        prefix: Option<String>,
    },
    /// `-j SET`: what it did to an address's entry (the packet continues).
    SetEntry {
        /// The set.
        set: String,
        /// The address.
        addr: IpAddr,
        /// What changed.
        change: SetChange,
    },
    /// MARK or CONNMARK --restore-mark changed the packet mark.
    Mark {
        /// Before.
        from: u32,
        /// After.
        to: u32,
    },
    /// CONNMARK changed the connection mark.
    Connmark {
        /// Before.
        from: u32,
        /// After.
        to: u32,
    },
    /// NOTRACK / CT --notrack: the packet will be UNTRACKED.
    Notrack,
    /// A target that changes the packet or its connection (TTL, DSCP, TCPMSS, CT, ...)
    /// or hands a copy elsewhere (TEE, AUDIT), after which the packet goes on.
    Effect {
        /// The target's name.
        target: String,
        /// What it does, in words.
        effect: String,
    },
    /// An address translation, by a rule or by the flow's existing binding.
    Nat {
        /// Which translation.
        kind: NatKind,
        /// Before.
        from: Endpoint,
        /// After.
        to: Endpoint,
        /// True when applied from the conntrack binding without traversing the nat table.
        binding: bool,
    },
    /// A NAT target that left the packet unchanged.
    NatNoChange {
        /// Which translation.
        kind: NatKind,
    },
    /// The conntrack state decided for this packet.
    Conntrack {
        /// The state.
        state: CtState,
        /// Why.
        detail: String,
    },
    /// A routing decision.
    Route {
        /// Where to.
        decision: String,
    },
    /// Explain mode: a rule that was evaluated and did not match.
    NotMatched {
        /// The first failing test, in words (`out interface is ppp0, rule wants eth1`).
        reason: String,
    },
    /// Something the simulator could not model exactly.
    Warning {
        /// What.
        message: String,
    },
}

/// One line of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Where in the packet path.
    pub stage: Stage,
    /// The table, for rule steps.
    pub table: Option<TableKind>,
    /// The chain, for rule steps.
    pub chain: Option<String>,
    /// 1-based rule number; `None` for policies and non-rule steps.
    pub rule: Option<usize>,
    /// The rule as iptables text.
    pub rule_text: Option<String>,
    /// What happened.
    pub event: Event,
}

/// How the packet's journey ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "fate", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fate {
    /// Handed to a local socket.
    DeliveredLocally {
        /// Destination address after NAT.
        addr: IpAddr,
        /// Destination port after NAT.
        port: Option<u16>,
    },
    /// Routed through the host.
    Forwarded {
        /// The interface it leaves by.
        out_iface: String,
        /// Source after NAT.
        src: IpAddr,
        /// Destination after NAT.
        dst: IpAddr,
        /// Source port after NAT.
        sport: Option<u16>,
        /// Destination port after NAT.
        dport: Option<u16>,
    },
    /// A locally generated packet leaving the host.
    SentOut {
        /// The interface it leaves by.
        out_iface: String,
        /// Source after NAT.
        src: IpAddr,
        /// Destination after NAT.
        dst: IpAddr,
        /// Source port after NAT.
        sport: Option<u16>,
        /// Destination port after NAT.
        dport: Option<u16>,
    },
    /// Dropped by a DROP rule or policy.
    Dropped {
        /// Table.
        table: TableKind,
        /// Chain holding the rule (or the built-in chain for a policy).
        chain: String,
        /// 1-based rule number; `None` for the policy.
        rule: Option<usize>,
    },
    /// Rejected by a REJECT rule.
    Rejected {
        /// Table.
        table: TableKind,
        /// Chain holding the rule.
        chain: String,
        /// 1-based rule number.
        rule: Option<usize>,
        /// The answer sent.
        with: RejectWith,
    },
    /// No route to the destination.
    NoRoute {
        /// The destination.
        dst: IpAddr,
    },
    /// Not for this host and forwarding is off: the kernel drops it before FORWARD.
    NotForwarded {
        /// The destination.
        dst: IpAddr,
    },
    /// Dropped by the kernel's receive path or routing as a martian (a multicast,
    /// broadcast, 0.0.0.0 or loopback source, one of the host's own addresses, a source
    /// rp_filter has no route back to, ...), before INPUT or FORWARD.
    Martian {
        /// The source address.
        src: IpAddr,
        /// The kernel's check that failed.
        reason: String,
    },
    /// Handed to a user-space program by NFQUEUE: its verdict decides the rest.
    Queued {
        /// Table.
        table: TableKind,
        /// Chain holding the rule.
        chain: String,
        /// 1-based rule number.
        rule: usize,
        /// The queue (the first of a balanced range).
        queue: u16,
        /// `--queue-bypass`: accepted when no program listens (else dropped).
        bypass: bool,
    },
    /// The walk could not finish (a chain loop or call depth beyond the kernel's).
    Aborted {
        /// Why.
        reason: String,
    },
    /// The walk evaluated more rules than [`crate::MAX_RULE_EVALUATIONS`] (a loop?) and
    /// stopped there.
    Stopped {
        /// The limit reached.
        limit: usize,
    },
}

impl Fate {
    /// True when the packet leaves the host or reaches a socket.
    pub fn passed(&self) -> bool {
        matches!(
            self,
            Fate::DeliveredLocally { .. } | Fate::Forwarded { .. } | Fate::SentOut { .. }
        )
    }
}

fn endpoint(addr: IpAddr, port: Option<u16>) -> Endpoint {
    Endpoint { addr, port }
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = |table: &TableKind, chain: &str, rule: &Option<usize>| match rule {
            Some(n) => format!("{table}:{chain}:{n}"),
            None => format!("{table}:{chain} policy"),
        };
        match self {
            Fate::DeliveredLocally { addr, port } => {
                write!(f, "delivered locally to {}", endpoint(*addr, *port))
            }
            Fate::Forwarded {
                out_iface,
                src,
                dst,
                sport,
                dport,
            } => write!(
                f,
                "forwarded out {out_iface} as {} → {}",
                endpoint(*src, *sport),
                endpoint(*dst, *dport)
            ),
            Fate::SentOut {
                out_iface,
                src,
                dst,
                sport,
                dport,
            } => write!(
                f,
                "sent out {out_iface} as {} → {}",
                endpoint(*src, *sport),
                endpoint(*dst, *dport)
            ),
            Fate::Dropped {
                table,
                chain,
                rule: r,
            } => {
                write!(f, "dropped by {}", rule(table, chain, r))
            }
            Fate::Rejected {
                table,
                chain,
                rule: r,
                with,
            } => write!(
                f,
                "rejected by {} with {}",
                rule(table, chain, r),
                with.name()
            ),
            Fate::NoRoute { dst } => write!(f, "no route to {dst}"),
            Fate::NotForwarded { dst } => {
                write!(f, "not forwarded: {dst} is not local and forwarding is off")
            }
            Fate::Martian { reason, .. } => write!(f, "dropped by the kernel: {reason}"),
            Fate::Queued {
                table,
                chain,
                rule: r,
                queue,
                bypass,
            } => write!(
                f,
                "queued to user space (queue {queue}) by {}: the program reading it decides; with no program {}",
                rule(table, chain, &Some(*r)),
                if *bypass { "it is accepted" } else { "it is dropped" }
            ),
            Fate::Aborted { reason } => write!(f, "aborted: {reason}"),
            Fate::Stopped { limit } => {
                write!(f, "stopped: more than {limit} rule evaluations (a loop?)")
            }
        }
    }
}

/// A test the walk could not decide and the answer this branch assumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assumption {
    /// The test as iptables text (`--dport 22`).
    pub test: String,
    /// The answer assumed.
    pub holds: bool,
}

impl fmt::Display for Assumption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.holds {
            "matches"
        } else {
            "does not match"
        };
        write!(f, "assumed {} {verb}", self.test)
    }
}

/// A rule that matched, for per-rule hit counts over a batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RuleHit {
    /// Family of the table.
    pub family: Family,
    /// Table.
    pub table: TableKind,
    /// Chain.
    pub chain: String,
    /// 1-based rule number.
    pub rule: usize,
}

/// One possible path of the packet, under its assumptions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Branch {
    /// Undecidable tests and the answers this branch assumed, in the order met.
    pub assumptions: Vec<Assumption>,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// How it ended.
    pub fate: Fate,
    /// Rules that matched.
    pub hits: Vec<RuleHit>,
    /// What an experienced admin would point out about this path (not NATed, NATed to a
    /// foreign address, dropped by a policy and the nearest rule that would have accepted).
    pub hints: Vec<Hint>,
    /// For a [`Fate::Rejected`] packet: the reset or ICMP error sent back, and how far it
    /// gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
}

/// What a REJECT sends back. The reset or ICMP error is a packet of the host's own: it
/// crosses OUTPUT and POSTROUTING, attached to the rejected packet's connection
/// (RELATED), and the host's rules may stop it there, leaving the sender with a timeout.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// The kernel sends nothing back.
    Unsent {
        /// Why (`no reset is sent in answer to a reset`).
        reason: String,
    },
    /// The answer and its path through the host (its first branch, should it fork).
    Sent {
        /// The reset or ICMP error.
        packet: Box<Packet>,
        /// Its walk from OUTPUT on.
        branch: Box<Branch>,
    },
}

impl Answer {
    /// Whether the answer leaves the host (or reaches a local sender): what the sender
    /// sees is then a refusal, else a timeout.
    pub fn reaches_sender(&self) -> bool {
        match self {
            Answer::Unsent { .. } => false,
            Answer::Sent { branch, .. } => branch.fate.passed(),
        }
    }
}

impl Branch {
    /// The rules that matched on this path, then those its REJECT answer matched.
    pub fn all_hits(&self) -> impl Iterator<Item = &RuleHit> {
        let answer = match &self.answer {
            Some(Answer::Sent { branch, .. }) => branch.hits.as_slice(),
            _ => &[],
        };
        self.hits.iter().chain(answer)
    }
}

/// The kinds of [`Hint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HintKind {
    /// Source NAT to an address this host does not own: replies go elsewhere.
    SnatForeignAddress,
    /// Forwarded towards the default route with a source from another interface's
    /// network, not NATed.
    NotNatted,
    /// Dropped by a built-in chain's DROP policy.
    PolicyDrop,
    /// DNAT sends the packet back out the interface it came in by, source unchanged: the
    /// server answers the client directly and the reply bypasses the reverse NAT.
    Hairpin,
    /// Dropped or rejected by a rule matching a set: the entry holding the address (a
    /// block list's stored network and its comment, a timed ban and the time it has left).
    SetMember,
}

/// A remark on a branch's outcome, for the admin asking "why".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hint {
    /// What kind of remark.
    pub kind: HintKind,
    /// The remark in words.
    pub text: String,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The result of simulating one packet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// One branch when every test was decidable; more when the walk forked.
    pub branches: Vec<Branch>,
    /// True when forks beyond [`crate::MAX_BRANCHES`], or beyond
    /// [`crate::MAX_PACKET_EVALUATIONS`] rule evaluations, were not explored.
    pub truncated: bool,
    /// The branch whose state changes (conntrack, limits, recent lists) were kept.
    pub committed_branch: usize,
}

impl Trace {
    /// The fate, when every branch agrees (always the case without forks).
    pub fn fate(&self) -> Option<&Fate> {
        let first = &self.branches.first()?.fate;
        self.branches
            .iter()
            .all(|b| b.fate == *first)
            .then_some(first)
    }
}

/// Per-rule hit counts over a batch of traces, from each trace's committed branch (the
/// one whose state the simulator kept), so every packet counts once.
pub fn count_hits<'t>(traces: impl IntoIterator<Item = &'t Trace>) -> BTreeMap<RuleHit, u64> {
    let mut counts = BTreeMap::new();
    for trace in traces {
        if let Some(branch) = trace.branches.get(trace.committed_branch) {
            for hit in branch.all_hits() {
                *counts.entry(hit.clone()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// The marker of explain-mode steps (rules evaluated that did not match).
pub const NOT_MATCHED: &str = "·";

const STAGE_WIDTH: usize = 12;
const PLACE_WIDTH: usize = 24;

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut place = match (&self.table, &self.chain) {
            (Some(t), Some(c)) => format!("{t}:{c}"),
            (Some(t), None) => t.to_string(),
            _ => String::new(),
        };
        if let Some(n) = self.rule {
            place.push_str(&format!(":{n}"));
        }
        let stage = self.stage.to_string();
        // A name as long as its column still gets a space after it
        // (`mangle:PREROUTING_direct return to …`, not `…_directreturn`).
        let gap = |text: &str, width: usize| {
            if text.chars().count() >= width {
                " "
            } else {
                ""
            }
        };
        write!(
            f,
            "{stage:<STAGE_WIDTH$}{}{place:<PLACE_WIDTH$}{}",
            gap(&stage, STAGE_WIDTH),
            gap(&place, PLACE_WIDTH)
        )?;
        if let Some(text) = &self.rule_text {
            write!(
                f,
                "{text}\n{:width$}",
                "",
                width = STAGE_WIDTH + PLACE_WIDTH
            )?;
        }
        write!(f, "{}", self.event)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::NoRules { policy } => write!(f, "(no rules, policy {})", policy.name()),
            Event::Policy { policy } => write!(f, "policy {}", policy.name()),
            Event::Matched => f.write_str("matched (no target)"),
            Event::Jump { chain } => write!(f, "jump to {chain}"),
            Event::Goto { chain } => write!(f, "goto {chain}"),
            Event::Return { to } => write!(f, "return to {to}"),
            Event::Accept => f.write_str("ACCEPT"),
            Event::Drop => f.write_str("DROP"),
            Event::Reject { with } => write!(f, "REJECT with {}", with.name()),
            Event::Log { prefix } => match prefix {
                Some(p) => write!(f, "LOG prefix {p:?}"),
                None => f.write_str("LOG"),
            },
            Event::TraceTarget => f.write_str("TRACE"),
            Event::Nflog { group, prefix } => match prefix {
                Some(p) => write!(f, "NFLOG group {group} prefix {p:?}"),
                None => write!(f, "NFLOG group {group}"),
            },
            Event::SetEntry { set, addr, change } => match change {
                SetChange::Added { timeout: Some(t) } => {
                    write!(f, "SET: {addr} added to {set} for {t} s")
                }
                SetChange::Added { timeout: None } => write!(f, "SET: {addr} added to {set}"),
                SetChange::Refreshed { timeout: Some(t) } => {
                    write!(f, "SET: {addr} already in {set}, expires in {t} s again")
                }
                SetChange::Refreshed { timeout: None } | SetChange::AlreadyPresent => {
                    write!(f, "SET: {addr} already in {set}")
                }
                SetChange::Full => write!(f, "SET: {set} is full, {addr} not added"),
                SetChange::Removed => write!(f, "SET: {addr} removed from {set}"),
            },
            Event::Mark { from, to } => write!(f, "mark {from:#x} → {to:#x}"),
            Event::Connmark { from, to } => write!(f, "connmark {from:#x} → {to:#x}"),
            Event::Notrack => f.write_str("NOTRACK: connection tracking skipped"),
            Event::Effect { target, effect } => write!(f, "{target}: {effect}; the packet goes on"),
            Event::Nat {
                kind,
                from,
                to,
                binding,
            } => {
                write!(f, "{kind} {from} → {to}")?;
                if *binding {
                    f.write_str(" (existing conntrack binding)")?;
                }
                Ok(())
            }
            Event::NatNoChange { kind } => write!(f, "{kind}: address unchanged"),
            Event::Conntrack { state, detail } => write!(f, "{} ({detail})", state.name()),
            Event::Route { decision } => f.write_str(decision),
            Event::NotMatched { reason } => write!(f, "{NOT_MATCHED} not matched: {reason}"),
            Event::Warning { message } => write!(f, "warning: {message}"),
        }
    }
}

impl fmt::Display for Trace {
    /// The steps, one or two lines each; a run of rules that did not match for the same
    /// reason (a 20,000-rule blocklist chain under `--explain`) is one entry, `CHAIN:1-N`.
    /// Control characters from the ruleset (a comment holding `ESC]0;…`) are escaped, so
    /// the trace cannot send the terminal escape sequences.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.render(&mut out)?;
        f.write_str(&rampart_safeio::escaped_lines(&out))
    }
}

impl Trace {
    fn render(&self, f: &mut String) -> fmt::Result {
        use fmt::Write;
        let many = self.branches.len() > 1;
        for (i, branch) in self.branches.iter().enumerate() {
            if many {
                if i > 0 {
                    writeln!(f)?;
                }
                writeln!(f, "branch {} of {}:", i + 1, self.branches.len())?;
            }
            for a in &branch.assumptions {
                writeln!(f, "  {a}")?;
            }
            let steps = &branch.steps;
            let mut i = 0;
            while i < steps.len() {
                let run = alike_misses(&steps[i..]);
                if run > 1 {
                    let (first, last) = (&steps[i], &steps[i + run - 1]);
                    let mut step = first.clone();
                    step.rule = None;
                    let place = format!(
                        "{}:{}-{}",
                        first.chain.as_deref().unwrap_or(""),
                        first.rule.unwrap_or(0),
                        last.rule.unwrap_or(0)
                    );
                    step.chain = Some(place);
                    writeln!(f, "{step}   ({run} rules alike)")?;
                } else {
                    writeln!(f, "{}", steps[i])?;
                }
                i += run.max(1);
            }
            writeln!(f, "fate: {}", branch.fate)?;
            for hint in &branch.hints {
                writeln!(f, "hint: {hint}")?;
            }
            match &branch.answer {
                Some(Answer::Unsent { reason }) => {
                    writeln!(f, "answer: none ({reason}): the sender sees a timeout")?;
                }
                Some(Answer::Sent { packet, branch }) => {
                    writeln!(f, "answer: {packet}")?;
                    for a in &branch.assumptions {
                        writeln!(f, "  {a}")?;
                    }
                    for step in &branch.steps {
                        for line in step.to_string().lines() {
                            writeln!(f, "  {line}")?;
                        }
                    }
                    let seen = if branch.fate.passed() {
                        "the sender sees the refusal"
                    } else {
                        "the sender sees a timeout"
                    };
                    writeln!(f, "answer fate: {}: {seen}", branch.fate)?;
                }
                None => {}
            }
        }
        if self.truncated {
            writeln!(
                f,
                "(more branches not explored: limit of {} branches or {} rule evaluations reached)",
                crate::MAX_BRANCHES,
                crate::MAX_PACKET_EVALUATIONS
            )?;
        }
        Ok(())
    }
}

/// How many steps from the first are rules of one chain, numbered one after another, with
/// the same text, that did not match for the same reason (at least 1).
fn alike_misses(steps: &[Step]) -> usize {
    let Some(first) = steps.first() else {
        return 0;
    };
    if !matches!(first.event, Event::NotMatched { .. }) || first.rule.is_none() {
        return 1;
    }
    let mut n = 1;
    while let Some(s) = steps.get(n) {
        let prev = &steps[n - 1];
        let alike = s.event == first.event
            && s.stage == first.stage
            && s.table == first.table
            && s.chain == first.chain
            && s.rule_text == first.rule_text
            && s.rule.zip(prev.rule).is_some_and(|(a, b)| a == b + 1);
        if !alike {
            break;
        }
        n += 1;
    }
    n
}
