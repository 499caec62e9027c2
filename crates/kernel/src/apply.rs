//! Replacing our table in one transaction.
//!
//! The transaction ([`plan`]) is one nft file, so the kernel commits all of it or none:
//!
//! ```text
//! add table inet rampart                 # idempotent: creates it on first apply
//! flush table inet rampart               # every rule of every chain; sets keep elements
//! delete chain inet rampart C            # every chain that exists now (re-added below,
//!                                        #   so hook, type and priority may change)
//! delete set inet rampart S              # sets gone from the script, or redeclared
//!                                        #   incompatibly (only when nft refuses to keep them)
//! flush set inet rampart S               # sets whose elements the script lists
//! table inet rampart { ... }             # the script: sets (idempotent), chains, rules
//! ```
//!
//! Finding (nftables 1.0.6, kernel 6.18): `flush table` removes the rules of all chains
//! but neither the chains nor the sets nor their elements, so bans and lists loaded at run
//! time survive a re-apply. Redeclaring an existing set with the same type and flags is a
//! no-op that keeps its elements; with different flags the kernel answers `File exists`,
//! so such a set is deleted and recreated (its elements cannot fit the new type anyway).
//! Sets whose elements the script lists are owned by the policy: they are flushed and
//! refilled, so an element removed from the policy leaves the kernel.
//!
//! Nothing outside `table inet rampart` is named, so other tables (iptables-nft's, Docker's,
//! libvirt's) are untouched; `flush ruleset` is never used.

use crate::error::Error;
use crate::netlink::{self, KernelShape};
use crate::nft::Nft;
use crate::script::{parse_table, without_replace_preamble, SetDecl, TableShape};
use crate::NFT_SET_ANONYMOUS;

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The kernel already had exactly these rules; nothing was sent.
    Unchanged,
    /// The transaction was committed.
    Applied {
        /// Sets deleted and recreated because their declaration changed incompatibly.
        recreated_sets: Vec<String>,
    },
}

/// How to apply.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Apply even when the kernel seems to hold the same rules already.
    pub force: bool,
    /// The record of the last apply (see [`Applied`]); with it an unchanged policy is
    /// detected from the ruleset generation, or the table's shape, without `nft list`.
    pub previous: Option<Applied>,
}

/// Record of one successful apply, kept in the state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The script as given to [`apply`].
    pub script: String,
    /// The digest of the table's shape right after it ([`netlink::digest`]: chains,
    /// set declarations, rules; counters left out).
    pub shape: String,
    /// The ruleset generation right after it: while it has not moved, nothing changed.
    pub generation: Option<u32>,
    /// A digest of what the script was compiled from (the caller's: files, options,
    /// compiler version), when the caller keeps one: the same input and an unmoved
    /// generation mean unchanged, without compiling again.
    pub input: Option<String>,
}

/// Builds the replace transaction for `script`, given the current table (`None`: absent).
/// `recreate` names sets to delete and recreate.
pub fn plan(
    current: Option<&TableShape>,
    new: &TableShape,
    script: &str,
    recreate: &[String],
) -> String {
    let mut t = String::with_capacity(script.len() + 256);
    t.push_str("add table inet rampart\nflush table inet rampart\n");
    if let Some(cur) = current {
        for c in &cur.chains {
            t.push_str(&format!("delete chain inet rampart {}\n", quote(c)));
        }
        for s in &cur.sets {
            let gone = new.set(&s.name).is_none_or(|n| n.kind != s.kind);
            if gone || recreate.contains(&s.name) {
                t.push_str(&format!(
                    "delete {} inet rampart {}\n",
                    s.kind,
                    quote(&s.name)
                ));
            } else if new.set(&s.name).is_some_and(|n| n.has_elements) {
                t.push_str(&format!(
                    "flush {} inet rampart {}\n",
                    s.kind,
                    quote(&s.name)
                ));
            }
        }
    }
    t.push_str(script);
    if !script.ends_with('\n') {
        t.push('\n');
    }
    t
}

fn quote(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}

/// The current table as [`plan`] needs it (chain and set names), from the kernel's
/// shape.
fn current_of(shape: &KernelShape) -> TableShape {
    TableShape {
        sets: shape
            .sets
            .iter()
            // Anonymous sets (`{ 22, 80 }` in a rule) live and die with their rules.
            .filter(|s| s.flags & NFT_SET_ANONYMOUS == 0)
            .map(|s| SetDecl {
                kind: if s.is_map() { "map" } else { "set" }.into(),
                name: s.name.clone(),
                decl: Vec::new(),
                has_elements: false,
            })
            .collect(),
        chains: shape.chains.iter().map(|c| c.name.clone()).collect(),
        objects: Vec::new(),
    }
}

