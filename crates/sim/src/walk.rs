//! One walk of a packet through the hooks, tables and chains, under fixed assumptions.
//!
//! The walk is deterministic given the base state and its assumptions, which is what lets
//! the simulator explore a fork by re-running the walk from the start with one more
//! assumption instead of snapshotting a half-finished traversal.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rampart_prefix::AddrRange;
use rampart_ruleset::{
    rule_args, Action, ConnmarkTarget, CtStates, Family, MasqueradeTarget, NatTarget, Policy,
    PortRange, Ruleset, Table, TableKind, Target,
};

use crate::conntrack::{Dir, Flow, Tuple};
use crate::host::{Host, RouteDecision};
use crate::matcher::{rule_matches, Atom, Ctx, Decider, Env, Sets};
use crate::packet::{CtState, Packet};
use crate::state::{Delta, State, View};
use crate::trace::{Branch, Endpoint, Event, Fate, Hook, NatKind, RuleHit, Stage, Step};

/// Deepest chain call stack: nftables' `NFT_JUMP_STACK_SIZE` (iptables-nft, the kernel path
/// rampart targets, refuses deeper rulesets at load time).
pub(crate) const MAX_CALL_DEPTH: usize = 16;

/// Chain entries (jumps + gotos) allowed in one table traversal. The kernel refuses chain
/// loops at load time, so a model that gets this far loops and the walk stops.
const MAX_CHAIN_ENTRIES: usize = 4096;

/// The ruleset with lookup tables built once per simulator.
pub(crate) struct Compiled<'r> {
    pub ruleset: &'r Ruleset,
    tables: HashMap<(Family, TableKind), usize>,
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

    fn chain(&self, table: usize, name: &str) -> Option<usize> {
        self.chains[table].get(name).copied()
    }
}

/// Which half of a NAT binding a nat hook sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Manip {
    /// PREROUTING and OUTPUT: the destination.
    Dst,
    /// POSTROUTING and INPUT: the source.
    Src,
}

/// The conntrack view of the packet.
struct Ct {
    decided: bool,
    state: CtState,
    /// Set by NOTRACK before the conntrack hook.
    notrack: bool,
    flow: Option<(usize, Dir, Flow)>,
    orig: Tuple,
    mark: u32,
    dst_done: bool,
    src_done: bool,
}

/// How a table traversal ended.
enum Verdict {
    /// ACCEPT, policy ACCEPT or a NAT target: on to the next table.
    Continue,
    /// The packet's journey ends.
    End(Fate),
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
}

/// What a finished run hands back.
pub(crate) struct Finished {
    pub branch: Branch,
    pub delta: Delta,
    pub forks: Vec<Vec<(Atom, bool)>>,
}

