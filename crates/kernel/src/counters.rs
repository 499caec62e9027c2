//! Per-rule counters of `table inet rampart`.

use serde::Serialize;

use crate::netlink::KernelShape;

/// One rule of our table with its counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCounter {
    /// The chain.
    pub chain: String,
    /// Position in the chain, from 1.
    pub position: usize,
    /// The kernel's rule handle.
    pub handle: u64,
    /// The rule's comment (rampart puts the policy rule's "why" there).
    pub comment: Option<String>,
    /// Packets counted (`None`: the rule has no counter).
    pub packets: Option<u64>,
    /// Bytes counted.
    pub bytes: Option<u64>,
}

/// The rules of the kernel's table in chain order, with their counters and comments, from
/// its shape over netlink ([`crate::snapshot`]).
pub fn rule_counters(shape: &KernelShape) -> Vec<RuleCounter> {
    shape
        .chains
        .iter()
        .flat_map(|c| shape.rules_of(&c.name))
        .map(|r| RuleCounter {
            chain: r.chain.clone(),
            position: r.position + 1,
            handle: r.handle,
            comment: r.comment.clone(),
            packets: r.packets,
            bytes: r.bytes,
        })
        .collect()
}
