//! The partition of the header space into classes of packets that every instruction treats
//! alike (a firewall decision diagram, built one dimension at a time).
//!
//! At each node only the instructions still possible there are split on: the boundaries
//! of their sets on the node's dimension cut it into elementary intervals, intervals
//! matched by the same instructions are grouped into one child, and instructions that do
//! not test the dimension pass to every child. A leaf is a product of per-dimension sets
//! in which every packet matches exactly the same instructions, so one walk of the
//! program decides all of them: the analysis is exact and its cost follows the number of
//! distinct behaviours, not the size of the header space.

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
    /// Per instruction, the last dimension index it tests (+1; 0 for none).
    last: Vec<usize>,
    left_out: Vec<bool>,
    dst_index: usize,
    /// Per instruction, see [`Space::with_cutoffs`].
    cutoffs: Vec<Option<u32>>,
}

impl<'a> Space<'a> {
    /// The space of `cubes` (instruction `i` has condition `cubes[i]`; `None` for an
    /// instruction left out: one that cannot change a fate, such as LOG).
    pub fn new(u: &Universe, cubes: &[Option<&'a Cube>]) -> Space<'a> {
        let dims = u.dims();
        let index: HashMap<Dim, usize> = dims.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let mut sets = Vec::with_capacity(cubes.len());
        let mut last = Vec::with_capacity(cubes.len());
        let mut left_out = Vec::with_capacity(cubes.len());
        for c in cubes {
            let mut s = vec![None; dims.len()];
            let mut l = 0;
            left_out.push(c.is_none());
            for (d, r) in c.iter().flat_map(|c| &c.0) {
                let i = index[d];
                s[i] = Some(r);
                l = l.max(i + 1);
            }
            sets.push(s);
            last.push(l);
        }
        let dst_index = index[&Dim::Dst];
        Space {
            dims,
            sets,
            last,
            left_out,
            dst_index,
            cutoffs: Vec::new(),
        }
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

    fn prune(&self, d: usize, alive: Vec<u32>) -> Vec<u32> {
        if self.cutoffs.is_empty() || d > self.dst_index {
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
                if self.last[i as usize] <= d {
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
        self.node(0, all, &mut cur, None, root, leaf);
    }

    fn node(
        &self,
        d: usize,
        alive: Vec<u32>,
        cur: &mut Vec<Ranges>,
        before_dst: Option<&[u32]>,
        root: &[Ranges],
        leaf: &mut dyn FnMut(&Leaf),
    ) {
        let alive = self.prune(d, alive);
        let rest = d >= self.dims.len() || alive.iter().all(|&i| self.last[i as usize] <= d);
        if rest {
            for (k, r) in root.iter().enumerate().skip(d) {
                cur[k] = r.clone();
            }
            leaf(&Leaf {
                alive: &alive,
                before_dst: before_dst.unwrap_or(&alive),
                cube: cur,
            });
            return;
        }
        let before_dst: Option<&[u32]> = if d == self.dst_index {
            None
        } else {
            before_dst
        };
        // At the destination, this node's alive list is the "before destination" one.
        let owned_before;
        let before_dst = match before_dst {
            Some(b) => Some(b),
            None if d == self.dst_index => {
                owned_before = alive.clone();
                Some(owned_before.as_slice())
            }
            None => None,
        };
        let domain = &root[d];
        let mut any = Vec::new();
        // Events: (position, +1 start / -1 end, instruction); u32::MAX for the domain.
        let mut events: Vec<(u128, bool, u32)> = Vec::new();
        for &i in &alive {
            match self.sets[i as usize][d] {
                None => any.push(i),
                Some(r) => {
                    for &(lo, hi) in &r.intersect(domain).0 {
                        events.push((lo, true, i));
                        if let Some(e) = hi.checked_add(1) {
                            events.push((e, false, i));
                        }
                    }
                }
            }
        }
        for &(lo, hi) in &domain.0 {
            events.push((lo, true, u32::MAX));
            if let Some(e) = hi.checked_add(1) {
                events.push((e, false, u32::MAX));
            }
        }
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
            self.node(d + 1, child, cur, before_dst, root, leaf);
        }
    }
}
