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
//! The dimension split at a node of many instructions ([`REORDER_FROM`]) is chosen there,
//! among those its instructions still test: the first in order, unless another one's
//! children hold less than half as many instructions in total (near-ties and small nodes
//! keep the order, which suits the interface, state and flag tests of real rulesets). A fixed order multiplies the classes: with the source
//! first, every source class is cut again by the ports of every rule for that source,
//! though rules for one port rarely share a source; with the port first, each port class
//! keeps the few rules for that port. (5,000 random overlapping rules: 50 s and 3 GB of
//! exposure in source-first order, a tenth of a second so; BENCHMARKS.md.)
//!
//! A destination rewrite (DNAT, REDIRECT) makes the walk re-match the later instructions
//! against the new destination: in a class where a rewriting instruction holds, the
//! partition also keeps the instructions that hold on every dimension but the destination
//! address and port ([`Leaf::before_dst`]) and splits on their sets too. Only there: in
//! the other classes no rewrite can happen.

use std::collections::HashMap;

use crate::program::Rewrite;
use crate::space::{Cube, Dim, Interval, Ranges, Universe};

/// Nodes with fewer instructions than this split in dimension order: below it the order
/// costs little either way, and real rulesets (shorewall's flag tests jumped to from every
/// zone) lose more to a reordered small node than they gain (shorewall-docker: lint 26 ms
/// in order, 54 ms reordering every node); random rulesets gain at the top nodes, which
/// hold thousands.
pub const REORDER_FROM: usize = 256;

/// A class of packets: every packet in `cube` matches the instructions `alive` (sorted
/// ids) and no other.
pub struct Leaf<'a> {
    /// Instructions whose condition holds for every packet of the class.
    pub alive: &'a [u32],
    /// Instructions whose condition holds on every dimension but the destination address
    /// and port (for re-matching after DNAT); `alive` in a class where no instruction that
    /// holds rewrites the destination.
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
    /// Per instruction, the destination rewrite it makes, if any (see
    /// [`Space::with_rewriters`]); `None` in the list: any instruction may rewrite.
    rewrites: Option<Vec<Option<Rewrite>>>,
    /// Per instruction, see [`Space::with_cutoffs`].
    cutoffs: Vec<Option<u32>>,
    /// See [`Space::reorder_from`].
    reorder_from: usize,
}

/// The conditions of the instructions that can change a fate, `None` for the others (for
/// [`Space::new`]): LOG, MARK, a jump's own rule, and a jump to the very next instruction
/// (the ACCEPT policy of a nat chain: without this, its "NEW only" would cut every class
/// in two).
pub fn conditions(instrs: &[crate::program::Instr]) -> Vec<Option<&Cube>> {
    use crate::program::Act;
    instrs
        .iter()
        .enumerate()
        .map(|(at, i)| {
            let next = at as u32 + 1;
            let goes_on = match i.act {
                Act::Continue => true,
                Act::Accept { to } | Act::Return { to } | Act::Skip { to } => to == next,
                // The routing decision is taken by the walk where it meets it.
                Act::Route { .. } | Act::Final(_) | Act::Nat { .. } => false,
            };
            (!goes_on).then_some(&i.cube)
        })
        .collect()
}

