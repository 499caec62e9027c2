//! Compiler from the ruleset model to nftables: `rampart compile`, and what `rampart apply`
//! loads with `nft -f`.
//!
//! # Pipeline
//!
//! Each stage has its own type; the crate is pure (no I/O) and reads only the model.
//!
//! ```text
//!  Ruleset (rampart_ruleset: tables of both families, chains, rules, ipsets; spans)
//!     │  lower()   one rule → one nft rule (two for multiport --ports);
//!     │            every untranslatable construct → CompileError (never dropped)
//!     ▼
//!  ir::Table  (sets, base chains, family chains; every Rule = Vec<Stmt> + comment
//!     │        + origin: RulePlace {family, table, chain, index, span})
//!     │  emit()
//!     ▼
//!  NftScript  (text for nft -f, plus Provenance: nft chain/position/line → RulePlace)
//! ```
//!
//! [`compile`] runs both stages. Central types: [`NftScript`], [`Table`] (the IR),
//! [`CompileError`].
//!
//! # Layout
//!
//! rampart owns one table, `table inet rampart` (DESIGN decision 1). The script never says
//! `flush ruleset` and never names another table: it creates our table if missing, deletes
//! it and defines it again, all in the one transaction `nft -f` makes of a file.
//!
//! For each iptables (table, hook) that has rules or a DROP policy in either family there
//! is one base chain, named `<table>_<hook>` (`filter_input`, `nat_postrouting`), at the
//! standard priority of that iptables table:
//!
//! | iptables table | priority             | chain type                           |
//! |----------------|----------------------|--------------------------------------|
//! | raw            | `raw` (-300)         | filter                               |
//! | mangle         | `mangle` (-150)      | filter; `route` for OUTPUT           |
//! | nat            | `dstnat` (-100) for PREROUTING/OUTPUT, `srcnat` (100) for INPUT/POSTROUTING | nat |
//! | filter         | `filter` (0)         | filter                               |
//! | security       | `security` (50)      | filter                               |
//!
//! Every base chain has `policy accept` and only dispatches by family:
//!
//! ```text
//! chain filter_input {
//!     type filter hook input priority filter; policy accept;
//!     meta nfproto ipv4 jump ip_filter_INPUT
//!     meta nfproto ipv4 counter drop comment "iptables -t filter -P INPUT DROP"
//!     meta nfproto ipv6 jump ip6_filter_INPUT
//! }
//! ```
//!
//! The iptables chain's rules live in the regular chain `ip_filter_INPUT`
//! (`ip6_filter_INPUT` for ip6tables); user chains are named the same way
//! (`ip_filter_syn_flood`). A DROP policy is the rule right after the jump, so RETURN from
//! the built-in chain, falling off its end, and RETURN at the end of a `-g` chain all reach
//! the policy exactly as in iptables. A family whose chain has no rules and an ACCEPT policy
//! gets no dispatch rule; a table with no rules and only ACCEPT policies is left out.
//!
//! ## Priorities and other tools' tables
//!
//! The priorities are iptables' own, so rampart's chains run where the administrator's
//! iptables rules ran: mangle before DNAT, DNAT before filter, SNAT last, conntrack (at
//! -200) after raw. Docker, libvirt, fail2ban and iptables-nft keep their own tables, and
//! in nftables a packet must pass **every** base chain on a hook: an `accept` in our
//! `filter_input` ends only our chain, and a `drop` in any table is final. So rampart cannot
//! let through what another tool's table drops, and Docker's DNAT (its `nat` table, also at
//! -100) and its filter rules keep working beside ours. Where two base chains share a
//! priority the kernel's order between them is unspecified; rampart's policy does not
//! depend on it, since every base chain's verdict must be accept for a packet to pass.
//!
//! # Rules
//!
//! Every rule gets `counter` (read back by `rampart status`) and its `-m comment` text as the
//! nft `comment`. REJECT rules start with `meta nfproto ipv4|ipv6` so that `reject with icmp
//! type ...` has the family context the inet table needs. Sets: see [`CompileError`] for
//! what cannot be translated, and the `sets` module for how ipsets map.
//!
//! # Example
//!
//! ```
//! use rampart_ruleset::{parse_script, ParseOptions, Source};
//!
//! let src = Source::new("fw.sh", "iptables -P INPUT DROP\n\
//!     iptables -A INPUT -p tcp --dport 22 -m comment --comment ssh -j ACCEPT\n");
//! let ruleset = parse_script(&src, ParseOptions::default()).unwrap().ruleset;
//! let script = rampart_nft::compile(&ruleset, &rampart_nft::CompileOptions::default()).unwrap();
//! assert!(script.text().contains("tcp dport 22 counter accept comment \"ssh\""));
//! assert_eq!(script.provenance()[0].origin.chain, "INPUT");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod emit;
mod error;
pub mod ir;
mod lower;
mod lower_modules;
mod lower_targets;
mod sets;

pub use emit::{emit, rule_text, NftScript, Provenance};
pub use error::{CompileError, CompileErrors, RulePlace, SetPlace};
pub use ir::Table;
pub use lower::{chain_name, lower};

use rampart_ruleset::Ruleset;

/// Options of a compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompileOptions {
    /// The name of our table in family `inet` (default `rampart`).
    pub table: String,
    /// Begin the script by deleting our table (created first if missing), so that loading
    /// it replaces the previous version atomically (default true).
    pub replace: bool,
}

impl Default for CompileOptions {
    fn default() -> CompileOptions {
        CompileOptions {
            table: "rampart".into(),
            replace: true,
        }
    }
}

impl CompileOptions {
    /// Options for table `inet TABLE`; `replace`: see [`CompileOptions::replace`].
    pub fn new(table: &str, replace: bool) -> CompileOptions {
        CompileOptions {
            table: table.into(),
            replace,
        }
    }
}

/// Compiles a ruleset to an nft script: [`lower`] then [`emit`].
pub fn compile(ruleset: &Ruleset, opts: &CompileOptions) -> Result<NftScript, CompileErrors> {
    let table = lower(ruleset, opts)?;
    Ok(emit(&table, opts))
}
