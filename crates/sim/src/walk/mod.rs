//! One walk of a packet through the hooks, tables and chains, under fixed assumptions.
//!
//! The walk is deterministic given the base state and its assumptions, which is what lets
//! the simulator explore a fork by re-running the walk from the start with one more
//! assumption instead of snapshotting a half-finished traversal.

use std::collections::HashMap;
use std::net::IpAddr;

use rampart_ruleset::{
    rule_args, Action, ConnmarkTarget, CtStates, Family, Policy, Ruleset, SetDir, SetOp, SetTarget,
    Table, TableKind, Target, TcpFlags,
};

use crate::answer::{Attach, RejectSeed};
use crate::classify::{next_set, Index, Query, Words};
use crate::conntrack::{self, Dir, Flow, Tuple};
use crate::explain::describe;
use crate::host::{Host, RouteDecision};
use crate::matcher::{failing_tests, rule_matches, Atom, Ctx, Decider, Env, Sets, Test};
use crate::packet::{CtState, Packet};
use crate::state::{Delta, Membership, State, View};
mod hints;
mod nat;
mod targets;

use crate::trace::{Branch, Event, Fate, Hook, RuleHit, SetChange, Stage, Step};
use nat::Manip;

/// Deepest chain call stack: nftables' `NFT_JUMP_STACK_SIZE` (iptables-nft, the kernel path
/// rampart targets, refuses deeper rulesets at load time).
pub(crate) const MAX_CALL_DEPTH: usize = 16;

/// Chain entries (jumps + gotos) allowed in one table traversal. The kernel refuses chain
/// loops at load time, so a model that gets this far loops and the walk stops.
const MAX_CHAIN_ENTRIES: usize = 4096;

/// Rule evaluations allowed in one walk (one branch of a packet's trace), whatever the
/// ruleset does.
///
/// DoS warning: a loop the validator did not see (a model built without it), or a long
/// chain entered again and again, makes the walk's work (and, under `--explain`, its steps:
/// one `NotMatched` of some hundred bytes per rule) grow without bound. A loop-free ruleset
/// evaluates each rule at most once per entry of its chain, so 65,536 covers every hook of
/// a packet's path through a 20,000-rule ruleset (large blocklist imports) three times
/// over; reaching it means a loop, or fan-out no person reads. The trace then ends with
/// [`Fate::Stopped`], and a walk's steps stay within some tens of megabytes.
pub const MAX_RULE_EVALUATIONS: usize = 1 << 16;

/// The ruleset with lookup tables built once per simulator.
pub(crate) struct Compiled<'r> {
    pub ruleset: &'r Ruleset,
    /// (family, kind) → index in the ruleset's tables: at most ten entries, scanned (a
    /// packet looks up some seven tables on its way; hashing each cost more).
    tables: Vec<((Family, TableKind), usize)>,
    chains: Vec<HashMap<&'r str, usize>>,
    pub sets: Sets,
}

impl<'r> Compiled<'r> {
    pub fn new(ruleset: &'r Ruleset) -> Compiled<'r> {
        Compiled {
            ruleset,
            tables: ruleset
                .tables
                .iter()
                .enumerate()
                .map(|(i, t)| ((t.family, t.kind), i))
                .collect(),
            chains: ruleset
                .tables
                .iter()
                .map(|t| {
                    t.chains
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.name.as_str(), i))
                        .collect()
                })
                .collect(),
            sets: Sets::new(&ruleset.sets),
        }
    }

    /// The index of the `kind` table of `family`.
    fn table(&self, family: Family, kind: TableKind) -> Option<usize> {
        // The last of duplicates, as the map this replaced kept.
        self.tables
            .iter()
            .rev()
            .find(|(key, _)| *key == (family, kind))
            .map(|(_, i)| *i)
    }

    fn chain(&self, table: usize, name: &str) -> Option<usize> {
        self.chains[table].get(name).copied()
    }
}

/// The conntrack view of the packet.
struct Ct {
    decided: bool,
    state: CtState,
    /// Set by NOTRACK before the conntrack hook.
    notrack: bool,
    flow: Option<(usize, Dir, Flow)>,
    /// The flow is the one an ICMP error quotes (RELATED): its NAT binding rewrites the
    /// error's addresses only, and the error neither answers nor refreshes it.
    related: bool,
    /// A REJECT's answer, attached to the rejected packet's connection (`nf_ct_attach`):
    /// RELATED without a conntrack lookup, and nothing recorded.
    attached: bool,
    orig: Tuple,
    mark: u32,
    dst_done: bool,
    src_done: bool,
}

/// How a table traversal ended: `Ok` (ACCEPT, policy ACCEPT, a NAT target) moves on to
/// the next table; `Err` ends the packet's journey with its fate, so walks read as `?`
/// chains in kernel order.
type Verdict = Result<(), Fate>;

/// A path to its fate: `Ok` when the packet passes, `Err` when a hook ended it early.
type Journey = Result<Fate, Fate>;

/// How a walk runs.
#[derive(Clone, Copy)]
pub(crate) struct Options<'a> {
    /// Record rules that did not match as steps.
    pub explain: bool,
    /// Compute hints (the nearest miss of a DROP policy evaluates every ACCEPT rule of
    /// the chain: a batch that shows no traces leaves them out).
    pub hints: bool,
    /// The classifier's tables for this packet; `None` walks every rule.
    pub index: Option<&'a Index>,
}