impl<'a, 'r> Walk<'a, 'r> {
    pub fn new(
        c: &'a Compiled<'r>,
        host: &'a Host,
        state: &'a State,
        pkt: &'a Packet,
        assumptions: Vec<(Atom, bool)>,
    ) -> Walk<'a, 'r> {
        let orig = Tuple {
            proto: pkt.protocol,
            src: pkt.src,
            sport: pkt.sport,
            dst: pkt.dst,
            dport: pkt.dport,
        };
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
                orig,
                mark: 0,
                dst_done: false,
                src_done: false,
            },
        }
    }

    /// Runs the walk to its fate.
    pub fn finish(mut self) -> Finished {
        let fate = if self.pkt.src.is_ipv4() != self.pkt.dst.is_ipv4() {
            Fate::Aborted {
                reason: "source and destination are of different families".to_string(),
            }
        } else {
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
        };
        self.record_flow(&fate);
        for message in std::mem::take(&mut self.warnings) {
            self.warn(Stage::Routing, message);
        }
        Finished {
            branch: Branch {
                assumptions: Vec::new(),
                steps: self.steps,
                fate,
                hits: self.hits,
            },
            delta: self.view.delta,
            forks: self.forks,
        }
        .with_assumptions(self.assumptions)
    }

    fn receive(&mut self, iface: String) -> Fate {
        self.in_iface = iface;
        self.out_iface.clear();
        let pre = Hook::Prerouting;
        if let Verdict::End(f) = self.table(pre, TableKind::Raw) {
            return f;
        }
        self.conntrack();
        if let Verdict::End(f) = self.table(pre, TableKind::Mangle) {
            return f;
        }
        if let Verdict::End(f) = self.nat(pre, Manip::Dst) {
            return f;
        }
        match self.host.route(self.dst) {
            RouteDecision::Local => {
                self.route("local delivery".to_string());
                self.input()
            }
            RouteDecision::Out { .. } if !self.host.forwarding => {
                self.route(format!("{} is not local; forwarding is off", self.dst));
                Fate::NotForwarded { dst: self.dst }
            }
            RouteDecision::Out { dev, via } => {
                self.route(route_text("forward", &dev, via));
                self.out_iface = dev;
                self.forward()
            }
            RouteDecision::Unreachable => {
                self.route(format!("no route to {}", self.dst));
                Fate::NoRoute { dst: self.dst }
            }
        }
    }

    fn input(&mut self) -> Fate {
        let hook = Hook::Input;
        for kind in [TableKind::Mangle, TableKind::Filter, TableKind::Security] {
            if let Verdict::End(f) = self.table(hook, kind) {
                return f;
            }
        }
        if let Verdict::End(f) = self.nat(hook, Manip::Src) {
            return f;
        }
        Fate::DeliveredLocally {
            addr: self.dst,
            port: self.dport,
        }
    }

    fn forward(&mut self) -> Fate {
        for kind in [TableKind::Mangle, TableKind::Filter, TableKind::Security] {
            if let Verdict::End(f) = self.table(Hook::Forward, kind) {
                return f;
            }
        }
        if let Some(f) = self.postrouting() {
            return f;
        }
        Fate::Forwarded {
            out_iface: self.out_iface.clone(),
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
        }
    }

    fn postrouting(&mut self) -> Option<Fate> {
        let hook = Hook::Postrouting;
        if let Verdict::End(f) = self.table(hook, TableKind::Mangle) {
            return Some(f);
        }
        match self.nat(hook, Manip::Src) {
            Verdict::End(f) => Some(f),
            Verdict::Continue => None,
        }
    }

    /// Locally generated: the socket's route lookup comes first, so OUTPUT knows `-o`.
    fn send(&mut self) -> Fate {
        let Some(dev) = self.output_route() else {
            return Fate::NoRoute { dst: self.dst };
        };
        self.out_iface = dev;
        let out = Hook::Output;
        for kind in [TableKind::Raw, TableKind::Mangle] {
            if kind == TableKind::Mangle {
                self.conntrack();
            }
            if let Verdict::End(f) = self.table(out, kind) {
                return f;
            }
        }
        let before = self.dst;
        if let Verdict::End(f) = self.nat(out, Manip::Dst) {
            return f;
        }
        if self.dst != before {
            match self.output_route() {
                Some(dev) => self.out_iface = dev,
                None => return Fate::NoRoute { dst: self.dst },
            }
        }
        for kind in [TableKind::Filter, TableKind::Security] {
            if let Verdict::End(f) = self.table(out, kind) {
                return f;
            }
        }
        if let Some(f) = self.postrouting() {
            return f;
        }
        if self.out_iface == "lo" {
            // Looped back: the packet arrives on lo and walks PREROUTING and INPUT with the
            // connection (and its NAT) already set up.
            return self.receive("lo".to_string());
        }
        Fate::SentOut {
            out_iface: self.out_iface.clone(),
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
        }
    }

    fn output_route(&mut self) -> Option<String> {
        match self.host.route(self.dst) {
            RouteDecision::Local => {
                self.route("local destination: out lo".to_string());
                Some("lo".to_string())
            }
            RouteDecision::Out { dev, via } => {
                self.route(route_text("out", &dev, via));
                Some(dev)
            }
            RouteDecision::Unreachable => {
                self.route(format!("no route to {}", self.dst));
                None
            }
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
        Tuple {
            proto: self.pkt.protocol,
            src: self.src,
            sport: self.sport,
            dst: self.dst,
            dport: self.dport,
        }
    }

    /// The conntrack hook (priority -200): decides the state once per packet.
    fn conntrack(&mut self) {
        if self.ct.decided {
            return;
        }
        self.ct.decided = true;
        let tuple = self.tuple();
        self.ct.orig = tuple;
        let found = self.view.base.conntrack.lookup(&tuple).map(|(id, dir)| {
            let flow = self.view.base.conntrack.flow(id).clone();
            (id, dir, flow)
        });
        let (state, detail) = if self.ct.notrack {
            (CtState::Untracked, "NOTRACK in raw".to_string())
        } else if let Some(state) = self.pkt.ct_state {
            (state, "given by the packet".to_string())
        } else {
            match &found {
                Some((_, Dir::Original, flow)) if flow.seen_reply => {
                    (CtState::Established, "known flow, reply seen".to_string())
                }
                Some((_, Dir::Original, _)) => (
                    CtState::New,
                    "known flow, no reply seen yet; NAT binding already fixed".to_string(),
                ),
                Some((_, Dir::Reply, _)) => {
                    (CtState::Established, "reply of a known flow".to_string())
                }
                None if self.pkt.protocol == rampart_ruleset::Protocol::TCP
                    && self.pkt.tcp_flags.is_some_and(|f| !f.has(rampart_ruleset::TcpFlags::SYN)) =>
                {
                    (
                        CtState::New,
                        "no flow known; first packet without SYN, accepted as nf_conntrack_tcp_loose=1"
                            .to_string(),
                    )
                }
                None => (CtState::New, "no flow known: first packet".to_string()),
            }
        };
        self.ct.state = state;
        if !self.ct.notrack {
            if let Some((id, dir, mut flow)) = found {
                self.ct.mark = flow.mark;
                if dir == Dir::Reply && !flow.seen_reply {
                    flow.seen_reply = true;
                    self.view.delta.updated_flow = Some((id, flow.clone()));
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

    /// Whether the nat table may run: tracked packets only, and only for a connection
    /// without a binding (its first packet).
    fn nat_fresh(&self) -> bool {
        self.ct.flow.is_none() && self.ct.state == CtState::New && !self.ct.notrack
    }

    fn nat(&mut self, hook: Hook, manip: Manip) -> Verdict {
        if self.ct.notrack || matches!(self.ct.state, CtState::Untracked | CtState::Invalid) {
            return Verdict::Continue;
        }
        if let Some((_, dir, flow)) = &self.ct.flow {
            let target = flow.target(*dir);
            let stage = Stage::Hook(hook);
            match manip {
                Manip::Dst if (self.dst, self.dport) != (target.dst, target.dport) => {
                    let from = self.endpoint_dst();
                    self.dst = target.dst;
                    self.dport = target.dport;
                    let to = self.endpoint_dst();
                    self.push(
                        stage,
                        Some(TableKind::Nat),
                        None,
                        None,
                        nat_event(NatKind::Dnat, from, to, true),
                    );
                }
                Manip::Src if (self.src, self.sport) != (target.src, target.sport) => {
                    let from = self.endpoint_src();
                    self.src = target.src;
                    self.sport = target.sport;
                    let to = self.endpoint_src();
                    self.push(
                        stage,
                        Some(TableKind::Nat),
                        None,
                        None,
                        nat_event(NatKind::Snat, from, to, true),
                    );
                }
                _ => {}
            }
            return Verdict::Continue;
        }
        let fresh = self.nat_fresh();
        let done = match manip {
            Manip::Dst => &mut self.ct.dst_done,
            Manip::Src => &mut self.ct.src_done,
        };
        if *done || !fresh {
            return Verdict::Continue;
        }
        *done = true;
        self.table(hook, TableKind::Nat)
    }

    fn endpoint_src(&self) -> Endpoint {
        Endpoint {
            addr: self.src,
            port: self.sport,
        }
    }

    fn endpoint_dst(&self) -> Endpoint {
        Endpoint {
            addr: self.dst,
            port: self.dport,
        }
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
        let Some(&ti) = c.tables.get(&(self.family, kind)) else {
            return Verdict::Continue;
        };
        let table = &c.ruleset.tables[ti];
        let Some(base) = c.chain(ti, hook.chain()) else {
            return Verdict::Continue;
        };
        let stage = Stage::Hook(hook);
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
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let (mut chain, mut next) = (base, 0usize);
        let mut entries = 0usize;
        loop {
            let ch = &table.chains[chain];
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
            let number = next + 1;
            next += 1;
            if !self.matches(ti, chain, number - 1) {
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
            let enter = |name: &str, w: &mut Self| -> Result<usize, Verdict> {
                match c.chain(ti, name) {
                    Some(target) => Ok(target),
                    None => {
                        w.warn(
                            stage,
                            format!("chain `{name}` does not exist; rule ignored"),
                        );
                        Err(Verdict::Continue)
                    }
                }
            };
            let target = match &rule.spec.action {
                None => {
                    self.push(stage, Some(kind), here, at, Event::Matched);
                    continue;
                }
                Some(Action::Goto(name)) => {
                    let Ok(target) = enter(name, self) else {
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
                        return Verdict::End(Fate::Aborted {
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
                    let Ok(callee) = enter(name, self) else {
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
                        return Verdict::End(Fate::Aborted {
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
                    return Verdict::Continue;
                }
                Target::Drop => {
                    self.push(stage, Some(kind), here, at, Event::Drop);
                    return Verdict::End(Fate::Dropped {
                        table: kind,
                        chain: ch.name.clone(),
                        rule: Some(number),
                    });
                }
                Target::Reject(with) => {
                    self.push(stage, Some(kind), here, at, Event::Reject { with: *with });
                    return Verdict::End(Fate::Rejected {
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
                Target::Snat(_) | Target::Dnat(_) | Target::Masquerade(_) | Target::Redirect(_) => {
                    match self.nat_target(hook, kind, target) {
                        Ok(event) => {
                            self.push(stage, Some(kind), here, at, event);
                            return Verdict::Continue;
                        }
                        Err(Some(message)) => {
                            self.push(stage, Some(kind), here, at, Event::Drop);
                            self.warn(stage, message);
                            return Verdict::End(Fate::Dropped {
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
                    }
                }
                other => {
                    self.warn(stage, format!("target {other:?} is not simulated; ignored"));
                }
            }
        }
    }

    fn policy(&self, table: &Table, chain: &str, policy: Policy) -> Verdict {
        match policy {
            Policy::Accept => Verdict::Continue,
            Policy::Drop => Verdict::End(Fate::Dropped {
                table: table.kind,
                chain: chain.to_string(),
                rule: None,
            }),
        }
    }

    fn matches(&mut self, table: usize, chain: usize, rule: usize) -> bool {
        let spec = &self.c.ruleset.tables[table].chains[chain].rules[rule].spec;
        let ctx = Ctx {
            pkt: self.pkt,
            family: self.family,
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
            mark: self.mark,
            in_iface: &self.in_iface,
            out_iface: &self.out_iface,
            ct_bits: self.ct_bits(),
            orig_src: self.ct.orig.src,
            orig_dst: self.ct.orig.dst,
            ct_pending: self.ct.flow.is_none() && !self.ct.notrack,
            host: self.host,
            sets: &self.c.sets,
            now_us: self.pkt.time_us(),
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

    /// Applies a NAT target. `Err(None)`: not valid at this hook; `Err(Some(why))`: the
    /// kernel drops the packet (no address to masquerade or redirect to).
    fn nat_target(
        &mut self,
        hook: Hook,
        kind: TableKind,
        target: &Target,
    ) -> Result<Event, Option<String>> {
        let dst_hook = matches!(hook, Hook::Prerouting | Hook::Output);
        if kind != TableKind::Nat {
            return Err(None);
        }
        let (nat_kind, addrs, ports) = match target {
            Target::Dnat(t) if dst_hook => (NatKind::Dnat, self.range_pick(t, self.dst), t.ports),
            Target::Snat(t) if !dst_hook => (NatKind::Snat, self.range_pick(t, self.src), t.ports),
            Target::Redirect(MasqueradeTarget { ports, .. }) if dst_hook => {
                let addr = if self.in_iface.is_empty() {
                    Some(loopback(self.family))
                } else {
                    self.host.primary_addr(&self.in_iface, self.family)
                };
                let addr = addr.ok_or_else(|| {
                    Some(format!(
                        "REDIRECT: {} has no {:?} address, the kernel drops the packet",
                        self.in_iface, self.family
                    ))
                })?;
                (NatKind::Redirect, addr, *ports)
            }
            Target::Masquerade(MasqueradeTarget { ports, .. }) if !dst_hook => {
                let addr = self
                    .host
                    .primary_addr(&self.out_iface, self.family)
                    .ok_or_else(|| {
                        Some(format!(
                            "MASQUERADE: {} has no {:?} address, the kernel drops the packet",
                            self.out_iface, self.family
                        ))
                    })?;
                (NatKind::Masquerade, addr, *ports)
            }
            _ => return Err(None),
        };
        let stage_dst = matches!(nat_kind, NatKind::Dnat | NatKind::Redirect);
        let (addr, port) = if stage_dst {
            (&mut self.dst, &mut self.dport)
        } else {
            (&mut self.src, &mut self.sport)
        };
        let from = Endpoint {
            addr: *addr,
            port: *port,
        };
        *addr = addrs;
        *port = port_pick(ports, *port, self.pkt.protocol.has_ports());
        let to = Endpoint {
            addr: *addr,
            port: *port,
        };
        if stage_dst {
            self.ct.dst_done = true;
        } else {
            self.ct.src_done = true;
        }
        Ok(if from == to {
            Event::NatNoChange { kind: nat_kind }
        } else {
            nat_event(nat_kind, from, to, false)
        })
    }

    /// The address a NAT range gives: the current one when already inside (the kernel
    /// keeps a tuple that fits), else the range's first. The kernel hashes over
    /// multi-address ranges; the first address is a deterministic stand-in.
    fn range_pick(&self, t: &NatTarget, current: IpAddr) -> IpAddr {
        match t.addrs {
            Some(r) if !r.contains(current) => first(r),
            _ => current,
        }
    }

    /// Records the connection when a NEW, tracked packet survives.
    fn record_flow(&mut self, fate: &Fate) {
        if !self.ct.decided || self.ct.notrack {
            return;
        }
        let mark = self.ct.mark;
        match &mut self.ct.flow {
            Some((id, _, flow)) if flow.mark != mark => {
                flow.mark = mark;
                self.view.delta.updated_flow = Some((*id, flow.clone()));
            }
            Some(_) => {}
            None if fate.passed() && self.ct.state == CtState::New => {
                self.view.delta.new_flow = Some(Flow {
                    orig: self.ct.orig,
                    reply: self.tuple().invert(),
                    seen_reply: false,
                    mark,
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

fn first(r: AddrRange) -> IpAddr {
    r.start()
}

fn port_pick(range: Option<PortRange>, current: Option<u16>, has_ports: bool) -> Option<u16> {
    match (range, current) {
        (Some(r), Some(p)) if r.contains(p) => Some(p),
        (Some(r), Some(_)) => Some(r.lo),
        // The packet's port is unknown (a forked branch): the target sets one anyway.
        (Some(r), None) if has_ports => Some(r.lo),
        (_, p) => p,
    }
}

fn loopback(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

fn nat_event(kind: NatKind, from: Endpoint, to: Endpoint, binding: bool) -> Event {
    Event::Nat {
        kind,
        from,
        to,
        binding,
    }
}

fn route_text(verb: &str, dev: &str, via: Option<IpAddr>) -> String {
    match via {
        Some(gw) => format!("{verb} out {dev} via {gw}"),
        None => format!("{verb} out {dev}"),
    }
}
