//! Printers: `iptables-save` format (parse → print → parse is the identity) and text for
//! humans.
use crate::model::RuleSpec;

/// A rule's options as `iptables-save` prints them after `-A CHAIN`
/// (e.g. `-p tcp -m tcp --dport 22 -j ACCEPT`).
pub fn rule_args(spec: &RuleSpec) -> String {
    format!("{spec:?}") // placeholder until the printer lands
}