/// One run of the walk.
pub(crate) struct Walk<'a, 'r> {
    c: &'a Compiled<'r>,
    host: &'a Host,
    pkt: &'a Packet,
    family: Family,
    view: View<'a>,
    assumptions: Vec<(Atom, bool)>,
    forks: Vec<Vec<(Atom, bool)>>,
    steps: Vec<Step>,
    hits: Vec<RuleHit>,
    warnings: Vec<String>,
    src: IpAddr,
    dst: IpAddr,
    sport: Option<u16>,
    dport: Option<u16>,
    mark: u32,
    in_iface: String,
    out_iface: String,
    ct: Ct,
    /// Record rules that did not match as steps.
    explain: bool,
    /// Compute the branch's hints.
    hints: bool,
    /// nat rules at POSTROUTING that did not match, for the hints.
    nat_misses: Vec<Miss>,
    /// Whether the nat table's POSTROUTING chain was traversed.
    nat_post_walked: bool,
    /// Rules evaluated so far, bounded by [`MAX_RULE_EVALUATIONS`]; rules the classifier
    /// skipped count too, so the bound stops a loop where the reference walk stops it.
    evaluations: usize,
    /// The classifier's tables for this packet; `None` walks every rule.
    index: Option<&'a Index>,
    /// Buffers for the classifier's candidates, kept by the simulator across walks.
    scratch: &'a mut Scratch,
    /// The packet as a REJECT rule saw it, for its answer.
    reject: Option<RejectSeed>,
    /// A REJECT's answer: sent from the kernel's ICMP socket (`Some(true)`) or from no
    /// socket (`Some(false)`, a reset).
    kernel_socket: Option<bool>,
}

/// The classifier's per-walk buffers, owned by the simulator so a walk allocates none.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Candidate bitsets of the chains visited lately, with the fields they were
    /// computed for (a jump and its RETURN come back to the same chain).
    candidates: Vec<Candidates>,
    /// The slot of `candidates` to reuse next once it is full.
    next: usize,
    /// Candidates of earlier walks (another packet, another index) are stale.
    walk: u64,
    words: Words,
}

/// Chains whose candidates one walk keeps: enough for a jump stack of typical depth;
/// more are recomputed.
const CANDIDATE_SLOTS: usize = 8;

/// One chain's candidate rules for the fields the walk had when they were computed.
struct Candidates {
    walk: u64,
    table: usize,
    chain: usize,
    src: IpAddr,
    dst: IpAddr,
    sport: Option<u16>,
    dport: Option<u16>,
    in_iface: String,
    out_iface: String,
    ct_bits: u8,
    words: Words,
}

impl Candidates {
    fn fits(&self, walk: u64, table: usize, chain: usize, q: &Query) -> bool {
        self.walk == walk
            && self.table == table
            && self.chain == chain
            && self.src == q.src
            && self.dst == q.dst
            && self.sport == q.sport
            && self.dport == q.dport
            && self.ct_bits == q.ct_bits
            && self.in_iface == q.in_iface
            && self.out_iface == q.out_iface
    }
}

/// A rule that did not match and why.
pub(crate) struct Miss {
    /// `nat:POSTROUTING:1`.
    place: String,
    rule_text: String,
    reason: String,
    /// Whether the rule's target is a source NAT or a chain.
    nat_like: bool,
}

/// What a finished run hands back.
pub(crate) struct Finished {
    pub branch: Branch,
    pub delta: Delta,
    pub forks: Vec<Vec<(Atom, bool)>>,
    /// Rules evaluated.
    pub evaluations: usize,
    /// The packet as a REJECT rule saw it, when one ended the walk.
    pub reject: Option<RejectSeed>,
}

impl<'a, 'r> Walk<'a, 'r> {
    pub fn new(
        c: &'a Compiled<'r>,
        host: &'a Host,
        state: &'a State,
        pkt: &'a Packet,
        assumptions: Vec<(Atom, bool)>,
        options: Options<'a>,
        scratch: &'a mut Scratch,
    ) -> Walk<'a, 'r> {
        scratch.walk += 1;
        let orig = Tuple::of(pkt, pkt.src, pkt.sport, pkt.dst, pkt.dport);
        Walk {
            c,
            host,
            pkt,
            family: pkt.family(),
            view: View {
                base: state,
                delta: Delta::default(),
            },
            assumptions,
            forks: Vec::new(),
            steps: Vec::new(),
            hits: Vec::new(),
            warnings: Vec::new(),
            src: pkt.src,
            dst: pkt.dst,
            sport: pkt.sport,
            dport: pkt.dport,
            mark: pkt.mark,
            in_iface: String::new(),
            out_iface: String::new(),
            ct: Ct {
                decided: false,
                state: CtState::New,
                notrack: false,
                flow: None,
                related: false,
                attached: false,
                orig,
                mark: 0,
                dst_done: false,
                src_done: false,
            },
            explain: options.explain,
            hints: options.hints,
            nat_misses: Vec::new(),
            nat_post_walked: false,
            evaluations: 0,
            index: options.index,
            scratch,
            reject: None,
            kernel_socket: None,
        }
    }

    /// Makes this the walk of a REJECT's answer attached to the rejected packet's
    /// connection: RELATED from the start (the raw table sees it too), following the
    /// connection's NAT binding. Without a connection (the rejected packet was INVALID or
    /// UNTRACKED) the answer meets conntrack as a packet of its own.
    pub fn answering(mut self, attach: Option<Attach>) -> Walk<'a, 'r> {
        self.kernel_socket = Some(conntrack::is_icmp(self.pkt.protocol));
        let Some(a) = attach else {
            return self;
        };
        self.ct.decided = true;
        self.ct.state = CtState::Related;
        self.ct.related = true;
        self.ct.attached = true;
        self.ct.mark = a.flow.mark;
        self.ct.orig = self.tuple();
        self.ct.flow = Some((a.id.unwrap_or(usize::MAX), a.dir, a.flow));
        self.push(
            Stage::Conntrack,
            None,
            None,
            None,
            Event::Conntrack {
                state: CtState::Related,
                detail: "the REJECT's answer, attached to the rejected packet's connection"
                    .to_string(),
            },
        );
        self
    }

