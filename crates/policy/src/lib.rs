//! rampart's policy file and built-in profiles, lowered to the one ruleset model.
//!
//! Pipeline (each stage its own type):
//!
//! ```text
//!  rampart.toml ──toml + serde (deny_unknown_fields)──▶ schema::File   (values + byte spans)
//!        │                                                   │ validate: ports, CIDRs, rates,
//!        │                                                   ▼ conflicts, profile defaults
//!        │                                                Policy       (what the admin means)
//!        │                                                   │ lower (+ imported iptables
//!        ▼                                                   ▼   files via parse_any)
//!                                                  rampart_ruleset::Ruleset  (both families)
//! ```
//!
//! Central types: [`Policy`] (a validated policy: profile defaults with the file's keys
//! laid over them), [`Compiled`] (the [`Ruleset`] plus notes) and [`PolicyError`]
//! (file:line:column, the dotted key, the problem and a hint).
//!
//! Decisions and their reasons:
//! - **Profiles are defaults, keys override.** `profile = "webserver"` fills every key; a
//!   key in the file replaces that key's default whole (`[input] tcp = [22, 8443]` is the
//!   list, not an addition), which is what an admin reading the file expects to see.
//! - **Both families from one file.** Every rule is generated for IPv4 and IPv6, except
//!   where an address fixes the family (`allow_from`, `snat`) and NAT, which is IPv4 only.
//!   IPv6 always gets the ICMPv6 neighbour discovery and error messages it cannot work
//!   without, in both directions whenever that direction's policy drops.
//! - **The why is kept.** Every generated rule carries an iptables comment saying why it
//!   exists (`rampart: webserver: ssh in`, `rampart: policy: tcp 8080 in`, or the admin's
//!   own `comment`), which the nft compiler turns into rule comments, and rules from the
//!   file carry the key's line as their span.
//! - **Pure.** Imported files are read through a closure the caller passes, so the crate
//!   never touches the file system.
//!
//! ```
//! use rampart_policy::{Policy, Profile};
//! use rampart_ruleset::Source;
//!
//! let text = "profile = \"webserver\"\n[input]\ntcp = [22, { port = 8443, comment = \"admin UI\" }]\n";
//! let policy = Policy::parse(&Source::new("rampart.toml", text)).unwrap();
//! assert_eq!(policy.profile, Profile::Webserver);
//! let compiled = policy.to_ruleset(|_| unreachable!("no imports")).unwrap();
//! let save = rampart_ruleset::to_save_all(&compiled.ruleset, false);
//! assert!(save.contains("--dport 8443 -m comment --comment \"rampart: admin UI\" -j ACCEPT"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod flood;
mod lower;
mod policy;
mod schema;

pub use error::{PolicyError, PolicyErrorKind, PolicyErrors};
pub use flood::{
    Flood, GlobalLimit, Measure, OverAction, Per, SourceLimit, BAN_LOG_PREFIX, DEFAULT_BAN_SECONDS,
    DEFAULT_IPV6_PREFIX, DEFAULT_LOG_GROUP, DEFAULT_METER_SIZE,
};
pub use lower::Compiled;
pub use policy::{
    Addr, ChainPolicy, Nat, Origin, Ping, Policy, PortRule, Profile, RouterPolicy, Why,
    DEFAULT_PATH,
};
pub use rampart_ruleset::Ruleset;
