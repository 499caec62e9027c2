//! One walk of a program over one class of packets (a [`Leaf`]): every packet of the class
//! meets the same instructions, so the walk's outcome is the class's fate. "May" tests
//! fork the walk; the outcomes of all branches are kept.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::partition::Leaf;
use crate::program::{Act, PathKind, Program, Verdict};
use crate::space::Dim;

/// Walk states one class may fork into: each "may" rule can double them, so this bounds
/// the work of a chain of a hundred rate limits.
pub const MAX_STATES: usize = 256;

/// What happens to a class of packets on one path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// Address translations on the way (`DNAT to 192.0.2.5:8080`).
    pub nat: Vec<String>,
    /// The way a DNAT sent the packet when it is not its path's own: FORWARD for a packet
    /// addressed to this host translated to another host's address, INPUT for the reverse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<PathKind>,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.verdict)?;
        for n in &self.nat {
            write!(f, " ({n})")?;
        }
        match self.via {
            Some(PathKind::Forward) => f.write_str(" (forwarded)"),
            Some(PathKind::Input) => f.write_str(" (to this host)"),
            _ => Ok(()),
        }
    }
}

/// The outcomes of every branch of a walk (more than one when a "may" rule forked it).
pub type Outcomes = BTreeSet<Outcome>;

/// Per-instruction facts gathered by walks, for `lint`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Reached with its condition true in some class.
    pub live: Vec<bool>,
    /// Acted (terminal) in some class where taking it away changes the outcome.
    pub needed: Vec<bool>,
    /// Matched but not reached in some class: up to a few instructions that decided first.
    pub shadowers: Vec<Vec<u32>>,
    /// The last walk's stretches of instructions passed over without a jump (inclusive),
    /// for instructions left out of the partition (see `lint`).
    pub scanned: Vec<(u32, u32)>,
    /// The last walk's jumps: (instruction, first and last instruction jumped over).
    pub skipped: Vec<(u32, u32, u32)>,
}