    /// The packet as the REJECT rule sees it, and the connection its answer joins.
    fn reject_seed(&self, with: rampart_ruleset::RejectWith) -> RejectSeed {
        let tracked = self.ct.decided
            && !self.ct.notrack
            && !matches!(self.ct.state, CtState::Invalid | CtState::Untracked);
        let attach = tracked.then(|| match &self.ct.flow {
            Some((id, dir, flow)) => Attach::answering(Some(*id), *dir, flow.clone()),
            // A first packet's connection is not confirmed yet, but it exists: its reply
            // tuple is the packet's, NATed so far, inverted.
            None => Attach::answering(
                None,
                Dir::Original,
                Flow {
                    orig: self.ct.orig,
                    reply: self.tuple().invert(),
                    seen_reply: false,
                    mark: self.ct.mark,
                    last_us: self.pkt.time_us(),
                },
            ),
        });
        RejectSeed {
            with,
            protocol: self.pkt.protocol,
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
            tcp_flags: self.pkt.tcp_flags,
            icmp_type: self.pkt.icmp_type,
            fragment: self.pkt.fragment,
            not_unicast: self
                .pkt
                .pkttype
                .is_some_and(|t| t != rampart_ruleset::PktType::Unicast),
            attach,
            time: self.pkt.time,
        }
    }

    /// Runs the walk to its fate.
    pub fn finish(mut self) -> Finished {
        let fate = if self.pkt.src.is_ipv4() != self.pkt.dst.is_ipv4() {
            Fate::Aborted {
                reason: "source and destination are of different families".to_string(),
            }
        } else {
            if crate::exthdr::defragmented(self.pkt) {
                self.push(
                    Stage::Conntrack,
                    None,
                    None,
                    None,
                    Event::Warning {
                        message: "defragmentation (nf_defrag_ipv6, before the raw table) \
                                  removes the fragment header: no rule sees it"
                            .to_string(),
                    },
                );
            }
            match self.pkt.in_iface.clone() {
                Some(iface) => {
                    if self.host.interface(&iface).is_none() {
                        self.warn(
                            Stage::Hook(Hook::Prerouting),
                            format!("interface `{iface}` is not declared in the host description"),
                        );
                    }
                    self.receive(iface)
                }
                None => self.send(),
            }
            .unwrap_or_else(|ended| ended)
        };
        self.record_flow(&fate);
        let hints = if self.hints {
            self.hints(&fate)
        } else {
            Vec::new()
        };
        Finished {
            branch: Branch {
                assumptions: Vec::new(),
                steps: self.steps,
                fate,
                hits: self.hits,
                hints,
                answer: None,
            },
            delta: self.view.delta,
            reject: self.reject,
            forks: self.forks,
            evaluations: self.evaluations,
        }
        .with_assumptions(self.assumptions)
    }

    /// An arriving packet: PREROUTING, routing, then INPUT or FORWARD + POSTROUTING.
    fn receive(&mut self, iface: String) -> Journey {
        self.in_iface = iface;
        self.out_iface.clear();
        if let Some(reason) = self
            .host
            .ipv6_receive_drop(self.src, self.dst, &self.in_iface)
        {
            return Err(self.martian(reason));
        }
        let pre = Hook::Prerouting;
        self.table(pre, TableKind::Raw)?;
        self.conntrack();
        self.table(pre, TableKind::Mangle)?;
        self.nat(pre, Manip::Dst)?;
        let igmp = self.pkt.protocol == rampart_ruleset::Protocol(2);
        if let Some(reason) = self.host.martian(self.src, self.dst, &self.in_iface, igmp) {
            return Err(self.martian(reason));
        }
        match self.host.route(self.dst) {
            RouteDecision::Local => {
                self.route("local delivery".to_string());
                self.input()
            }
            RouteDecision::Out { .. } if !self.host.forwarding => {
                self.route(format!("{} is not local; forwarding is off", self.dst));
                Err(Fate::NotForwarded { dst: self.dst })
            }
            RouteDecision::Out { dev, via } => {
                self.route(route_text("forward", &dev, via));
                self.out_iface = dev;
                self.forward()
            }
            RouteDecision::Unreachable => {
                self.route(format!("no route to {}", self.dst));
                Err(Fate::NoRoute { dst: self.dst })
            }
        }
    }

    fn input(&mut self) -> Journey {
        let hook = Hook::Input;
        self.table(hook, TableKind::Mangle)?;
        self.table(hook, TableKind::Filter)?;
        self.table(hook, TableKind::Security)?;
        self.nat(hook, Manip::Src)?;
        Ok(Fate::DeliveredLocally {
            addr: self.dst,
            port: self.dport,
        })
    }

    fn forward(&mut self) -> Journey {
        let hook = Hook::Forward;
        self.table(hook, TableKind::Mangle)?;
        self.table(hook, TableKind::Filter)?;
        self.table(hook, TableKind::Security)?;
        self.postrouting()?;
        Ok(Fate::Forwarded {
            out_iface: self.out_iface.clone(),
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
        })
    }

    fn postrouting(&mut self) -> Verdict {
        self.table(Hook::Postrouting, TableKind::Mangle)?;
        self.nat(Hook::Postrouting, Manip::Src)
    }

    /// Locally generated: the socket's route lookup comes first, so OUTPUT knows `-o`.
    fn send(&mut self) -> Journey {
        self.out_iface = self.output_route()?;
        let out = Hook::Output;
        self.table(out, TableKind::Raw)?;
        self.conntrack();
        self.table(out, TableKind::Mangle)?;
        let before = self.dst;
        self.nat(out, Manip::Dst)?;
        if self.dst != before {
            self.out_iface = self.output_route()?;
        }
        self.table(out, TableKind::Filter)?;
        self.table(out, TableKind::Security)?;
        self.postrouting()?;
        if self.out_iface == "lo" {
            // Looped back: the packet arrives on lo and walks PREROUTING and INPUT with the
            // connection (and its NAT) already set up.
            return self.receive("lo".to_string());
        }
        Ok(Fate::SentOut {
            out_iface: self.out_iface.clone(),
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
        })
    }

