//! The netfilter ruleset model and the parsers and printers around it.
//!
//! Pipeline (each stage its own type):
//!
//! ```text
//!  script / save file ──lex──▶ CommandLine (words + spans)
//!        │                         │
//!        │            iptables argv ▼ / ipset argv
//!        │                    Invocation / SetCommand
//!        │                         │ Ruleset::apply (kernel's checks)
//!        ▼                         ▼
//!                               Ruleset ──validate──▶ chain loops, jump depth
//!                                  │
//!                                  └──print──▶ iptables-save text, human text
//! ```
//!
//! Central types: [`Ruleset`] (tables → chains → rules, plus ipsets), [`Rule`] and
//! [`RuleSpec`] (matches + action), [`ParseError`] (file:line:column, token, hint).
#![forbid(unsafe_code)]

mod collapse;
mod command;
mod describe;
mod error;
mod ipset;
mod iptables;
pub mod lex;
mod model;
mod model_targets;
mod parse;
mod print;
mod span;
pub mod synthetic;
mod validate;

pub use collapse::{collapse, CollapseError, CollapseOptions, CollapseReport, CollapsedRun};
pub use command::{target_name, Command, Invocation};
pub use describe::{describe_rule, RuleDescription};
pub use error::{quote_span, ErrorKind, ParseError, ParseErrors};
pub use ipset::parse_args as parse_ipset_args;
pub use ipset::{print_sets, AddrSpec, EntrySpec, SetCommand};
pub use iptables::parse_args as parse_iptables_args;
pub use model::*;
pub use parse::{parse_any, parse_save, parse_script, ParseOptions, Parsed};
pub use print::{rule_args, rule_args_in, state_names, to_human, to_save, to_save_all};
pub use span::{Source, Span};
pub use validate::{validate, ChainError, MAX_JUMP_DEPTH};
