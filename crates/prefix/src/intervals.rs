//! Sorted, disjoint, non-adjacent inclusive intervals: the canonical form of an address set,
//! and the linear-time merges behind [`PrefixSet`](crate::PrefixSet)'s algebra.

use crate::word::Word;

/// Sorts `v` and merges overlapping and adjacent intervals in place.
pub(crate) fn normalise<W: Word>(v: &mut Vec<(W, W)>) {
    if v.windows(2).any(|w| w[0].0 > w[1].0) {
        v.sort_unstable();
    }
    let mut out = 0usize;
    for i in 0..v.len() {
        let (s, e) = v[i];
        if out > 0 {
            let last = &mut v[out - 1];
            // Adjacent (last.1 + 1 == s) or overlapping: extend.
            if last.1.checked_inc().is_none_or(|n| n >= s) {
                if e > last.1 {
                    last.1 = e;
                }
                continue;
            }
        }
        v[out] = (s, e);
        out += 1;
    }
    v.truncate(out);
}

/// Union of two canonical lists.
pub(crate) fn union<W: Word>(a: &[(W, W)], b: &[(W, W)]) -> Vec<(W, W)> {
    let mut v: Vec<(W, W)> = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let take_a = j >= b.len() || (i < a.len() && a[i].0 <= b[j].0);
        let x = if take_a {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        match v.last_mut() {
            Some(last) if last.1.checked_inc().is_none_or(|n: W| n >= x.0) => {
                if x.1 > last.1 {
                    last.1 = x.1;
                }
            }
            _ => v.push(x),
        }
    }
    v
}

/// Intersection of two canonical lists.
pub(crate) fn intersection<W: Word>(a: &[(W, W)], b: &[(W, W)]) -> Vec<(W, W)> {
    let mut v = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let s = a[i].0.max(b[j].0);
        let e = a[i].1.min(b[j].1);
        if s <= e {
            v.push((s, e));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    v
}

/// `a` minus `b`, both canonical.
pub(crate) fn difference<W: Word>(a: &[(W, W)], b: &[(W, W)]) -> Vec<(W, W)> {
    let mut v = Vec::with_capacity(a.len());
    let mut j = 0;
    for &(s, e) in a {
        let mut cur = Some(s);
        while j < b.len() && b[j].1 < s {
            j += 1;
        }
        let mut k = j;
        while let Some(c) = cur {
            if k >= b.len() || b[k].0 > e {
                v.push((c, e));
                break;
            }
            let (bs, be) = b[k];
            if bs > c {
                v.push((c, bs.checked_dec().expect("bs > c >= 0")));
            }
            cur = if be >= e { None } else { be.checked_inc() };
            k += 1;
        }
    }
    v
}

/// Index of the interval containing `x`, if any.
pub(crate) fn find<W: Word>(v: &[(W, W)], x: W) -> Option<usize> {
    let i = v.partition_point(|&(s, _)| s <= x);
    (i > 0 && v[i - 1].1 >= x).then(|| i - 1)
}