    fn output_route(&mut self) -> Result<String, Fate> {
        match self.host.route(self.dst) {
            RouteDecision::Local => {
                self.route("local destination: out lo".to_string());
                Ok("lo".to_string())
            }
            RouteDecision::Out { dev, via } => {
                self.route(route_text("", &dev, via));
                Ok(dev)
            }
            RouteDecision::Unreachable => {
                self.route(format!("no route to {}", self.dst));
                Err(Fate::NoRoute { dst: self.dst })
            }
        }
    }

    /// The kernel's receive path or routing drops the packet as a martian.
    fn martian(&mut self, reason: String) -> Fate {
        self.route(format!("dropped: {reason}"));
        Fate::Martian {
            src: self.src,
            reason,
        }
    }

    fn route(&mut self, decision: String) {
        self.push(Stage::Routing, None, None, None, Event::Route { decision });
    }

    fn warn(&mut self, stage: Stage, message: String) {
        self.push(stage, None, None, None, Event::Warning { message });
    }

    fn push(
        &mut self,
        stage: Stage,
        table: Option<TableKind>,
        chain: Option<&str>,
        rule: Option<(usize, String)>,
        event: Event,
    ) {
        let (rule, rule_text) = match rule {
            Some((n, text)) => (Some(n), Some(text)),
            None => (None, None),
        };
        self.steps.push(Step {
            stage,
            table,
            chain: chain.map(str::to_string),
            rule,
            rule_text,
            event,
        });
    }

    fn tuple(&self) -> Tuple {
        Tuple::of(self.pkt, self.src, self.sport, self.dst, self.dport)
    }

    /// The conntrack hook (priority -200): decides the state once per packet.
    fn conntrack(&mut self) {
        if self.ct.decided {
            return;
        }
        self.ct.decided = true;
        let tuple = self.tuple();
        self.ct.orig = tuple;
        let now = self.pkt.time_us();
        let proto = self.pkt.protocol;
        // ICMP errors are not looked up as a flow of their own: they belong to the flow
        // of the packet they quote (nf_conntrack_inet_error).
        let icmp = tuple.icmp.map(|k| k.ty);
        let error = icmp.is_some_and(|ty| conntrack::icmp_is_error(proto, ty));
        let ct = &self.view.base.conntrack;
        let found = if error {
            ct.related(self.src, self.dst, now)
        } else {
            ct.lookup(&tuple, now)
        }
        .map(|(id, dir)| (id, dir, ct.flow(id).clone()));
        let bad_flags = match (proto, self.pkt.tcp_flags) {
            (rampart_ruleset::Protocol::TCP, Some(flags)) => tcp_flags_invalid(flags),
            _ => None,
        };
        let (state, detail) = if self.ct.notrack {
            (CtState::Untracked, "NOTRACK in raw".to_string())
        } else if let Some(state) = self.pkt.ct_state {
            (state, "given by the packet".to_string())
        } else if let Some(why) = bad_flags {
            (CtState::Invalid, why)
        } else {
            match (&found, icmp) {
                (Some(_), _) if error => (
                    CtState::Related,
                    "ICMP error between the ends of a known flow: taken to quote one of its \
                     packets (the simulated packet carries no quoted header)"
                        .to_string(),
                ),
                (None, _) if error => (
                    CtState::Invalid,
                    "ICMP error quoting no known flow (an error from a router on the path, \
                     whose source is neither end of the flow, is not matched either: \
                     give `state RELATED`)"
                        .to_string(),
                ),
                (None, Some(ty)) if conntrack::icmpv6_untracked(proto, ty) => (
                    CtState::Untracked,
                    "neighbour discovery and MLD are not tracked".to_string(),
                ),
                (Some((_, Dir::Original, flow)), _) if flow.seen_reply => {
                    (CtState::Established, "known flow, reply seen".to_string())
                }
                (Some((_, Dir::Original, _)), _) => (
                    CtState::New,
                    "known flow, no reply seen yet; NAT binding already fixed".to_string(),
                ),
                (Some((_, Dir::Reply, _)), _) => {
                    (CtState::Established, "reply of a known flow".to_string())
                }
                (None, Some(ty)) if !conntrack::icmp_opens_flow(proto, ty) => (
                    CtState::Invalid,
                    format!(
                        "no flow known, and ICMP type {ty} is not a request that opens one \
                         (a reply answers only a request with the same type pair and echo id)"
                    ),
                ),
                (None, _) if proto == rampart_ruleset::Protocol::TCP => match self.pkt.tcp_flags {
                    Some(flags) => first_tcp_packet(flags, self.host.sysctls.tcp_loose),
                    None => (
                        CtState::New,
                        "no flow known: first packet (TCP flags not given)".to_string(),
                    ),
                },
                (None, _) => (CtState::New, "no flow known: first packet".to_string()),
            }
        };
        self.ct.state = state;
        if !self.ct.notrack && state != CtState::Invalid {
            if let Some((id, dir, mut flow)) = found {
                self.ct.mark = flow.mark;
                if error {
                    // A related error shares the flow's mark and NAT binding but
                    // neither answers nor refreshes it.
                    self.ct.related = true;
                } else {
                    // Every packet refreshes the timeout, and a reply marks the flow
                    // answered, whatever later tables decide (nf_conntrack_in runs first).
                    flow.seen_reply |= dir == Dir::Reply;
                    flow.last_us = now;
                }
                self.ct.flow = Some((id, dir, flow));
            }
        }
        self.push(
            Stage::Conntrack,
            None,
            None,
            None,
            Event::Conntrack { state, detail },
        );
    }

    fn ct_bits(&self) -> u8 {
        // Before the conntrack hook (the raw table) no entry is attached: xt_state sees
        // INVALID, or UNTRACKED once NOTRACK ran.
        if !self.ct.decided {
            return if self.ct.notrack {
                CtStates::UNTRACKED
            } else {
                CtStates::INVALID
            };
        }
        let mut bits = self.ct.state.bit();
        let (snat, dnat) = match &self.ct.flow {
            Some((_, _, flow)) => (flow.snat(), flow.dnat()),
            None => (
                (self.src, self.sport) != (self.ct.orig.src, self.ct.orig.sport),
                (self.dst, self.dport) != (self.ct.orig.dst, self.ct.orig.dport),
            ),
        };
        if snat {
            bits |= CtStates::SNAT;
        }
        if dnat {
            bits |= CtStates::DNAT;
        }
        bits
    }