impl Stats {
    /// Room for `n` instructions.
    pub fn new(n: usize) -> Stats {
        Stats {
            live: vec![false; n],
            needed: vec![false; n],
            shadowers: vec![Vec::new(); n],
            scanned: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

#[derive(Clone, PartialEq)]
struct State {
    pc: u32,
    dst: Option<u128>,
    dport: Option<u128>,
    rewritten: bool,
    /// Whether a DNAT made the destination local (`None`: not decided by a DNAT).
    local: Option<bool>,
    via: Option<PathKind>,
    nat: Vec<String>,
    /// The connection's NAT status bits as the walk's translations set them (a first
    /// packet's: `--ctstate SNAT/DNAT` tests on later packets are "may").
    snat: bool,
    dnat: bool,
}

/// A program placed at `offset` in the instruction ids of a [`crate::partition::Space`].
pub struct Placed<'a> {
    /// The program.
    pub program: &'a Program,
    /// Id of its first instruction.
    pub offset: u32,
}

impl Placed<'_> {
    fn len(&self) -> u32 {
        self.program.instrs.len() as u32
    }

    /// The next instruction at or after `pc` whose condition holds for the class, and
    /// whether its "may" flag makes it uncertain.
    fn next(&self, leaf: &Leaf, dims: &[Dim], s: &State, skip: Option<u32>) -> Option<u32> {
        let lo = self.offset + s.pc;
        let hi = self.offset + self.len();
        let list = if s.rewritten {
            leaf.before_dst
        } else {
            leaf.alive
        };
        let start = list.partition_point(|&g| g < lo);
        for &g in &list[start..] {
            if g >= hi {
                return None;
            }
            if Some(g) == skip {
                continue;
            }
            let ins = &self.program.instrs[(g - self.offset) as usize];
            if !ins.nat_status.iter().all(|n| n.holds(s.snat, s.dnat)) {
                continue;
            }
            if !s.rewritten || self.holds_after_rewrite(leaf, dims, g, s) {
                return Some(g - self.offset);
            }
        }
        None
    }

    fn holds_after_rewrite(&self, leaf: &Leaf, dims: &[Dim], g: u32, s: &State) -> bool {
        let ins = &self.program.instrs[(g - self.offset) as usize];
        let at = |dim: Dim| dims.iter().position(|d| *d == dim).unwrap_or(0);
        let check = |dim: Dim, v: Option<u128>| {
            let value = v.or_else(|| leaf.cube[at(dim)].first());
            match (ins.cube.get(dim), value) {
                (Some(r), Some(v)) => r.contains(v),
                (Some(_), None) => false,
                (None, _) => true,
            }
        };
        check(Dim::Dst, s.dst) && check(Dim::Dport, s.dport)
    }

    /// Walks the class from instruction `start`; `skip` is an instruction treated as not
    /// matching (to see whether it matters).
    pub fn walk(
        &self,
        leaf: &Leaf,
        dims: &[Dim],
        start: u32,
        skip: Option<u32>,
        stats: Option<&mut Stats>,
    ) -> Outcomes {
        let init = State {
            pc: start,
            dst: None,
            dport: None,
            rewritten: false,
            local: None,
            via: None,
            nat: Vec::new(),
            snat: false,
            dnat: false,
        };
        self.run(leaf, dims, init, skip, stats)
    }

    fn run(
        &self,
        leaf: &Leaf,
        dims: &[Dim],
        init: State,
        skip: Option<u32>,
        mut stats: Option<&mut Stats>,
    ) -> Outcomes {
        let mut out = Outcomes::new();
        let mut todo = vec![init];
        let mut seen: Vec<State> = Vec::new();
        // (instruction, state at it) of the terminal acts, for the "needed" check.
        let mut acts: Vec<(u32, State)> = Vec::new();
        while let Some(mut s) = todo.pop() {
            if seen.contains(&s) || seen.len() >= MAX_STATES {
                continue;
            }
            seen.push(s.clone());
            loop {
                let Some(i) = self.next(leaf, dims, &s, skip) else {
                    if let Some(st) = stats.as_deref_mut() {
                        if s.pc < self.len() {
                            st.scanned.push((s.pc, self.len() - 1));
                        }
                    }
                    out.insert(Outcome {
                        verdict: Verdict::Accept,
                        nat: s.nat.clone(),
                        via: s.via,
                    });
                    break;
                };
                let g = self.offset + i;
                let ins = &self.program.instrs[i as usize];
                if let Some(st) = stats.as_deref_mut() {
                    st.scanned.push((s.pc, i));
                    st.live[g as usize] = true;
                    if ins.terminal && ins.rule.is_some() && !st.needed[g as usize] {
                        acts.push((i, s.clone()));
                    }
                }
                if ins.may {
                    let mut alt = s.clone();
                    alt.pc = i + 1;
                    todo.push(alt);
                }
                let jump_to = match &ins.act {
                    Act::Continue => {
                        s.pc = i + 1;
                        continue;
                    }
                    Act::Final(v) => {
                        // Where a dropped packet would have gone is no part of its fate.
                        out.insert(Outcome {
                            verdict: *v,
                            nat: Vec::new(),
                            via: None,
                        });
                        if let Some(st) = stats.as_deref_mut() {
                            self.shadow(leaf, dims, &s, i + 1, self.len(), g, st);
                            if i + 1 < self.len() {
                                st.skipped.push((g, i + 1, self.len() - 1));
                            }
                        }
                        break;
                    }
                    Act::Accept { to } | Act::Return { to } => *to,
                    // The routing decision and the jump past FORWARD: no rule decides
                    // anything here, so nothing is shadowed.
                    Act::Route { forward } => {
                        let usual = self.program.path == PathKind::Input;
                        let local = s.local.unwrap_or(usual);
                        if local != usual {
                            s.via = Some(if local {
                                PathKind::Input
                            } else {
                                PathKind::Forward
                            });
                        }
                        s.pc = if local { i + 1 } else { *forward };
                        continue;
                    }
                    Act::Skip { to } => {
                        s.pc = *to;
                        continue;
                    }
                    Act::Nat { what, rewrite, to } => {
                        s.nat.push(what.clone());
                        // A rewrite is DNAT or REDIRECT; SNAT and MASQUERADE have none.
                        s.dnat |= rewrite.is_some();
                        s.snat |= rewrite.is_none();
                        if let Some(r) = rewrite {
                            s.rewritten = true;
                            s.dst = r.dst.or(s.dst);
                            s.dport = r.dport.or(s.dport);
                            s.local = r.local.or(s.local);
                        }
                        *to
                    }
                };
                if let Some(st) = stats.as_deref_mut() {
                    self.shadow(leaf, dims, &s, i + 1, jump_to, g, st);
                    if i + 1 < jump_to {
                        st.skipped.push((g, i + 1, jump_to - 1));
                    }
                }
                s.pc = jump_to;
            }
        }
        if let Some(st) = stats {
            for (i, s) in acts {
                let g = self.offset + i;
                if st.needed[g as usize] {
                    continue;
                }
                let with = self.run(leaf, dims, s.clone(), skip, None);
                let without = self.run(leaf, dims, s, Some(g), None);
                if with != without {
                    st.needed[g as usize] = true;
                }
            }
        }
        out
    }

    /// Records `by` as the shadower of the instructions in `lo..hi` that hold here.
    #[allow(clippy::too_many_arguments)]
    fn shadow(
        &self,
        leaf: &Leaf,
        dims: &[Dim],
        s: &State,
        lo: u32,
        hi: u32,
        by: u32,
        st: &mut Stats,
    ) {
        let mut probe = s.clone();
        probe.pc = lo;
        while let Some(i) = self.next(leaf, dims, &probe, None) {
            if i >= hi {
                break;
            }
            let list = &mut st.shadowers[(self.offset + i) as usize];
            if list.len() < 4 && !list.contains(&by) {
                list.push(by);
            }
            probe.pc = i + 1;
        }
    }
}
