//! The partition of the header space into classes of packets that every instruction treats
//! alike (a firewall decision diagram, built one dimension at a time).
//!
//! At each node only the instructions still possible there are split on: the boundaries
//! of their sets on the node's dimension cut it into elementary intervals, intervals
//! matched by the same instructions are grouped into one child, and instructions that do
//! not test the dimension pass to every child. A leaf is a product of per-dimension sets
//! in which every packet matches exactly the same instructions, so one walk of the
//! program decides all of them: the analysis is exact and its cost follows the number of
//! classes, not the size of the header space.
//!
//! The dimension split at a node is chosen there, among those its instructions still
//! test: the one whose children hold the fewest instructions in total. A fixed order
//! multiplies the classes: with the source first, every source class is cut again by the
//! ports of every rule for that source, though rules for one port rarely share a source;
//! with the port first, each port class keeps the few rules for that port. (Random
//! overlapping rules: 2,000 of them made 8 s of exposure in source-first order.) When a
//! program rewrites destinations (DNAT, REDIRECT), the destination address and port are
//! still split last, so the instructions that hold on every other dimension are known for
//! re-matching after the rewrite ([`Leaf::before_dst`]).

use std::collections::HashMap;

use crate::space::{Cube, Dim, Interval, Ranges, Universe};

/// A class of packets: every packet in `cube` matches the instructions `alive` (sorted
/// ids) and no other.
pub struct Leaf<'a> {
    /// Instructions whose condition holds for every packet of the class.
    pub alive: &'a [u32],
    /// Instructions whose condition holds on every dimension but the destination address
    /// and port (for re-matching after DNAT).
    pub before_dst: &'a [u32],
    /// The class: one set per dimension, in [`Universe::dims`] order.
    pub cube: &'a [Ranges],
}

/// The instructions' conditions over one universe.
pub struct Space<'a> {
    dims: Vec<Dim>,
    /// Per instruction, its sets in dimension order (`None`: not tested).
    sets: Vec<Vec<Option<&'a Ranges>>>,
    /// Per instruction, the dimension indices it tests.
    tested: Vec<Vec<usize>>,
    left_out: Vec<bool>,
    /// Per dimension, its largest value.
    maxes: Vec<u128>,
    dst_index: usize,
    dport_index: usize,
    /// Split the destination address and port last (see [`Space::dst_last`]).
    dst_last: bool,
    /// Per instruction, see [`Space::with_cutoffs`].
    cutoffs: Vec<Option<u32>>,
}

/// Whether some instruction rewrites the destination (DNAT, REDIRECT): the walk then
/// re-matches later instructions against the new destination, which needs
/// [`Space::dst_last`].
pub fn rewrites<'i>(instrs: impl IntoIterator<Item = &'i crate::program::Instr>) -> bool {
    instrs.into_iter().any(|i| {
        matches!(
            i.act,
            crate::program::Act::Nat {
                rewrite: Some(_),
                ..
            }
        )
    })
}

impl<'a> Space<'a> {
    /// The space of `cubes` (instruction `i` has condition `cubes[i]`; `None` for an
    /// instruction left out: one that cannot change a fate, such as LOG).
    pub fn new(u: &Universe, cubes: &[Option<&'a Cube>]) -> Space<'a> {
        let dims = u.dims();
        let index: HashMap<Dim, usize> = dims.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let mut sets = Vec::with_capacity(cubes.len());
        let mut tested = Vec::with_capacity(cubes.len());
        let mut left_out = Vec::with_capacity(cubes.len());
        for c in cubes {
            let mut s = vec![None; dims.len()];
            let mut t = Vec::new();
            left_out.push(c.is_none());
            for (d, r) in c.iter().flat_map(|c| &c.0) {
                let i = index[d];
                s[i] = Some(r);
                t.push(i);
            }
            sets.push(s);
            tested.push(t);
        }
        Space {
            maxes: dims.iter().map(|d| u.max(*d)).collect(),
            dst_index: index[&Dim::Dst],
            dport_index: index[&Dim::Dport],
            dims,
            sets,
            tested,
            left_out,
            dst_last: true,
            cutoffs: Vec::new(),
        }
    }

    /// Whether the destination address and port are split after every other dimension
    /// (the default): needed when an instruction rewrites the destination (see
    /// [`rewrites`]), so [`Leaf::before_dst`] is known. Without, `before_dst` is `alive`.
    pub fn dst_last(mut self, dst_last: bool) -> Space<'a> {
        self.dst_last = dst_last;
        self
    }

    /// Prunes by `cutoffs[i]` (an instruction id, from [`crate::Instr::cutoff`] plus its
    /// program's offset): where instruction `i` holds on every remaining dimension, the
    /// instructions after it up to the cutoff are unreachable and split nothing. Without
    /// this, every broad verdict would still be cut by every rule after it. (Not for
    /// `lint`, which wants to know who shadows whom in every class.)
    pub fn with_cutoffs(mut self, cutoffs: Vec<Option<u32>>) -> Space<'a> {
        self.cutoffs = cutoffs;
        self
    }