    /// Walks one table's built-in chain for a hook.
    fn table(&mut self, hook: Hook, kind: TableKind) -> Verdict {
        let c = self.c;
        let Some(ti) = c.table(self.family, kind) else {
            return Ok(());
        };
        let table = &c.ruleset.tables[ti];
        let Some(base) = c.chain(ti, hook.chain()) else {
            return Ok(());
        };
        let stage = Stage::Hook(hook);
        if kind == TableKind::Nat && hook == Hook::Postrouting {
            self.nat_post_walked = true;
        }
        let policy = table.chains[base].policy.unwrap_or(Policy::Accept);
        if table.chains[base].rules.is_empty() {
            self.push(
                stage,
                Some(kind),
                Some(hook.chain()),
                None,
                Event::NoRules { policy },
            );
            return self.policy(table, hook.chain(), policy);
        }
        // Skip rules the classifier rules out, except where misses are recorded (explain,
        // the nat POSTROUTING hints) or NAT has given the packet a port it did not have.
        let records_misses = self.explain || (kind == TableKind::Nat && hook == Hook::Postrouting);
        let skip = !records_misses && self.index.is_some_and(|i| i.fits(self.sport, self.dport));
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let (mut chain, mut next) = (base, 0usize);
        let mut entries = 0usize;
        loop {
            let ch = &table.chains[chain];
            if skip && next < ch.rules.len() {
                let to = self
                    .next_candidate(ti, chain, next)
                    .unwrap_or(ch.rules.len());
                self.evaluations += to - next;
                if self.evaluations > MAX_RULE_EVALUATIONS {
                    return Err(Fate::Stopped {
                        limit: MAX_RULE_EVALUATIONS,
                    });
                }
                next = to;
            }
            let Some(rule) = ch.rules.get(next) else {
                if let Some((caller, resume)) = stack.pop() {
                    let to = table.chains[caller].name.clone();
                    self.push(
                        stage,
                        Some(kind),
                        Some(&ch.name),
                        None,
                        Event::Return { to },
                    );
                    (chain, next) = (caller, resume);
                    continue;
                }
                let name = &table.chains[base].name;
                self.push(
                    stage,
                    Some(kind),
                    Some(name),
                    None,
                    Event::Policy { policy },
                );
                return self.policy(table, name, policy);
            };
            self.evaluations += 1;
            if self.evaluations > MAX_RULE_EVALUATIONS {
                return Err(Fate::Stopped {
                    limit: MAX_RULE_EVALUATIONS,
                });
            }
            let number = next + 1;
            next += 1;
            let matched = self.matches(ti, chain, number - 1);
            // Warnings from the matcher (missing set, module not simulated) are shown at
            // the rule that caused them.
            for message in std::mem::take(&mut self.warnings) {
                let at = Some((number, rule_args(&rule.spec)));
                let event = Event::Warning { message };
                self.push(stage, Some(kind), Some(&ch.name), at, event);
            }
            if let Err(test) = matched {
                let nat_post = kind == TableKind::Nat && hook == Hook::Postrouting;
                if self.explain || nat_post {
                    let reason = describe(&rule.spec, test, &self.ctx((ti, chain, number - 1)));
                    let text = rule_args(&rule.spec);
                    if nat_post {
                        self.nat_misses.push(Miss {
                            place: format!("{kind}:{}:{number}", ch.name),
                            rule_text: text.clone(),
                            reason: reason.clone(),
                            nat_like: matches!(
                                &rule.spec.action,
                                Some(Action::Goto(_))
                                    | Some(Action::Jump(
                                        Target::Snat(_) | Target::Masquerade(_) | Target::Chain(_)
                                    ))
                            ),
                        });
                    }
                    if self.explain {
                        let at = Some((number, text));
                        let event = Event::NotMatched { reason };
                        self.push(stage, Some(kind), Some(&ch.name), at, event);
                    }
                }
                continue;
            }
            self.hits.push(RuleHit {
                family: self.family,
                table: kind,
                chain: ch.name.clone(),
                rule: number,
            });
            let at = Some((number, rule_args(&rule.spec)));
            let here = Some(ch.name.as_str());
            let enter = |name: &str, w: &mut Self| {
                let found = c.chain(ti, name);
                if found.is_none() {
                    w.warn(
                        stage,
                        format!("chain `{name}` does not exist; rule ignored"),
                    );
                }
                found
            };
            let target = match &rule.spec.action {
                None => {
                    self.push(stage, Some(kind), here, at, Event::Matched);
                    continue;
                }
                Some(Action::Goto(name)) => {
                    let Some(target) = enter(name, self) else {
                        continue;
                    };
                    self.push(
                        stage,
                        Some(kind),
                        here,
                        at,
                        Event::Goto {
                            chain: name.clone(),
                        },
                    );
                    entries += 1;
                    if entries > MAX_CHAIN_ENTRIES {
                        return Err(Fate::Aborted {
                            reason: format!("chain loop through {name}"),
                        });
                    }
                    (chain, next) = (target, 0);
                    continue;
                }
                Some(Action::Jump(t)) => t,
            };
            match target {
                Target::Chain(name) => {
                    let Some(callee) = enter(name, self) else {
                        continue;
                    };
                    self.push(
                        stage,
                        Some(kind),
                        here,
                        at,
                        Event::Jump {
                            chain: name.clone(),
                        },
                    );
                    entries += 1;
                    if stack.len() >= MAX_CALL_DEPTH || entries > MAX_CHAIN_ENTRIES {
                        return Err(Fate::Aborted {
                            reason: format!(
                                "jump to {name} exceeds the kernel's call depth of {MAX_CALL_DEPTH}"
                            ),
                        });
                    }
                    stack.push((chain, next));
                    (chain, next) = (callee, 0);
                }
                Target::Return => match stack.pop() {
                    Some((caller, resume)) => {
                        let to = table.chains[caller].name.clone();
                        self.push(stage, Some(kind), here, at, Event::Return { to });
                        (chain, next) = (caller, resume);
                    }
                    None => {
                        let name = &table.chains[base].name;
                        self.push(stage, Some(kind), here, at, Event::Policy { policy });
                        return self.policy(table, name, policy);
                    }
                },
                Target::Accept => {
                    self.push(stage, Some(kind), here, at, Event::Accept);
                    return Ok(());
                }
                Target::Drop => {
                    self.push(stage, Some(kind), here, at, Event::Drop);
                    return Err(Fate::Dropped {
                        table: kind,
                        chain: ch.name.clone(),
                        rule: Some(number),
                    });
                }
                Target::Reject(with) => {
                    self.push(stage, Some(kind), here, at, Event::Reject { with: *with });
                    self.reject = Some(self.reject_seed(*with));
                    return Err(Fate::Rejected {
                        table: kind,
                        chain: ch.name.clone(),
                        rule: Some(number),
                        with: *with,
                    });
                }
                Target::Log(log) => {
                    let prefix = log.prefix.clone();
                    self.push(stage, Some(kind), here, at, Event::Log { prefix });
                }
                Target::Trace => self.push(stage, Some(kind), here, at, Event::TraceTarget),
                Target::Nflog(n) => {
                    let event = Event::Nflog {
                        group: n.group,
                        prefix: n.prefix.clone(),
                    };
                    self.push(stage, Some(kind), here, at, event);
                }
                Target::Set(t) => match self.set_target(t) {
                    Ok(event) => self.push(stage, Some(kind), here, at, event),
                    Err(message) => self.warn(stage, message),
                },
                Target::Mark(x) => {
                    let from = self.mark;
                    self.mark = x.apply(from);
                    self.push(
                        stage,
                        Some(kind),
                        here,
                        at,
                        Event::Mark {
                            from,
                            to: self.mark,
                        },
                    );
                }
                Target::Connmark(op) => {
                    let event = self.connmark(*op);
                    self.push(stage, Some(kind), here, at, event);
                }
                // CT --notrack returns XT_CONTINUE in the kernel: later rules still run.
                Target::Notrack => {
                    if kind == TableKind::Raw {
                        self.ct.notrack = true;
                        self.push(stage, Some(kind), here, at, Event::Notrack);
                    } else {
                        self.warn(stage, "NOTRACK outside the raw table has no effect".into());
                    }
                }
                Target::Snat(_)
                | Target::Dnat(_)
                | Target::Masquerade(_)
                | Target::Redirect(_)
                | Target::Netmap(_) => match self.nat_target(hook, kind, target) {
                    Ok(event) => {
                        self.push(stage, Some(kind), here, at, event);
                        return Ok(());
                    }
                    Err(Some(message)) => {
                        self.push(stage, Some(kind), here, at, Event::Drop);
                        self.warn(stage, message);
                        return Err(Fate::Dropped {
                            table: kind,
                            chain: ch.name.clone(),
                            rule: Some(number),
                        });
                    }
                    Err(None) => self.warn(
                        stage,
                        format!(
                            "NAT target in {kind}:{} is not valid there; ignored",
                            hook.chain()
                        ),
                    ),
                },
                other => match self.ext_target(kind, other) {
                    Some(targets::Outcome::Goes(event)) => {
                        self.push(stage, Some(kind), here, at, event)
                    }
                    Some(targets::Outcome::Warn(message)) => self.warn(stage, message),
                    Some(targets::Outcome::Ends(event, result)) => {
                        self.push(stage, Some(kind), here, at, event);
                        let chain = ch.name.clone();
                        return match result {
                            Ok(()) => Ok(()),
                            Err(targets::FateKind::Dropped) => Err(Fate::Dropped {
                                table: kind,
                                chain,
                                rule: Some(number),
                            }),
                            Err(targets::FateKind::Queued { queue, bypass }) => Err(Fate::Queued {
                                table: kind,
                                chain,
                                rule: number,
                                queue,
                                bypass,
                            }),
                        };
                    }
                    None => {
                        self.warn(stage, format!("target {other:?} is not simulated; ignored"));
                    }
                },
            }
        }
    }

