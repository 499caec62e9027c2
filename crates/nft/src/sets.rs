//! ipsets → nft sets.
//!
//! | ipset type     | nft key                                   | flags                  |
//! |----------------|-------------------------------------------|------------------------|
//! | `hash:ip`      | `ipv4_addr` / `ipv6_addr`                 | `timeout` when it has one |
//! | `hash:net`     | `ipv4_addr` / `ipv6_addr`                 | `interval` (auto-merge) |
//! | `hash:ip,port` | `ipv4_addr . inet_proto . inet_service`   | `interval` if ranges, else `timeout` when it has one |
//! | `hash:net,port`| `ipv4_addr . inet_proto . inet_service`   | `interval`             |
//! | `bitmap:port`  | `inet_service`                            | `interval` if ranges   |
//!
//! Timeout sets and interval sets are kept apart (DESIGN decision 2): bans live in plain
//! sets with `flags timeout`, CIDR lists in interval sets; an ipset that would need both is
//! an error.

use rampart_ruleset::{Family, IpSet, SetEntry, SetKind};

use crate::error::{CompileError, SetPlace};
use crate::ir::{Element, Set};
use crate::lower::{addr_type, prefix_text, proto_text};

/// Lowers one ipset to an nft set named `name`.
pub(crate) fn lower_ipset(set: &IpSet, name: String) -> Result<Set, CompileError> {
    let at = || SetPlace {
        name: set.name.clone(),
        span: set.span,
    };
    let addr = addr_type(set.family);
    let (key, base_interval) = match set.kind {
        SetKind::HashIp => (addr.to_string(), false),
        SetKind::HashNet => (addr.to_string(), true),
        SetKind::HashIpPort => (format!("{addr} . inet_proto . inet_service"), false),
        SetKind::HashNetPort => (format!("{addr} . inet_proto . inet_service"), true),
        SetKind::BitmapPort => ("inet_service".to_string(), false),
        other => {
            return Err(CompileError::UnsupportedSetKind {
                at: at(),
                kind: other.name(),
            })
        }
    };
    let ranged = |e: &SetEntry| {
        e.addr.is_some_and(|p| !p.is_host()) || e.port.is_some_and(|(_, r)| r.lo != r.hi)
    };
    let interval = base_interval || set.entries.iter().any(ranged);
    let timeout = set.timeout.filter(|t| *t > 0);
    if interval && timeout.is_some() {
        return Err(CompileError::IntervalTimeout {
            at: at(),
            kind: set.kind.name(),
        });
    }
    let mut elements = Vec::with_capacity(set.entries.len());
    for e in &set.entries {
        let key = element_key(set.kind, e);
        let timeout = match (timeout, e.timeout) {
            (Some(t), Some(0)) => {
                return Err(CompileError::PermanentEntry {
                    at: at(),
                    entry: key,
                    timeout: t,
                })
            }
            (Some(t), Some(x)) if x != t => Some(x),
            _ => None,
        };
        elements.push(Element {
            key,
            timeout,
            comment: e.comment.clone(),
        });
    }
    Ok(Set {
        name,
        key,
        interval,
        timeout_flag: timeout.is_some(),
        dynamic: false,
        auto_merge: interval,
        timeout_ms: timeout.map(|t| u64::from(t) * 1000),
        size: None,
        elements,
        note: format!(
            "ipset {} ({}, {})",
            set.name,
            set.kind.name(),
            match set.family {
                Family::Ipv4 => "inet",
                Family::Ipv6 => "inet6",
            }
        ),
    })
}

fn element_key(kind: SetKind, e: &SetEntry) -> String {
    let port = |e: &SetEntry| match e.port {
        Some((_, r)) if r.lo == r.hi => r.lo.to_string(),
        Some((_, r)) => format!("{}-{}", r.lo, r.hi),
        None => "0".to_string(),
    };
    match kind {
        SetKind::BitmapPort => port(e),
        SetKind::HashIpPort | SetKind::HashNetPort => {
            let proto = e
                .port
                .map(|(p, _)| proto_text(p))
                .unwrap_or_else(|| "tcp".into());
            let addr = e.addr.map(prefix_text).unwrap_or_default();
            format!("{addr} . {proto} . {}", port(e))
        }
        _ => e.addr.map(prefix_text).unwrap_or_default(),
    }
}