    fn is_dst(&self, d: usize) -> bool {
        d == self.dst_index || d == self.dport_index
    }

    /// Drops the instructions that an earlier one, holding on the whole class, makes
    /// unreachable. With `dst_last`, only before the destination is split and only by
    /// instructions that do not test it: after a rewrite the walk re-matches the
    /// destination, and `before_dst` must keep what such an instruction would cut.
    fn prune(&self, done: &[bool], fixed_before: bool, alive: Vec<u32>) -> Vec<u32> {
        if self.cutoffs.is_empty() || (self.dst_last && fixed_before) {
            return alive;
        }
        let mut out = Vec::with_capacity(alive.len());
        let mut skip_until = 0u32;
        for i in alive {
            if i < skip_until {
                continue;
            }
            out.push(i);
            if let Some(end) = self.cutoffs[i as usize] {
                let t = &self.tested[i as usize];
                if t.iter()
                    .all(|&d| done[d] && !(self.dst_last && self.is_dst(d)))
                {
                    skip_until = skip_until.max(end);
                }
            }
        }
        out
    }

    /// The dimensions, in order.
    pub fn dims(&self) -> &[Dim] {
        &self.dims
    }

    /// Calls `leaf` for every class of packets inside `root` (one set per dimension) that
    /// some packet can be in.
    pub fn partition(&self, root: &[Ranges], leaf: &mut dyn FnMut(&Leaf)) {
        let all: Vec<u32> = (0..self.sets.len() as u32)
            .filter(|&i| {
                !self.left_out[i as usize]
                    && self.sets[i as usize]
                        .iter()
                        .all(|s| s.is_none_or(|r| !r.is_empty()))
            })
            .collect();
        let mut cur = root.to_vec();
        let mut done = vec![false; self.dims.len()];
        self.node(all, &mut done, &mut cur, None, root, leaf);
    }

    /// The elementary intervals of dimension `d` inside `domain`, each with the sorted
    /// instructions of `alive` testing `d` that hold on it, grouped by that list.
    fn cut(
        &self,
        d: usize,
        alive: &[u32],
        domain: &Ranges,
        full: bool,
    ) -> Vec<(Vec<u32>, Vec<Interval>)> {
        let mut events = self.events(d, alive, domain, full);
        // Ends before starts at one position.
        events.sort_unstable_by_key(|&(p, start, i)| (p, start, i));
        let mut groups: Vec<(Vec<u32>, Vec<Interval>)> = Vec::new();
        let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut active: Vec<u32> = Vec::new();
        let mut in_domain = false;
        let mut k = 0;
        while k < events.len() {
            let pos = events[k].0;
            while k < events.len() && events[k].0 == pos {
                let (_, start, i) = events[k];
                if i == u32::MAX {
                    in_domain = start;
                } else if start {
                    if let Err(at) = active.binary_search(&i) {
                        active.insert(at, i);
                    }
                } else if let Ok(at) = active.binary_search(&i) {
                    active.remove(at);
                }
                k += 1;
            }
            if !in_domain {
                continue;
            }
            let end = match events.get(k) {
                Some(&(next, _, _)) => next - 1,
                None => u128::MAX,
            };
            let g = match index.get(active.as_slice()) {
                Some(&g) => g,
                None => {
                    index.insert(active.clone(), groups.len());
                    groups.push((active.clone(), Vec::new()));
                    groups.len() - 1
                }
            };
            groups[g].1.push((pos, end));
        }
        groups
    }