    /// The packet's fields as the classifier looks them up, as they are now.
    fn query(&self) -> Query<'_> {
        Query {
            src: self.src,
            dst: self.dst,
            proto: self.pkt.protocol,
            sport: self.sport,
            dport: self.dport,
            in_iface: &self.in_iface,
            out_iface: &self.out_iface,
            ct_bits: self.ct_bits(),
        }
    }

    /// The first rule at or after `from` of chain `chain` of table `table` that the
    /// classifier cannot rule out for the packet as it is now.
    fn next_candidate(&mut self, table: usize, chain: usize, from: usize) -> Option<usize> {
        let index = self.index?;
        let q = Query {
            src: self.src,
            dst: self.dst,
            proto: self.pkt.protocol,
            sport: self.sport,
            dport: self.dport,
            in_iface: &self.in_iface,
            out_iface: &self.out_iface,
            ct_bits: self.ct_bits(),
        };
        // Field by field rather than `self.query()`: `s` below borrows `self.scratch`
        // mutably while `q` borrows the interfaces.
        let s = &mut *self.scratch;
        let walk = s.walk;
        let cached = s
            .candidates
            .iter()
            .position(|c| c.fits(walk, table, chain, &q));
        let slot = match cached {
            Some(slot) => slot,
            None => {
                let stale = s.candidates.iter().position(|c| c.walk != walk);
                let slot = if let Some(slot) = stale {
                    slot
                } else if s.candidates.len() < CANDIDATE_SLOTS {
                    s.candidates.push(Candidates {
                        walk,
                        table,
                        chain,
                        src: q.src,
                        dst: q.dst,
                        sport: q.sport,
                        dport: q.dport,
                        in_iface: String::new(),
                        out_iface: String::new(),
                        ct_bits: q.ct_bits,
                        words: Vec::new(),
                    });
                    s.candidates.len() - 1
                } else {
                    s.next = (s.next + 1) % CANDIDATE_SLOTS;
                    s.next
                };
                let c = &mut s.candidates[slot];
                (c.walk, c.table, c.chain, c.src, c.dst) = (walk, table, chain, q.src, q.dst);
                (c.sport, c.dport, c.ct_bits) = (q.sport, q.dport, q.ct_bits);
                c.in_iface.clone_from(&self.in_iface);
                c.out_iface.clone_from(&self.out_iface);
                index.candidates(table, chain, &q, &mut c.words, &mut s.words);
                slot
            }
        };
        next_set(&s.candidates[slot].words, from)
    }

    fn policy(&self, table: &Table, chain: &str, policy: Policy) -> Verdict {
        match policy {
            Policy::Accept => Ok(()),
            Policy::Drop => Err(Fate::Dropped {
                table: table.kind,
                chain: chain.to_string(),
                rule: None,
            }),
        }
    }

    /// The packet as matches see it at this point of the walk, for explanations.
    /// `-j SET` on an address-only set, as nftables does it: `add` leaves a running entry
    /// alone, `--exist` (`update`) restarts its timeout, a full set takes nothing.
    fn set_target(&mut self, t: &SetTarget) -> Result<Event, String> {
        let Some(set) = self.c.sets.get(&t.set) else {
            return Err(format!(
                "-j SET: set `{}` is not defined: not simulated",
                t.set
            ));
        };
        let (Some(dir), true) = (t.dirs.first(), t.dirs.len() == 1) else {
            return Err(format!(
                "-j SET {}: only single-address sets are simulated",
                t.set
            ));
        };
        if !set.holds_addresses(self.family) {
            return Err(format!("-j SET {}: only hash:ip sets are simulated", t.set));
        }
        let addr = match dir {
            SetDir::Src => self.src,
            SetDir::Dst => self.dst,
        };
        let now = self.pkt.time_us();
        let present = match self.view.member(&t.set, addr) {
            Some(m) => m.at(now),
            None => set.has_addr(addr),
        };
        let change = match t.op {
            SetOp::Del => {
                self.view.set_member(&t.set, addr, Membership::Removed);
                SetChange::Removed
            }
            SetOp::Add if present && !t.exist => SetChange::AlreadyPresent,
            SetOp::Add => {
                let full =
                    set.declared + self.view.members_live(&t.set, now) >= set.maxelem as usize;
                if !present && full {
                    SetChange::Full
                } else {
                    let timeout = t.timeout.or(set.timeout);
                    let expires_us = timeout.map(|s| now + u64::from(s) * 1_000_000);
                    self.view
                        .set_member(&t.set, addr, Membership::Present { expires_us });
                    if present {
                        SetChange::Refreshed { timeout }
                    } else {
                        SetChange::Added { timeout }
                    }
                }
            }
        };
        Ok(Event::SetEntry {
            set: t.set.clone(),
            addr,
            change,
        })
    }

    fn ctx(&self, rule_at: (usize, usize, usize)) -> Ctx<'_> {
        Ctx {
            pkt: self.pkt,
            family: self.family,
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
            mark: self.mark,
            ct_mark: self.ct.mark,
            ct_orig_ports: (self.ct.orig.sport, self.ct.orig.dport),
            ct_reply_dir: (self.ct.decided && !self.ct.notrack)
                .then_some(matches!(self.ct.flow, Some((_, Dir::Reply, _)))),
            in_iface: &self.in_iface,
            out_iface: &self.out_iface,
            ct_bits: self.ct_bits(),
            orig_src: self.ct.orig.src,
            orig_dst: self.ct.orig.dst,
            ct_pending: self.ct.flow.is_none() && !self.ct.notrack,
            host: self.host,
            sets: &self.c.sets,
            now_us: self.pkt.time_us(),
            kernel_socket: self.kernel_socket,
            rule_at,
        }
    }

    /// Every failing test of a rule, evaluated against scratch state so nothing of the
    /// walk changes (rate limits consume from a throwaway overlay, unknown fields count as
    /// matching).
    fn failing(&self, table: usize, chain: usize, rule: usize) -> (Vec<Test>, usize) {
        let spec = &self.c.ruleset.tables[table].chains[chain].rules[rule].spec;
        let ctx = self.ctx((table, chain, rule));
        let mut view = View {
            base: self.view.base,
            delta: Delta::default(),
        };
        let mut assumptions = self.assumptions.clone();
        let mut forks = Vec::new();
        let mut warnings = Vec::new();
        let mut env = Env {
            view: &mut view,
            decide: Decider {
                assumptions: &mut assumptions,
                forks: &mut forks,
            },
            warnings: &mut warnings,
        };
        failing_tests(spec, &ctx, &mut env)
    }

    fn matches(&mut self, table: usize, chain: usize, rule: usize) -> Result<(), Test> {
        let spec = &self.c.ruleset.tables[table].chains[chain].rules[rule].spec;
        // Field by field rather than `self.ctx(..)`: `env` below borrows other fields of
        // `self` mutably, which a method borrowing all of `self` would forbid.
        let ctx = Ctx {
            pkt: self.pkt,
            family: self.family,
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
            mark: self.mark,
            ct_mark: self.ct.mark,
            ct_orig_ports: (self.ct.orig.sport, self.ct.orig.dport),
            ct_reply_dir: (self.ct.decided && !self.ct.notrack)
                .then_some(matches!(self.ct.flow, Some((_, Dir::Reply, _)))),
            in_iface: &self.in_iface,
            out_iface: &self.out_iface,
            ct_bits: self.ct_bits(),
            orig_src: self.ct.orig.src,
            orig_dst: self.ct.orig.dst,
            ct_pending: self.ct.flow.is_none() && !self.ct.notrack,
            host: self.host,
            sets: &self.c.sets,
            now_us: self.pkt.time_us(),
            kernel_socket: self.kernel_socket,
            rule_at: (table, chain, rule),
        };
        let mut env = Env {
            view: &mut self.view,
            decide: Decider {
                assumptions: &mut self.assumptions,
                forks: &mut self.forks,
            },
            warnings: &mut self.warnings,
        };
        rule_matches(spec, &ctx, &mut env)
    }

    fn connmark(&mut self, op: ConnmarkTarget) -> Event {
        match op {
            ConnmarkTarget::Set(x) => {
                let from = self.ct.mark;
                self.ct.mark = x.apply(from);
                Event::Connmark {
                    from,
                    to: self.ct.mark,
                }
            }
            ConnmarkTarget::Save { nfmask, ctmask } => {
                let from = self.ct.mark;
                self.ct.mark = (from & !ctmask) ^ (self.mark & nfmask);
                Event::Connmark {
                    from,
                    to: self.ct.mark,
                }
            }
            ConnmarkTarget::Restore { nfmask, ctmask } => {
                let from = self.mark;
                self.mark = (from & !nfmask) ^ (self.ct.mark & ctmask);
                Event::Mark {
                    from,
                    to: self.mark,
                }
            }
        }
    }

    /// Records the connection when a NEW, tracked packet survives, or the known flow's
    /// refreshed state.
    fn record_flow(&mut self, fate: &Fate) {
        if !self.ct.decided || self.ct.notrack || self.ct.attached {
            return;
        }
        let mark = self.ct.mark;
        match &mut self.ct.flow {
            Some((id, _, flow)) => {
                flow.mark = mark;
                self.view.delta.updated_flow = Some((*id, flow.clone()));
            }
            None if fate.passed() && self.ct.state == CtState::New => {
                self.view.delta.new_flow = Some(Flow {
                    orig: self.ct.orig,
                    reply: self.tuple().invert(),
                    seen_reply: false,
                    mark,
                    last_us: self.pkt.time_us(),
                });
            }
            None => {}
        }
    }
}

