//! Netfilter packet-path simulator: what the kernel would do with a packet, given a
//! [`Ruleset`], a [`Host`] and the packets seen before.
//!
//! Central types: [`Simulator`] (ruleset + host + state across packets), [`Packet`] (the
//! input), [`Trace`] (branches of [`Step`]s, each ending in a [`Fate`]).
//!
//! The walk follows the kernel's hooks and, within each hook, the tables in priority order
//! (raw -300, conntrack -200, mangle -150, nat/DNAT -100, filter 0, security 50,
//! nat/SNAT 100), per family (an IPv6 packet only sees ip6tables tables):
//!
//! ```text
//!  arriving packet                                          locally generated packet
//!        │                                                            │
//!  PREROUTING raw → conntrack → mangle → nat(DNAT)          routing (picks -o)
//!        │                                                            │
//!     routing ──── local ────▶ INPUT mangle → filter →      OUTPUT raw → conntrack →
//!        │                     security → nat(SNAT)         mangle → nat(DNAT) →
//!        │ forwarding                   │                   (reroute) → filter → security
//!        ▼                              ▼                             │
//!  FORWARD mangle → filter → security   delivered locally             │
//!        │                                                            │
//!        └──────────▶ POSTROUTING mangle → nat(SNAT/MASQUERADE) ◀─────┘
//!                                   │
//!                         out of the interface (or back in on lo)
//! ```
//!
//! Decisions and their reasons:
//! - **Pure.** No I/O and no clock: time comes in the packet, so a batch replays the same
//!   way every time and rate limits can be tested to the packet.
//! - **Conntrack as the kernel keeps it.** A flow stores its original tuple and the reply
//!   tuple after NAT; the nat table is consulted only for a connection's first packet and
//!   later packets get the stored binding. Original-direction packets stay NEW until a reply
//!   is seen (`IPS_SEEN_REPLY`), as in `nf_conntrack`.
//! - **Forks instead of guesses.** A test on a field the packet leaves unset (`--dport` of a
//!   packet without ports, a set the ruleset does not define) splits the walk into a branch
//!   where it matches and one where it does not, each listing its [`Assumption`]s. A fork
//!   re-runs the deterministic walk from the start with one more assumption, so no walk
//!   state has to be snapshotted. At most [`MAX_BRANCHES`] branches are explored.
//! - **State from one branch.** When a packet forks, only the first branch's state changes
//!   (new flow, consumed tokens, `recent` updates) are kept: the packet took one path, and
//!   keeping several would count it twice. [`Trace::committed_branch`] says which.
//! - **No per-packet copies of the ruleset.** The simulator borrows the ruleset and builds
//!   name indexes and set lookup tables once.
//! - **A compiled classifier narrows, the walk decides.** With
//!   [`Simulator::set_classifier`], per-chain lookup tables (addresses, protocol, ports,
//!   interfaces, conntrack state) skip the rules that cannot match a packet, so a batch
//!   through 5,000 rules costs about what it costs through a few; every rule not skipped is
//!   evaluated by the same walk, so traces and state effects are the walk's exactly.
//!   Explain mode always walks every rule: it lists the misses.
//!
//! ```
//! use rampart_ruleset::{Family, Policy, Ruleset, TableKind};
//! use rampart_sim::{Fate, Host, Packet, Simulator};
//!
//! let mut ruleset = Ruleset::default();
//! let filter = ruleset.table_mut(Family::Ipv4, TableKind::Filter);
//! filter.chain_mut("INPUT").unwrap().policy = Some(Policy::Drop);
//! let host = Host::parse("interface eth0 192.0.2.1/24").unwrap();
//! let mut sim = Simulator::new(&ruleset, host);
//! let trace = sim.run(&Packet::tcp("198.51.100.7", 40000, "192.0.2.1", 22).on("eth0"));
//! assert!(matches!(trace.fate(), Some(Fate::Dropped { rule: None, .. })));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod answer;
mod classify;
mod conntrack;
mod explain;
mod exthdr;
mod host;
mod limit;
mod matcher;
mod modules;
mod packet;
mod state;
mod trace;
mod walk;

use std::collections::VecDeque;

use rampart_ruleset::Ruleset;

pub use exthdr::ExtHeader;
pub use host::{
    ConfValues, Host, HostError, HostErrorKind, HostInterface, IfAddr, Route, RouteDecision,
    Sysctls,
};
pub use packet::{parse_clock, CtState, Packet};
pub use trace::Answer;
pub use trace::{
    count_hits, Assumption, Branch, Endpoint, Event, Fate, Hint, HintKind, Hook, NatKind, RuleHit,
    SetChange, Stage, Step, Trace, NOT_MATCHED,
};

use classify::Classifier;
use state::State;
pub use walk::MAX_RULE_EVALUATIONS;
use walk::{Compiled, Options, Scratch, Walk};

/// Most branches one packet's trace may have. Each unknown test can double the count, so
/// this bounds the work a packet with many unset fields causes; 64 branches already
/// exceed what a person reads.
pub const MAX_BRANCHES: usize = 64;

/// Rule evaluations one packet's branches may spend together before no further branch is
/// explored (the trace is then marked truncated). Each branch re-walks from the start and
/// may spend up to [`MAX_RULE_EVALUATIONS`] itself, so without this [`MAX_BRANCHES`] walks
/// of a huge ruleset would multiply the work and, under explain, the steps kept; four full
/// walks' worth keeps a packet's trace within some hundred megabytes at worst.
pub const MAX_PACKET_EVALUATIONS: usize = 4 * MAX_RULE_EVALUATIONS;