/// Per instruction, the destination rewrite it makes (DNAT, REDIRECT), for
/// [`Space::with_rewriters`].
pub fn rewriters<'i>(
    instrs: impl IntoIterator<Item = &'i crate::program::Instr>,
) -> Vec<Option<Rewrite>> {
    instrs
        .into_iter()
        .map(|i| match i.act {
            crate::program::Act::Nat { rewrite, .. } => rewrite,
            _ => None,
        })
        .collect()
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
            rewrites: None,
            left_out,
            cutoffs: Vec::new(),
            reorder_from: REORDER_FROM,
        }
    }

    /// Says which instructions rewrite the destination, and to what (from
    /// [`rewriters`]); without, any instruction may, to anything, and every class keeps
    /// [`Leaf::before_dst`] whole at a cost.
    pub fn with_rewriters(mut self, rewrites: Vec<Option<Rewrite>>) -> Space<'a> {
        debug_assert_eq!(rewrites.len(), self.sets.len());
        self.rewrites = Some(rewrites);
        self
    }

    /// Lets nodes of at least `n` instructions split another dimension than the next in
    /// order (default [`REORDER_FROM`]; tests set 0 to reorder everywhere).
    pub fn reorder_from(mut self, n: usize) -> Space<'a> {
        self.reorder_from = n;
        self
    }

    /// Whether instruction `i` may rewrite the destination.
    fn rewriter(&self, i: u32) -> bool {
        self.rewrites
            .as_ref()
            .is_none_or(|r| r[i as usize].is_some())
    }

    /// Whether instruction `x` can hold after one of `alive`'s rewrites: its destination
    /// sets contain the new address and port where the rewrite fixes them.
    fn fits_a_rewrite(&self, x: u32, alive: &[u32]) -> bool {
        let Some(rewrites) = &self.rewrites else {
            return true;
        };
        let sets = &self.sets[x as usize];
        let fits = |d: usize, v: Option<u128>| match (sets[d], v) {
            (Some(r), Some(v)) => r.contains(v),
            _ => true,
        };
        alive.iter().any(|&i| {
            rewrites[i as usize]
                .is_some_and(|r| fits(self.dst_index, r.dst) && fits(self.dport_index, r.dport))
        })
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

    /// Drops from `list` the instructions that an earlier one of `alive`, holding on the
    /// whole class (every dimension it tests is split), makes unreachable. For the
    /// "before destination" list (`keep_dst`) only by instructions that do not test the
    /// destination: after a rewrite, one that does may no longer hold.
    fn prune(&self, done: &[bool], alive: &[u32], list: Vec<u32>, keep_dst: bool) -> Vec<u32> {
        if self.cutoffs.is_empty() {
            return list;
        }
        let decides = |i: u32| {
            self.tested[i as usize]
                .iter()
                .all(|&d| done[d] && !(keep_dst && self.is_dst(d)))
        };
        let mut out = Vec::with_capacity(list.len());
        let mut skip_until = 0u32;
        let mut a = 0;
        for i in list {
            if i < skip_until {
                continue;
            }
            out.push(i);
            if let Some(end) = self.cutoffs[i as usize] {
                while a < alive.len() && alive[a] < i {
                    a += 1;
                }
                if alive.get(a) == Some(&i) && decides(i) {
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
        let pre = Some(all.clone());
        self.node(all, pre, &mut done, &mut cur, root, leaf);
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
        // A dimension the instructions cut into many pieces (TCP flags: up to 64 intervals
        // per rule) is split late anyway; sweeping it at every node to say so would cost
        // more than the split.
        let pieces: usize = alive
            .iter()
            .filter_map(|&i| self.sets[i as usize][d])
            .map(|r| r.0.len())
            .sum();
        if pieces > 4 * alive.len() + 64 {
            return (pieces as u64 + 1).saturating_mul(alive.len() as u64);
        }
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

    /// One node: `alive` holds on every dimension split so far, `pre` (when a rewrite
    /// may happen below) on every one but the destination address and port.
    fn node(
        &self,
        alive: Vec<u32>,
        pre: Option<Vec<u32>>,
        done: &mut Vec<bool>,
        cur: &mut Vec<Ranges>,
        root: &[Ranges],
        leaf: &mut dyn FnMut(&Leaf),
    ) {
        let pre = pre
            .filter(|_| alive.iter().any(|&i| self.rewriter(i)))
            .map(|p| self.prune(done, &alive, p, true));
        let alive = self.prune(done, &alive, alive.clone(), false);
        // Without a rewriter left, `pre` is not needed below; with, only what can hold
        // after a rewrite (and `alive`, which it holds).
        let pre = pre
            .filter(|_| alive.iter().any(|&i| self.rewriter(i)))
            .map(|p| {
                let mut a = 0;
                p.into_iter()
                    .filter(|&x| {
                        while a < alive.len() && alive[a] < x {
                            a += 1;
                        }
                        alive.get(a) == Some(&x) || self.fits_a_rewrite(x, &alive)
                    })
                    .collect::<Vec<u32>>()
            });
        // The list whose sets are split: `pre` holds `alive`.
        let list = pre.as_ref().unwrap_or(&alive);
        let mut wanted = vec![false; self.dims.len()];
        for &i in list {
            for &d in &self.tested[i as usize] {
                wanted[d] |= !done[d];
            }
        }
        let candidates: Vec<usize> = (0..self.dims.len()).filter(|&d| wanted[d]).collect();
        if candidates.is_empty() {
            leaf(&Leaf {
                alive: &alive,
                before_dst: list,
                cube: cur,
            });
            return;
        }
        let full = |d: usize| root[d].0 == [(0, self.maxes[d])];
        // The first dimension in order, unless another one's children hold less than half
        // as many instructions: real rulesets (zones by interface, states, flags) fare best
        // in order, random overlapping ones need the port before the source.
        let d = if candidates.len() == 1 || list.len() < self.reorder_from {
            candidates[0]
        } else {
            let first = self.score(
                candidates[0],
                list,
                &root[candidates[0]],
                full(candidates[0]),
            );
            let (best, d) = candidates[1..]
                .iter()
                .map(|&d| (self.score(d, list, &root[d], full(d)), d))
                .min()
                .expect("candidates");
            if best.saturating_mul(2) < first {
                d
            } else {
                candidates[0]
            }
        };
        let untested = |l: &[u32]| -> Vec<u32> {
            l.iter()
                .copied()
                .filter(|&i| self.sets[i as usize][d].is_none())
                .collect()
        };
        let any_alive = untested(&alive);
        let any_pre = pre.as_deref().map(untested);
        let groups = self.cut(d, list, &root[d], full(d));
        done[d] = true;
        for (set, intervals) in groups {
            // `set` is sorted and drawn from `list`; the alive ones among it join `alive`.
            let set_alive: Vec<u32> = if pre.is_some() {
                intersect(&set, &alive)
            } else {
                set.clone()
            };
            let child = union(&any_alive, &set_alive);
            let child_pre = match (&pre, &any_pre) {
                (Some(p), _) if self.is_dst(d) => Some(p.clone()),
                (Some(_), Some(any)) => Some(union(any, &set)),
                _ => None,
            };
            cur[d] = Ranges::from_parts(intervals);
            self.node(child, child_pre, done, cur, root, leaf);
        }
        done[d] = false;
        cur[d] = root[d].clone();
    }
}

/// The union of two sorted, disjoint lists.
fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j >= b.len() || (i < a.len() && a[i] < b[j]) {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out
}

/// The members of sorted `a` that are in sorted `b`.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if b.get(j) == Some(&x) {
            out.push(x);
        }
    }
    out
}