    /// Sweep events of dimension `d`: (position, start, instruction), `u32::MAX` for the
    /// domain's own intervals.
    fn events(
        &self,
        d: usize,
        alive: &[u32],
        domain: &Ranges,
        full: bool,
    ) -> Vec<(u128, bool, u32)> {
        let mut events: Vec<(u128, bool, u32)> = Vec::new();
        let mut push = |lo: u128, hi: u128, i: u32| {
            events.push((lo, true, i));
            if let Some(e) = hi.checked_add(1) {
                events.push((e, false, i));
            }
        };
        for &i in alive {
            if let Some(r) = self.sets[i as usize][d] {
                if full {
                    for &(lo, hi) in &r.0 {
                        push(lo, hi, i);
                    }
                } else {
                    for &(lo, hi) in &r.intersect(domain).0 {
                        push(lo, hi, i);
                    }
                }
            }
        }
        for &(lo, hi) in &domain.0 {
            push(lo, hi, u32::MAX);
        }
        events
    }

    /// What splitting `alive` on `d` costs the children: the instructions they hold in
    /// total, counting each elementary interval as a child (an upper bound of the groups).
    fn score(&self, d: usize, alive: &[u32], domain: &Ranges, full: bool) -> u64 {
        let mut events = self.events(d, alive, domain, full);
        let testing = alive
            .iter()
            .filter(|&&i| self.sets[i as usize][d].is_some())
            .count() as u64;
        let others = alive.len() as u64 - testing;
        events.sort_unstable_by_key(|&(p, start, _)| (p, start));
        let (mut active, mut in_domain, mut total) = (0i64, false, 0u64);
        let mut k = 0;
        while k < events.len() {
            let pos = events[k].0;
            while k < events.len() && events[k].0 == pos {
                let (_, start, i) = events[k];
                if i == u32::MAX {
                    in_domain = start;
                } else {
                    active += if start { 1 } else { -1 };
                }
                k += 1;
            }
            if in_domain {
                total += others + active.max(0) as u64;
            }
        }
        total
    }

    fn node(
        &self,
        alive: Vec<u32>,
        done: &mut Vec<bool>,
        cur: &mut Vec<Ranges>,
        before_dst: Option<&[u32]>,
        root: &[Ranges],
        leaf: &mut dyn FnMut(&Leaf),
    ) {
        let alive = self.prune(done, before_dst.is_some(), alive);
        // The dimensions still to split: tested by an instruction here, not split yet.
        let mut wanted = vec![false; self.dims.len()];
        for &i in &alive {
            for &d in &self.tested[i as usize] {
                wanted[d] |= !done[d];
            }
        }
        let mut candidates: Vec<usize> = (0..self.dims.len()).filter(|&d| wanted[d]).collect();
        if self.dst_last && candidates.iter().any(|&d| !self.is_dst(d)) {
            candidates.retain(|&d| !self.is_dst(d));
        }
        if candidates.is_empty() {
            leaf(&Leaf {
                alive: &alive,
                before_dst: before_dst.unwrap_or(&alive),
                cube: cur,
            });
            return;
        }
        let full = |d: usize| root[d].0 == [(0, self.maxes[d])];
        let d = if candidates.len() == 1 {
            candidates[0]
        } else {
            // Ties go to the earlier dimension.
            candidates
                .iter()
                .copied()
                .min_by_key(|&d| (self.score(d, &alive, &root[d], full(d)), d))
                .expect("candidates")
        };
        // The first destination split fixes the "before destination" list.
        let owned_before;
        let before_dst = match before_dst {
            None if self.dst_last && self.is_dst(d) => {
                owned_before = alive.clone();
                Some(owned_before.as_slice())
            }
            b => b,
        };
        let any: Vec<u32> = alive
            .iter()
            .copied()
            .filter(|&i| self.sets[i as usize][d].is_none())
            .collect();
        let groups = self.cut(d, &alive, &root[d], full(d));
        done[d] = true;
        for (set, intervals) in groups {
            let mut child = Vec::with_capacity(any.len() + set.len());
            let (mut a, mut b) = (0, 0);
            while a < any.len() || b < set.len() {
                if b >= set.len() || (a < any.len() && any[a] < set[b]) {
                    child.push(any[a]);
                    a += 1;
                } else {
                    child.push(set[b]);
                    b += 1;
                }
            }
            cur[d] = Ranges::from_parts(intervals);
            self.node(child, done, cur, before_dst, root, leaf);
        }
        done[d] = false;
        cur[d] = root[d].clone();
    }
}
