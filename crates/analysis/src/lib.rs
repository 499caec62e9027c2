//! Ruleset analysis over symbolic packet sets: `lint`, a semantic `diff`, `exposure`.
//!
//! Central types: [`Universe`] and [`Cube`] (the header space and products of per-field
//! interval sets), [`Program`] (one path's tables with user chains unfolded, from
//! [`compile`]), [`Space`] (the partition of the header space into classes every rule
//! treats alike), and the three results [`Diff`], [`LintReport`], [`Exposure`].
//!
//! ```text
//!  Ruleset ──universe──▶ Universe (interfaces, set classes)
//!     │
//!     └──compile──▶ Program per path (input, forward, output): Instr = Cube + may + Act
//!                        │
//!                        ▼
//!                  Space::partition ──▶ leaves (classes of packets) ──walk──▶ Outcomes
//!                        │
//!             diff (two programs, one partition) · lint (Stats per rule) · exposure
//! ```
//!
//! Decisions and their reasons:
//! - **Exact where the kernel is deterministic.** Addresses, ports, protocol, interfaces,
//!   conntrack state, flags, ICMP, length, mark and static sets are interval sets; a leaf of
//!   the partition is a class in which every packet matches the same rules, so one walk
//!   decides the class.
//! - **"May" for rate and history.** limit, hashlimit, connlimit, recent, MAC, address
//!   types, and unknown matches may or may not hold: the walk forks, both outcomes are
//!   kept, and a limit rule never shadows the rules after it.
//! - **Sets as address classes** when their content changes at run time (bans with
//!   timeouts), holds ports, is missing from the input or is huge: "source in set X" is a
//!   field of its own; static address sets are expanded and matched exactly.
//! - **The nat tables see NEW packets only**, and a DNAT re-matches the later tables with
//!   the translated destination.
//! - **Routing after PREROUTING as the kernel's.** A DNAT to an address that is not the
//!   host's ([`Locals`]: given, or inferred from the ruleset) sends a packet addressed to
//!   this host through FORWARD and POSTROUTING instead of INPUT, and one to a local address
//!   sends a routed packet to INPUT; the outcome says so (`(forwarded)`).
//!
//! ```
//! use rampart_analysis::diff;
//! use rampart_ruleset::{parse_save, ParseOptions, Source};
//!
//! let parse = |t: &str| parse_save(&Source::new("t", t), ParseOptions::default()).unwrap().ruleset;
//! let old = parse("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
//! let new = parse("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n\
//!                  -A INPUT -p tcp --dport 8080 -j ACCEPT\nCOMMIT\n");
//! let d = diff(&old, &new).unwrap();
//! assert_eq!(d.changes.len(), 1);
//! assert!(d.changes[0].to_string().contains("tcp from anywhere to port 8080"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod class;
mod diff;
mod exposure;
mod lint;
mod partition;
mod program;
mod space;
mod walk;

pub use class::{describe, Class};
pub use diff::{diff, diff_with, Change, Diff, MAX_CHANGES};
pub use exposure::{exposure, exposure_with, reaches, Access, Exposed, Exposure};
pub use lint::{lint, lint_with, Finding, FindingKind, LintOptions, LintReport, Severity};
pub use partition::{conditions, rewriters, Leaf, Space, REORDER_FROM};
pub use program::{
    compile, compile_with, universe, Act, AnalysisError, Compiled, Instr, Locals, PathKind,
    Program, Rewrite, RuleRef, Verdict, MAX_EXPANDED_MEMBERS, MAX_INSTRUCTIONS,
};
pub use space::{Cube, Dim, Point, Ranges, Universe, CT_NAMES};
pub use walk::{Outcome, Outcomes, Placed, Stats, MAX_STATES};