impl Finished {
    fn with_assumptions(mut self, assumptions: Vec<(Atom, bool)>) -> Finished {
        self.branch.assumptions = assumptions
            .into_iter()
            .map(|(atom, holds)| crate::trace::Assumption {
                test: atom.to_string(),
                holds,
            })
            .collect();
        self
    }
}

/// `forward out eth0 via 192.0.2.254`; an empty verb gives `out eth0 ...`.
fn route_text(verb: &str, dev: &str, via: Option<IpAddr>) -> String {
    let verb = if verb.is_empty() {
        String::new()
    } else {
        format!("{verb} ")
    };
    match via {
        Some(gw) => format!("{verb}out {dev} via {gw}"),
        None => format!("{verb}out {dev}"),
    }
}

/// The kernel's `tcp_error` flag check (`tcp_valid_flags`), which runs before any flow is
/// looked up: with ECE, CWR and PSH ignored, only SYN, SYN+URG, SYN+ACK, RST, RST+ACK,
/// FIN+ACK, FIN+ACK+URG, ACK and ACK+URG are valid. Any other combination (a lone FIN,
/// SYN+FIN, no flags) is INVALID, flow or not.
fn tcp_flags_invalid(flags: TcpFlags) -> Option<String> {
    const VALID: [u8; 9] = [
        TcpFlags::SYN,
        TcpFlags::SYN | TcpFlags::URG,
        TcpFlags::SYN | TcpFlags::ACK,
        TcpFlags::RST,
        TcpFlags::RST | TcpFlags::ACK,
        TcpFlags::FIN | TcpFlags::ACK,
        TcpFlags::FIN | TcpFlags::ACK | TcpFlags::URG,
        TcpFlags::ACK,
        TcpFlags::ACK | TcpFlags::URG,
    ];
    let bits = flags.0 & (TcpFlags::ALL & !TcpFlags::PSH);
    (!VALID.contains(&bits)).then(|| {
        format!(
            "invalid TCP flag combination {} (conntrack's tcp_error)",
            flag_names(flags)
        )
    })
}

