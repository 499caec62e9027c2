//! The kernel's rule counters put back on the rules of the ruleset they were compiled
//! from, for `rampart lint --kernel` ("never matched" from what the kernel counted).
//!
//! Every rule rampart compiles carries a `counter`, and the compiler's provenance says
//! which source rule each nft rule comes from (chain and position in the script). The
//! kernel's positions are the script's exactly when the kernel holds what was applied:
//! the ruleset compiles to the script the last apply recorded, and the table's shape
//! (rules, chains, sets; counters left out) is still the one recorded right after it. Both
//! are checked, so a count never lands on the wrong rule.

use rampart_kernel::{Applied, KernelShape};
use rampart_ruleset::{Counters, Ruleset};

/// Why the kernel's counters cannot be put on a ruleset's rules.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CountedError {
    /// No `table inet rampart`.
    #[error(
        "the kernel holds no table inet rampart: nothing was applied (rampart apply, rampart up)"
    )]
    NoTable,
    /// The state directory records no apply.
    #[error(
        "the state directory records no apply: the kernel's rules cannot be traced back to a \
         ruleset (apply it with rampart apply or rampart up first)"
    )]
    NotApplied,
    /// The ruleset does not compile to the recorded script.
    #[error(
        "this ruleset is not the one applied last (it compiles to other rules than the \
         kernel's): give the file that was applied, or apply this one first"
    )]
    NotWhatWasApplied,
    /// The table changed since the apply.
    #[error(
        "table inet rampart changed since the last apply (by hand or another tool?): its \
         rules no longer line up with the applied ruleset's; apply again"
    )]
    Moved,
    /// A compiled rule has no kernel rule at its place (cannot happen when the shape is
    /// the recorded one).
    #[error("the kernel's chain {chain} has no rule {position}: apply again")]
    Missing {
        /// The nft chain.
        chain: String,
        /// 1-based position.
        position: usize,
    },
    /// The ruleset does not compile.
    #[error("{0}")]
    Compile(#[from] rampart_nft::CompileErrors),
}

/// What [`put_kernel_counters`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Source rules that got a count.
    pub rules: usize,
    /// Kernel rules read (a source rule may become several).
    pub kernel_rules: usize,
}

/// Replaces the counters of `ruleset`'s rules with the kernel's: each source rule gets the
/// sum of the kernel rules compiled from it. `applied` is the record of the last apply and
/// `shape` the table as the kernel holds it now (`None`: absent).
pub fn put_kernel_counters(
    ruleset: &mut Ruleset,
    applied: Option<&Applied>,
    shape: Option<&KernelShape>,
) -> Result<Counted, CountedError> {
    let shape = shape.ok_or(CountedError::NoTable)?;
    let applied = applied.ok_or(CountedError::NotApplied)?;
    let script = crate::compile_for_apply(ruleset)?;
    if script.text() != applied.script {
        return Err(CountedError::NotWhatWasApplied);
    }
    if rampart_kernel::digest(shape) != applied.shape {
        return Err(CountedError::Moved);
    }
    let mut sums: Vec<(
        (
            rampart_ruleset::Family,
            rampart_ruleset::TableKind,
            String,
            usize,
        ),
        Counters,
    )> = Vec::new();
    for p in script.provenance() {
        let k = shape
            .rules
            .iter()
            .find(|r| r.chain == p.chain && r.position == p.position)
            .ok_or_else(|| CountedError::Missing {
                chain: p.chain.clone(),
                position: p.position + 1,
            })?;
        let o = &p.origin;
        let key = (o.family, o.table, o.chain.clone(), o.index);
        let add = Counters {
            packets: k.packets.unwrap_or(0),
            bytes: k.bytes.unwrap_or(0),
        };
        match sums.iter_mut().find(|(x, _)| *x == key) {
            Some((_, c)) => {
                c.packets += add.packets;
                c.bytes += add.bytes;
            }
            None => sums.push((key, add)),
        }
    }
    let kernel_rules = script.provenance().len();
    let mut rules = 0;
    for t in &mut ruleset.tables {
        for c in &mut t.chains {
            for (i, r) in c.rules.iter_mut().enumerate() {
                let key = (t.family, t.kind, c.name.clone(), i + 1);
                r.counters = match sums.iter().find(|(x, _)| *x == key) {
                    Some((_, n)) => {
                        rules += 1;
                        *n
                    }
                    None => Counters::default(),
                };
            }
        }
    }
    Ok(Counted {
        rules,
        kernel_rules,
    })
}