/// Simulates packets through one ruleset on one host, keeping conntrack, rate-limit and
/// `recent` state from packet to packet.
pub struct Simulator<'r> {
    compiled: Compiled<'r>,
    host: Host,
    state: State,
    /// The latest packet time seen, microseconds.
    now_us: u64,
    /// Record rules that did not match.
    explain: bool,
    /// The compiled classifier, when on.
    classifier: Option<Classifier>,
    /// Compute hints.
    hints: bool,
    /// The classifier's buffers, reused from walk to walk.
    scratch: Scratch,
}

impl<'r> Simulator<'r> {
    /// A simulator with empty state (no flows, full buckets, empty lists).
    pub fn new(ruleset: &'r Ruleset, host: Host) -> Simulator<'r> {
        Simulator {
            compiled: Compiled::new(ruleset),
            host,
            state: State::default(),
            now_us: 0,
            explain: false,
            classifier: None,
            hints: true,
            scratch: Scratch::default(),
        }
    }

    /// Hints (on by default): each branch's [`Branch::hints`]. The hint on a DROP policy
    /// names the nearest ACCEPT rule, which means testing every ACCEPT rule of the chain
    /// against the packet; a batch that shows only a summary turns them off.
    pub fn set_hints(&mut self, on: bool) {
        self.hints = on;
    }

    /// Classifier mode (off by default): per chain, lookup tables built once from the
    /// ruleset narrow each packet's walk to the rules that may match it, so a packet
    /// costs about as much through 5,000 rules as through a few. Traces, fates and
    /// state effects are exactly those of the rule-by-rule walk; explain mode walks
    /// every rule whatever this says (it lists the misses).
    pub fn set_classifier(&mut self, on: bool) {
        self.classifier = on.then(Classifier::default);
    }

    /// Explain mode (off by default): traces also list every rule that was evaluated and
    /// did not match, with the first failing test in words ([`Event::NotMatched`]).
    pub fn set_explain(&mut self, on: bool) {
        self.explain = on;
    }

    /// The host description.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Number of connections the conntrack model holds alive at the latest packet time
    /// seen.
    pub fn flow_count(&self) -> usize {
        self.state.conntrack.live(self.now_us).count()
    }

    /// Sends one packet through the host and updates the state.
    pub fn run(&mut self, packet: &Packet) -> Trace {
        self.now_us = self.now_us.max(packet.time_us());
        // The first walk runs without assumptions; forks queue more (no queue allocated
        // for a packet that does not fork).
        let mut first = Some(Vec::new());
        let mut queue = VecDeque::new();
        let mut branches = Vec::new();
        let mut seeds = Vec::new();
        let mut committed = None;
        let mut truncated = false;
        let mut planned = 1usize;
        let mut spent = 0usize;
        let index = match &mut self.classifier {
            Some(c) if !self.explain => c.index(self.compiled.ruleset, &self.compiled.sets, packet),
            _ => None,
        };
        while let Some(assumptions) = first.take().or_else(|| queue.pop_front()) {
            if spent >= MAX_PACKET_EVALUATIONS {
                truncated = true;
                break;
            }
            let done = Walk::new(
                &self.compiled,
                &self.host,
                &self.state,
                packet,
                assumptions,
                Options {
                    explain: self.explain,
                    hints: self.hints,
                    index,
                },
                &mut self.scratch,
            )
            .finish();
            spent += done.evaluations;
            for fork in done.forks {
                if planned < MAX_BRANCHES {
                    planned += 1;
                    queue.push_back(fork);
                } else {
                    truncated = true;
                }
            }
            if committed.is_none() {
                committed = Some(done.delta);
            }
            branches.push(done.branch);
            seeds.push(done.reject);
        }
        // The answers of REJECTs: those of branches not taken see the state as it was;
        // the taken branch's answer follows its packet and keeps its own state changes.
        for (branch, seed) in branches.iter_mut().zip(&seeds).skip(1) {
            if let Some(seed) = seed {
                branch.answer = Some(self.answer(seed, false));
            }
        }
        if let Some(delta) = committed {
            self.state.commit(delta);
        }
        if let (Some(branch), Some(Some(seed))) = (branches.first_mut(), seeds.first()) {
            branch.answer = Some(self.answer(seed, true));
        }
        Trace {
            branches,
            truncated,
            committed_branch: 0,
        }
    }

    /// A REJECT's answer walked from OUTPUT on (its first branch, should it fork), its
    /// state changes kept when `commit`.
    fn answer(&mut self, seed: &answer::RejectSeed, commit: bool) -> Answer {
        let packet = match answer::answer_packet(seed, &self.host) {
            Ok(p) => p,
            Err(reason) => return Answer::Unsent { reason },
        };
        if packet.icmp_type.is_some() {
            // Errors of branches not taken are weighed without spending the bucket.
            let mut scratch;
            let peers = if commit {
                &mut self.state.icmp_peers
            } else {
                scratch = std::collections::HashMap::new();
                if let Some(peer) = self.state.icmp_peers.get(&packet.dst) {
                    scratch.insert(packet.dst, *peer);
                }
                &mut scratch
            };
            if let Err(reason) = answer::icmp_rate_limit(peers, &self.host, &packet) {
                return Answer::Unsent { reason };
            }
        }
        let index = match &mut self.classifier {
            Some(c) if !self.explain => {
                c.index(self.compiled.ruleset, &self.compiled.sets, &packet)
            }
            _ => None,
        };
        let done = Walk::new(
            &self.compiled,
            &self.host,
            &self.state,
            &packet,
            Vec::new(),
            Options {
                explain: self.explain,
                hints: false,
                index,
            },
            &mut self.scratch,
        )
        .answering(seed.attach.clone())
        .finish();
        if commit {
            self.state.commit(done.delta);
        }
        Answer::Sent {
            packet: Box::new(packet),
            branch: Box::new(done.branch),
        }
    }
}
