//! `diff`: the packets whose fate differs between two rulesets, as a short list of classes.

use rampart_ruleset::{Family, Ruleset};
use serde::Serialize;

use crate::class::{describe, merge, push_merged, Class};
use crate::partition::{conditions, rewriters, Space};
use crate::program::{compile_with, universe, AnalysisError, Locals, PathKind};
use crate::space::{Cube, Point, Ranges, Universe};
use crate::walk::{Outcomes, Placed};

/// Most changes kept after merging; a diff longer than this is summarised by its count.
pub const MAX_CHANGES: usize = 1000;

/// One class of packets whose fate changes.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Which family.
    pub family: Family,
    /// Which way through the host.
    pub path: PathKind,
    /// The packets.
    pub class: Class,
    /// Their fate under the old ruleset (several when a rate or history test decides).
    pub before: Vec<String>,
    /// Their fate under the new one.
    pub after: Vec<String>,
    /// The class as one set per dimension of the family's universe.
    #[serde(skip)]
    pub cube: Vec<Ranges>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fam = match self.family {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        };
        write!(
            f,
            "{fam} {}: {}: {} → {}",
            self.path.name(),
            self.class,
            self.before.join(" or "),
            self.after.join(" or ")
        )
    }
}

/// The result of [`diff`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diff {
    /// The changes (at most [`MAX_CHANGES`]).
    pub changes: Vec<Change>,
    /// Changes left out beyond [`MAX_CHANGES`].
    pub more: usize,
    /// The universe of each family compared.
    #[serde(skip)]
    pub universes: Vec<(Family, Universe)>,
}

impl Diff {
    /// True when every packet meets the same fate.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.more == 0
    }

    /// The change whose class holds the packet `p` on `path`, if its fate changes.
    pub fn change_for(&self, path: PathKind, p: &Point) -> Option<&Change> {
        let family = Family::of(p.src);
        let (_, u) = self.universes.iter().find(|(f, _)| *f == family)?;
        let at = u.coords(p);
        self.changes.iter().find(|c| {
            c.family == family
                && c.path == path
                && c.cube.iter().zip(&at).all(|(r, v)| r.contains(*v))
        })
    }
}

fn words(o: &Outcomes) -> Vec<String> {
    o.iter().map(|x| x.to_string()).collect()
}

/// The exact set of packets whose fate (verdict, address translation) differs between
/// `old` and `new`, on every path of both families.
pub fn diff(old: &Ruleset, new: &Ruleset) -> Result<Diff, AnalysisError> {
    diff_with(old, new, &Locals::infer(&[old, new]))
}

/// [`diff`] on a host whose own addresses are `locals` (where a DNAT delivers locally).
pub fn diff_with(old: &Ruleset, new: &Ruleset, locals: &Locals) -> Result<Diff, AnalysisError> {
    let mut out = Diff::default();
    for family in [Family::Ipv4, Family::Ipv6] {
        let present = |r: &Ruleset| r.tables.iter().any(|t| t.family == family);
        if !present(old) && !present(new) {
            continue;
        }
        let mut u = universe(&[old, new], family);
        let a = compile_with(old, family, &mut u, locals)?;
        let b = compile_with(new, family, &mut u, locals)?;
        let dims = u.dims();
        let root: Vec<Ranges> = dims.iter().map(|d| u.full(*d)).collect();
        for (pa, pb) in a.programs.iter().zip(&b.programs) {
            let mut cubes: Vec<Option<&Cube>> = conditions(&pa.instrs);
            cubes.extend(conditions(&pb.instrs));
            let off = pa.instrs.len() as u32;
            let cutoffs = pa
                .instrs
                .iter()
                .map(|i| i.cutoff())
                .chain(pb.instrs.iter().map(|i| i.cutoff().map(|e| e + off)))
                .collect();
            let space = Space::new(&u, &cubes)
                .with_cutoffs(cutoffs)
                .with_rewriters(rewriters(pa.instrs.iter().chain(&pb.instrs)));
            let wa = Placed {
                program: pa,
                offset: 0,
            };
            let wb = Placed {
                program: pb,
                offset: pa.instrs.len() as u32,
            };
            let mut found: Vec<((Outcomes, Outcomes), Vec<Ranges>)> = Vec::new();
            space.partition(&root, &mut |leaf| {
                let x = wa.walk(leaf, &dims, 0, None, None);
                let y = wb.walk(leaf, &dims, 0, None, None);
                if x != y {
                    push_merged(&mut found, &dims, (x, y), leaf.cube);
                }
            });
            for ((x, y), cube) in merge(found, &dims) {
                if out.changes.len() >= MAX_CHANGES {
                    out.more += 1;
                    continue;
                }
                out.changes.push(Change {
                    family,
                    path: pa.path,
                    class: describe(&u, &dims, &cube),
                    before: words(&x),
                    after: words(&y),
                    cube,
                });
            }
        }
        out.universes.push((family, u));
    }
    Ok(out)
}
