//! Per-rule counters from `nft -j list table inet rampart`.

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;

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

/// Reads the rules of `nft -j list table` output, in chain order.
pub fn rule_counters(json: &str) -> Result<Vec<RuleCounter>, Error> {
    let v: Value = serde_json::from_str(json).map_err(|e| Error::Json(e.to_string()))?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Json("no `nftables` array".into()))?;
    let mut out: Vec<RuleCounter> = Vec::new();
    for item in items {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let chain = rule
            .get("chain")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let position = 1 + out.iter().filter(|r| r.chain == chain).count();
        let counter = rule
            .get("expr")
            .and_then(Value::as_array)
            .and_then(|e| e.iter().find_map(|x| x.get("counter")));
        let num = |k: &str| counter.and_then(|c| c.get(k)).and_then(Value::as_u64);
        out.push(RuleCounter {
            chain: chain.to_string(),
            position,
            handle: rule.get("handle").and_then(Value::as_u64).unwrap_or(0),
            comment: rule
                .get("comment")
                .and_then(Value::as_str)
                .map(str::to_string),
            packets: num("packets"),
            bytes: num("bytes"),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From `nft -j list table inet rampart`, nftables 1.0.6, kernel 6.18.
    const JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "rampart", "handle": 1}}, {"chain": {"family": "inet", "table": "rampart", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "rampart", "chain": "input", "handle": 4, "comment": "x y", "expr": [{"limit": {"rate": 5, "burst": 5, "per": "second"}}, {"counter": {"packets": 7, "bytes": 420}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "rampart", "chain": "input", "handle": 5, "expr": [{"drop": null}]}}]}"#;

    #[test]
    fn reads_counters_and_comments() {
        let r = rule_counters(JSON).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].comment.as_deref(), Some("x y"));
        assert_eq!((r[0].packets, r[0].bytes), (Some(7), Some(420)));
        assert_eq!((r[1].position, r[1].handle, r[1].packets), (2, 5, None));
    }
}