/// A first TCP packet without a flow, as the kernel's `tcp_new` classifies it by its
/// flags (`get_conntrack_index`: RST, then SYN/SYN+ACK, FIN, ACK): a SYN opens a flow; a
/// pure ACK (also with PSH or URG) opens one only under `nf_conntrack_tcp_loose=1`
/// (picked up as established in the middle of a connection, still NEW to iptables);
/// a SYN+ACK, FIN+ACK, RST or RST+ACK is INVALID, and the nat table skips it.
fn first_tcp_packet(flags: TcpFlags, loose: bool) -> (CtState, String) {
    let names = flag_names(flags);
    if flags.has(TcpFlags::RST) {
        (
            CtState::Invalid,
            format!("no flow known; a first packet with {names} (RST) opens none"),
        )
    } else if flags.has(TcpFlags::SYN) && flags.has(TcpFlags::ACK) {
        (
            CtState::Invalid,
            format!("no flow known; a first packet with {names} (SYN+ACK) opens none"),
        )
    } else if flags.has(TcpFlags::SYN) {
        (CtState::New, "no flow known: first packet".to_string())
    } else if flags.has(TcpFlags::FIN) {
        (
            CtState::Invalid,
            format!("no flow known; a first packet with {names} (FIN) opens none"),
        )
    } else if !loose {
        (
            CtState::Invalid,
            format!("no flow known; {names} without SYN opens none (nf_conntrack_tcp_loose=0)"),
        )
    } else {
        (
            CtState::New,
            format!(
                "no flow known; {names} without SYN picked up as a connection in progress \
                 (nf_conntrack_tcp_loose=1)"
            ),
        )
    }
}

/// `SYN,ACK` or `none`.
fn flag_names(flags: TcpFlags) -> String {
    let names: Vec<&str> = TcpFlags::NAMES
        .iter()
        .filter(|(_, bit)| flags.has(*bit))
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "no flags".to_string()
    } else {
        names.join(",")
    }
}