/// Applies `script` (one `table inet rampart { ... }` block; the replace preamble of
/// `rampart compile` output is dropped) atomically, as one `nft -f` transaction: on any
/// error the table is as it was. Returns the outcome and the record to keep for the next
/// apply.
///
/// The kernel is read over netlink, never with `nft list`: an unchanged policy is
/// answered from the ruleset generation (or, when something else moved it, from the
/// table's shape), and the transaction is planned from the table's chain and set names.
/// Only when nft refuses the first plan is the table listed, to find sets whose
/// declaration changed (they are then recreated).
pub fn apply(nft: &Nft, script: &str, opts: &ApplyOptions) -> Result<(Outcome, Applied), Error> {
    let script = without_replace_preamble(script);
    let script = script.as_str();
    // Nothing committed since our last apply of this script: unchanged, from the
    // generation alone (one netlink round trip).
    let unforced = (!opts.force).then_some(opts.previous.as_ref()).flatten();
    let same = unforced.filter(|prev| same_rules(&prev.script, script));
    if let Some(prev) = same {
        if prev.generation == Some(netlink::generation(nft)?) {
            return Ok((Outcome::Unchanged, prev.clone()));
        }
    }
    let new = parse_table(script)?;
    let before = netlink::snapshot(nft)?;
    // Something else committed (a ban, another table): unchanged if our table's shape is.
    // The record then takes the new generation, so the next check is the cheap one.
    if let (Some(prev), Some(_)) = (same, &before.shape) {
        if prev.shape == before.digest() {
            let record = Applied {
                generation: Some(before.generation),
                ..prev.clone()
            };
            return Ok((Outcome::Unchanged, record));
        }
    }
    let current = before.shape.as_ref().map(current_of);
    let mut recreate = Vec::new();
    let text = plan(current.as_ref(), &new, script, &recreate);
    if let Err(first) = nft.load(&text) {
        // Sets whose declaration differs are kept when nft agrees; recreate them only if
        // keeping them is what fails.
        let listed = nft.list_table()?;
        let listed = listed.as_deref().map(parse_table).transpose()?;
        if let Some(cur) = &listed {
            recreate = cur
                .sets
                .iter()
                .filter(|s| new.set(&s.name).is_some_and(|n| n.decl != s.decl))
                .map(|s| s.name.clone())
                .collect();
        }
        if recreate.is_empty() {
            return Err(map_lines(first, &text, script));
        }
        let text = plan(listed.as_ref(), &new, script, &recreate);
        nft.load(&text).map_err(|e| map_lines(e, &text, script))?;
    }
    let after = netlink::snapshot(nft)?;
    Ok((
        Outcome::Applied {
            recreated_sets: recreate,
        },
        Applied {
            script: script.to_string(),
            shape: after.digest(),
            generation: Some(after.generation),
            input: None,
        },
    ))
}

/// The scripts are equal but for comment lines and blank lines.
fn same_rules(a: &str, b: &str) -> bool {
    let significant = |s: &str| {
        s.lines()
            .map(str::trim_end)
            .filter(|l| !l.trim_start().starts_with('#') && !l.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    significant(a) == significant(b)
}

/// Rewrites `/dev/stdin:L:` in nft's message to `script line L'` where L falls inside
/// the script part of the transaction.
fn map_lines(err: Error, text: &str, script: &str) -> Error {
    let Error::Rejected { stage, stderr, .. } = err else {
        return err;
    };
    let mut lines = Vec::new();
    let offset = text[..text.len() - script.len().min(text.len())]
        .matches('\n')
        .count();
    let mut out = String::new();
    for line in stderr.lines() {
        let mapped = line
            .strip_prefix("/dev/stdin:")
            .and_then(|rest| {
                let (n, tail) = rest.split_once(':')?;
                let n: usize = n.parse().ok()?;
                (n > offset).then(|| {
                    lines.push(n - offset);
                    format!("script line {}:{tail}", n - offset)
                })
            })
            .unwrap_or_else(|| line.to_string());
        out.push_str(&mapped);
        out.push('\n');
    }
    Error::Rejected {
        stage,
        stderr: out,
        lines,
    }
}

/// Removes our table (and only it). `Ok(false)` when there was none.
pub fn down(nft: &Nft) -> Result<bool, Error> {
    nft.delete_table()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_keeps_sets_and_replaces_chains() {
        let cur = parse_table(
            "table inet rampart {\n set bans { type ipv4_addr; flags timeout; }\n set old { type ipv4_addr; }\n set allow { type ipv4_addr; }\n chain input { type filter hook input priority 0; }\n chain sub { }\n}\n",
        )
        .unwrap();
        let script = "table inet rampart {\n set bans { type ipv4_addr; flags timeout; }\n set allow { type ipv4_addr; elements = { 192.0.2.1 } }\n chain input { type filter hook input priority 0; }\n}\n";
        let new = parse_table(script).unwrap();
        let p = plan(Some(&cur), &new, script, &[]);
        let head: Vec<&str> = p.lines().take(6).collect();
        assert_eq!(
            head,
            [
                "add table inet rampart",
                "flush table inet rampart",
                "delete chain inet rampart input",
                "delete chain inet rampart sub",
                "delete set inet rampart old",
                "flush set inet rampart allow",
            ]
        );
        assert!(!p.contains("delete set inet rampart bans"));
        assert!(p.ends_with(script));
    }

    #[test]
    fn error_lines_point_into_the_script() {
        let script = "table inet rampart {\n bogus\n}\n";
        let text = format!("add table inet rampart\nflush table inet rampart\n{script}");
        let e = map_lines(
            Error::Rejected {
                stage: "check",
                stderr: "/dev/stdin:4:2-6: Error: syntax error\n".into(),
                lines: Vec::new(),
            },
            &text,
            script,
        );
        assert!(e.to_string().contains("script line 2:2-6: Error"), "{e}");
        assert!(matches!(e, Error::Rejected { lines, .. } if lines == [2]));
    }
}
