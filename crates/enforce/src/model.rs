//! The block lists and timed bans as part of the ruleset model, so that the simulator
//! (`rampart trace`, the lockout check) sees what the kernel enforces.
//!
//! [`BlockModel::load`] reads the store (every list, the bans running at `now`);
//! [`BlockModel::add_to`] adds to a [`Ruleset`], per family:
//!
//! ```text
//! ipsets   ban_4 / ban_6            hash:ip, one entry per running ban (timeout = time
//!                                   left, comment = the ban's)
//!          bl_NAME_4 / bl_NAME_6    hash:net, the stored prefixes with their comments
//! filter   block_input   -i lo -j RETURN                      "rampart: loopback is never blocked"
//!                        -m set --match-set ban_4 src -j DROP "rampart: timed ban"
//!                        -m set --match-set bl_NAME_4 src -j DROP  "rampart: block list NAME"
//!          block_forward the same without the loopback rule
//!          INPUT:1       -j block_input    (inserted first)
//!          FORWARD:1     -j block_forward  (inserted first)
//! ```
//!
//! Set names, comments and the order of the drop rules come from
//! [`rampart_block::Layout`] ([`Layout::drop_rules`]), as the kernel's do, so a trace
//! names the sets and comments `nft list tables` and `rampart block test` show.
//!
//! # Why this gives the kernel's verdicts
//!
//! In the kernel, the bans' table `inet rampart_bans` and each list's `inet
//! rampart_bl_NAME` have base chains `input` / `forward` at priority `filter - 10`, which
//! only drop (or accept loopback); here they are one user chain per hook, `block_input` /
//! `block_forward`, whose rules are theirs in the same order (a list's two kernel sets per
//! family, single addresses and networks, are one `hash:net` set here). Between tables at
//! one priority the kernel's order is unspecified, and for drop-only chains it does not
//! matter: a drop in any base chain is final. The policy's chains sit at their iptables
//! priorities (mangle -150, filter 0, security 50, SNAT 100). So on the input and forward
//! hooks a packet
//! meets, in order: mangle, the block chain, the policy's filter, security, SNAT. Here the
//! block chain is a user chain jumped to by the first rule of filter INPUT / FORWARD,
//! which the simulator walks after mangle and before the rest of filter: the same place
//! in the order, since nothing of the policy runs between priority -150 and 0. Within it:
//! - a source in a set is dropped, and a drop in any base chain is final: the same here,
//!   where DROP in a user chain ends the packet;
//! - every other packet leaves the block chain without a verdict of its own (the kernel
//!   chain's policy is accept, and its loopback `accept` only ends that base chain, after
//!   which the policy's chains still run): here the packet RETURNs (loopback) or falls
//!   off the end of the user chain and goes on with rule 2 of INPUT / FORWARD.
//!
//! The kernel matches `ip saddr @set` against the packet's current source; so does the
//! simulator (DNAT in PREROUTING leaves the source alone; SNAT comes after). Interval
//! sets and hash:net agree for the stored lists, which are aggregated (no overlaps), and a
//! running ban is in the kernel's `ban_4`/`ban_6` exactly while it runs in the store's
//! journal (`expires > now`). Not modelled: bans the kernel holds that the store does not
//! (added by hand with nft), and a ban expiring during a `--packets` batch.
//!
//! # Cost
//!
//! A list of N prefixes becomes N set entries (a 200k-entry list: ~0.1 s to load and
//! build). The simulator prepares each set once, when it is created, into one hash map
//! per prefix length, so a lookup is a longest-prefix match of at most 33 (129) probes
//! whatever N is.

use rampart_block::{Ban, Bans, Layout, List, LOOPBACK_COMMENT};
use rampart_nft::ir::Hook;
use rampart_prefix::Prefix;
use rampart_ruleset::{
    Action, Chain, Counters, Family, Interface, IpSet, Match, Neg, Rule, RuleSpec, Ruleset, SetDir,
    SetEntry, SetKind, SetMatch, TableKind, Target,
};

use crate::error::Error;
use crate::store::Store;

/// The model's block chains (filter, both families) and the hooks they stand for.
const MODEL_CHAINS: [(&str, Hook); 2] = [
    ("block_input", Hook::Input),
    ("block_forward", Hook::Forward),
];

/// The comment of the jumps into the block chains, which the kernel has not (its block
/// chains are base chains of their own): says where they really are.
pub const JUMP_COMMENT: &str = "rampart: block lists and bans (nft priority filter - 10)";

/// A store's lists and running bans, ready to be added to a ruleset model.
#[derive(Debug, Clone)]
pub struct BlockModel {
    layout: Layout,
    lists: Vec<List>,
    bans: Vec<Ban>,
    now: u64,
    /// Stored prefixes, all lists together (more than `lists` holds when it was loaded
    /// for some sources only).
    stored: usize,
}

impl BlockModel {
    /// Reads every stored list and the bans running at `now`; `None` when nothing was
    /// ever blocked here (then `up` and `apply` add no block chains either).
    pub fn load(store: &Store, now: u64) -> Result<Option<BlockModel>, Error> {
        if !store.in_use() {
            return Ok(None);
        }
        let names = store.names()?;
        let lists = names
            .iter()
            .map(|n| store.load(n))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(BlockModel::new(lists, &store.bans()?, now)))
    }

    /// Like [`BlockModel::load`], but each list holds only the stored prefixes that
    /// contain one of `sources`: a set lookup by source address needs no other entry, so
    /// the verdicts of packets from `sources` are the same, and a million-entry list is
    /// never read whole (`trace`, the lockout check: one binary search of the list file
    /// per source).
    pub fn load_for(
        store: &Store,
        now: u64,
        sources: &[std::net::IpAddr],
    ) -> Result<Option<BlockModel>, Error> {
        if !store.in_use() {
            return Ok(None);
        }
        let mut lists = Vec::new();
        let mut stored = 0;
        for name in store.names()? {
            let mut list = List::new(name.clone());
            stored += match store.summary(&name)? {
                Some(summary) => summary.prefixes,
                None => store.load(&name)?.len(),
            };
            // One binary search of the sorted file per source (a few KiB read each).
            for ip in sources {
                if let Some(at) = store.locate(&name, *ip)? {
                    list.insert(at.prefix, at.comment);
                }
            }
            lists.push(list);
        }
        let mut model = BlockModel::new(lists, &store.bans()?, now);
        model.stored = stored;
        Ok(Some(model))
    }

    /// The model of these lists and of the bans running at `now`.
    pub fn new(lists: Vec<List>, bans: &Bans, now: u64) -> BlockModel {
        let layout = Layout::new(lists.iter().map(|l| l.name.clone()));
        let mut lists = lists;
        lists.sort_by(|a, b| a.name.cmp(&b.name));
        lists.dedup_by(|a, b| a.name == b.name);
        let stored = lists.iter().map(List::len).sum();
        BlockModel {
            stored,
            layout,
            lists,
            bans: bans
                .bans
                .values()
                .filter(|b| b.expires > now)
                .cloned()
                .collect(),
            now,
        }
    }

    /// The kernel layout these sets and chains mirror.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of lists.
    pub fn list_count(&self) -> usize {
        self.lists.len()
    }

    /// Number of stored prefixes, all lists together.
    pub fn prefix_count(&self) -> usize {
        self.stored
    }

    /// Number of bans running at `now`.
    pub fn ban_count(&self) -> usize {
        self.bans.len()
    }

    /// The set entries of the set a drop rule tests.
    fn entries(&self, list: Option<&List>, v4: bool) -> Vec<SetEntry> {
        match list {
            Some(l) => {
                let mut out = Vec::new();
                l.set().for_each_prefix(|p: Prefix| {
                    if p.is_ipv4() == v4 {
                        out.push(SetEntry {
                            addr: Some(p),
                            comment: l.comment(p).map(str::to_string),
                            ..SetEntry::default()
                        });
                    }
                });
                out
            }
            None => self
                .bans
                .iter()
                .filter(|b| b.addr.is_ipv4() == v4)
                .map(|b| SetEntry {
                    addr: Some(Prefix::host(b.addr)),
                    timeout: Some(
                        u32::try_from(b.expires.saturating_sub(self.now)).unwrap_or(u32::MAX),
                    ),
                    comment: b.comment.clone(),
                    ..SetEntry::default()
                })
                .collect(),
        }
    }

    /// Adds the sets (with their contents), the block chains and the jumps to them (first
    /// in filter INPUT and FORWARD of both families) to `ruleset`. Fails, changing
    /// nothing, when the ruleset already has a set or chain of those names.
    pub fn add_to(&self, ruleset: &mut Ruleset) -> Result<(), Error> {
        let drops = self.layout.drop_rules();
        for d in &drops {
            if ruleset.set(&d.set).is_some() {
                return Err(Error::NameTaken(format!("set {}", d.set)));
            }
        }
        for t in &ruleset.tables {
            if t.kind != TableKind::Filter {
                continue;
            }
            for (chain, _) in MODEL_CHAINS {
                if t.chain(chain).is_some() {
                    return Err(Error::NameTaken(format!(
                        "chain {chain} in {} filter",
                        t.family.command()
                    )));
                }
            }
        }
        for d in &drops {
            let list = d
                .list
                .as_ref()
                .and_then(|n| self.lists.iter().find(|l| &l.name == n));
            ruleset.sets.push(IpSet {
                name: d.set.clone(),
                kind: if d.list.is_some() {
                    SetKind::HashNet
                } else {
                    SetKind::HashIp
                },
                family: if d.v4 { Family::Ipv4 } else { Family::Ipv6 },
                // Timed bans: entries carry the time they have left (`timeout 0`: no
                // default, as the kernel set has none).
                timeout: d.list.is_none().then_some(0),
                maxelem: None,
                hashsize: None,
                port_range: None,
                flags: vec!["comment".into()],
                entries: self.entries(list, d.v4),
                span: None,
            });
        }
        for family in [Family::Ipv4, Family::Ipv6] {
            let v4 = family == Family::Ipv4;
            let table = ruleset.table_mut(family, TableKind::Filter);
            for (name, hook) in MODEL_CHAINS {
                let mut rules = Vec::new();
                if hook == Hook::Input {
                    rules.push(rule(
                        RuleSpec {
                            in_interface: Some(Neg::plain(Interface("lo".into()))),
                            ..RuleSpec::default()
                        },
                        LOOPBACK_COMMENT,
                        Target::Return,
                    ));
                }
                for d in drops.iter().filter(|d| d.v4 == v4) {
                    rules.push(rule(
                        RuleSpec {
                            matches: vec![Match::Set(SetMatch {
                                name: d.set.clone(),
                                dirs: vec![SetDir::Src],
                                negated: false,
                            })],
                            ..RuleSpec::default()
                        },
                        &d.comment,
                        Target::Drop,
                    ));
                }
                table.add_chain(Chain {
                    name: name.into(),
                    policy: None,
                    counters: Counters::default(),
                    rules,
                });
                let from = match hook {
                    Hook::Input => "INPUT",
                    _ => "FORWARD",
                };
                let jump = rule(
                    RuleSpec::default(),
                    JUMP_COMMENT,
                    Target::Chain(name.into()),
                );
                table
                    .chain_mut(from)
                    .expect("filter has INPUT and FORWARD")
                    .rules
                    .insert(0, jump);
            }
        }
        Ok(())
    }
}

fn rule(mut spec: RuleSpec, comment: &str, target: Target) -> Rule {
    spec.matches.push(Match::Comment(comment.into()));
    spec.action = Some(Action::Jump(target));
    Rule {
        spec,
        counters: Counters::default(),
        span: None,
    }
}

/// Adds the block lists and bans of `store` running at `now` to `ruleset`, as they decide
/// packets from `sources` ([`BlockModel::load_for`] then [`BlockModel::add_to`]); returns
/// the model, for its sizes, or `None` when nothing was ever blocked here.
pub fn add_block_lists(
    ruleset: &mut Ruleset,
    store: &Store,
    now: u64,
    sources: &[std::net::IpAddr],
) -> Result<Option<BlockModel>, Error> {
    let Some(model) = BlockModel::load_for(store, now, sources)? else {
        return Ok(None);
    };
    model.add_to(ruleset)?;
    Ok(Some(model))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use rampart_block::ListName;
    use rampart_ruleset::{Policy, Protocol};
    use rampart_sim::{Fate, HintKind, Host, Packet, Simulator, Trace};

    const NOW: u64 = 1_700_000_000;

    fn list(name: &str, entries: &[(&str, Option<&str>)]) -> List {
        let mut l = List::new(ListName::new(name).unwrap());
        for (p, c) in entries {
            l.insert(p.parse().unwrap(), c.map(str::to_string));
        }
        l
    }

    fn bans(entries: &[(&str, u64, &str)]) -> Bans {
        let mut b = Bans::default();
        for (addr, expires, comment) in entries {
            let addr: IpAddr = addr.parse().unwrap();
            b.bans.insert(
                addr,
                Ban {
                    addr,
                    expires: *expires,
                    list: "manual".into(),
                    comment: Some(comment.to_string()),
                },
            );
        }
        b
    }

    fn accept(spec: RuleSpec) -> Rule {
        rule(spec, "policy", Target::Accept)
    }

    /// A server policy: loopback, tcp, DROP policy; both families.
    fn policy() -> Ruleset {
        let mut r = Ruleset::default();
        for family in [Family::Ipv4, Family::Ipv6] {
            let input = r
                .table_mut(family, TableKind::Filter)
                .chain_mut("INPUT")
                .unwrap();
            input.policy = Some(Policy::Drop);
            input.rules.push(accept(RuleSpec {
                in_interface: Some(Neg::plain(Interface("lo".into()))),
                ..RuleSpec::default()
            }));
            input.rules.push(accept(RuleSpec {
                protocol: Some(Neg::plain(Protocol::TCP)),
                ..RuleSpec::default()
            }));
        }
        r
    }

    fn model() -> BlockModel {
        BlockModel::new(
            vec![
                list(
                    "manual",
                    &[
                        ("198.51.100.0/24", Some("scanner")),
                        ("2001:db8:bad::/48", Some("v6 scanner")),
                        ("192.0.2.128/25", None),
                    ],
                ),
                list("drop", &[("203.0.113.0/25", None)]),
            ],
            &bans(&[
                ("203.0.113.200", NOW + 3540, "ssh brute force"),
                ("203.0.113.201", NOW - 1, "expired"),
            ]),
            NOW,
        )
    }

    fn trace(ruleset: &Ruleset, src: &str, dst: &str, iface: &str) -> Trace {
        let host = Host::parse("interface eth0 192.0.2.1/25 2001:db8::1/64").unwrap();
        let mut sim = Simulator::new(ruleset, host);
        sim.run(&Packet::tcp(src, 40000, dst, 22).on(iface))
    }

    #[test]
    fn blocked_sources_are_dropped_by_their_list_with_the_stored_prefix() {
        let mut r = policy();
        let m = model();
        m.add_to(&mut r).unwrap();
        assert_eq!((m.list_count(), m.prefix_count(), m.ban_count()), (2, 4, 1));
        let cases = [
            (
                "198.51.100.9",
                Some(("block_input", 4, "rampart: block list manual: source 198.51.100.9 is in set bl_manual_4 as 198.51.100.0/24  # scanner")),
            ),
            (
                "203.0.113.7",
                Some(("block_input", 3, "rampart: block list drop: source 203.0.113.7 is in set bl_drop_4 as 203.0.113.0/25")),
            ),
            (
                "203.0.113.200",
                Some(("block_input", 2, "rampart: timed ban: source 203.0.113.200 is in set ban_4 as 203.0.113.200, expires in 59m  # ssh brute force")),
            ),
            ("203.0.113.201", None),
            ("192.0.2.9", None),
        ];
        for (src, want) in cases {
            let t = trace(&r, src, "192.0.2.1", "eth0");
            let branch = &t.branches[0];
            match want {
                Some((chain, n, hint)) => {
                    assert_eq!(
                        branch.fate,
                        Fate::Dropped {
                            table: TableKind::Filter,
                            chain: chain.into(),
                            rule: Some(n)
                        },
                        "{src}\n{t}"
                    );
                    let hints: Vec<&str> = branch
                        .hints
                        .iter()
                        .filter(|h| h.kind == HintKind::SetMember)
                        .map(|h| h.text.as_str())
                        .collect();
                    assert_eq!(hints, [hint], "{src}");
                }
                None => assert!(branch.fate.passed(), "{src}\n{t}"),
            }
        }
        let t = trace(&r, "2001:db8:bad::7", "2001:db8::1", "eth0");
        assert_eq!(
            t.branches[0].hints[0].text,
            "rampart: block list manual: source 2001:db8:bad::7 is in set bl_manual_6 as 2001:db8:bad::/48  # v6 scanner"
        );
        // Loopback is never blocked, and the policy still decides it.
        let t = trace(&r, "198.51.100.9", "192.0.2.1", "lo");
        assert!(t.branches[0].fate.passed(), "{t}");
    }

    #[test]
    fn forwarded_packets_meet_the_forward_chain_and_the_policy_still_runs() {
        let mut r = policy();
        model().add_to(&mut r).unwrap();
        let host = Host::parse(
            "interface eth0 192.0.2.1/25\ninterface eth1 203.0.113.129/25\nforwarding yes",
        )
        .unwrap();
        let mut sim = Simulator::new(&r, host);
        let t = sim.run(&Packet::tcp("198.51.100.9", 40000, "203.0.113.130", 80).on("eth0"));
        assert_eq!(
            t.branches[0].fate,
            Fate::Dropped {
                table: TableKind::Filter,
                chain: "block_forward".into(),
                rule: Some(3)
            },
            "{t}"
        );
        // Not blocked: the block chain returns and the policy's DROP applies to udp.
        let mut sim = Simulator::new(&r, Host::parse("interface eth0 192.0.2.1/25").unwrap());
        let t = sim.run(&Packet::udp("192.0.2.9", 40000, "192.0.2.1", 53).on("eth0"));
        assert_eq!(
            t.branches[0].fate,
            Fate::Dropped {
                table: TableKind::Filter,
                chain: "INPUT".into(),
                rule: None
            },
            "{t}"
        );
    }

    #[test]
    fn the_chains_mirror_the_kernel_layout_rule_for_rule() {
        let mut r = Ruleset::default();
        let m = model();
        m.add_to(&mut r).unwrap();
        let comments = |rules: &[Rule]| -> Vec<String> {
            rules
                .iter()
                .filter_map(|r| {
                    r.spec.matches.iter().find_map(|m| match m {
                        Match::Comment(c) => Some(c.clone()),
                        _ => None,
                    })
                })
                .collect()
        };
        // Every kernel table's input (forward) chain against the model's block_input
        // (block_forward): the same rules, by their comments.
        for (hook_chain, model_chain) in [("input", "block_input"), ("forward", "block_forward")] {
            let mut model_comments = Vec::new();
            for family in [Family::Ipv4, Family::Ipv6] {
                let t = r.table(family, TableKind::Filter).unwrap();
                let c = t.chain(model_chain).unwrap();
                model_comments.extend(comments(&c.rules));
            }
            let mut kernel_comments: Vec<String> = m
                .layout()
                .tables()
                .iter()
                .filter_map(|t| t.chain(hook_chain))
                .flat_map(|c| c.rules.iter().filter_map(|r| r.comment.clone()))
                .collect();
            model_comments.sort();
            model_comments.dedup();
            kernel_comments.sort();
            kernel_comments.dedup();
            assert_eq!(model_comments, kernel_comments, "{model_chain}");
        }
        assert_eq!(r.sets.len(), m.layout().drop_rules().len());
        assert!(matches!(
            m.add_to(&mut r),
            Err(Error::NameTaken(what)) if what == "set ban_4"
        ));
    }

    /// A 200k-entry list: one prepared set, lookups by prefix length (no scan).
    #[test]
    fn a_list_of_200k_prefixes() {
        let base = u128::from("2001:db8:1::".parse::<std::net::Ipv6Addr>().unwrap());
        let addr = |i: u32| IpAddr::V6(std::net::Ipv6Addr::from(base + u128::from(i)));
        // Every other address, so that nothing aggregates.
        let set = (0..200_000u32).map(|i| Prefix::host(addr(2 * i))).collect();
        let big = List::from_set(ListName::new("big").unwrap(), set);
        assert_eq!(big.len(), 200_000);
        let m = BlockModel::new(vec![big], &Bans::default(), NOW);
        let mut r = policy();
        m.add_to(&mut r).unwrap();
        let host = Host::parse("interface eth0 2001:db8::1/64").unwrap();
        let mut sim = Simulator::new(&r, host);
        for i in 0..1000u32 {
            let src = addr(i).to_string();
            let t = sim.run(&Packet::tcp(&src, 40000, "2001:db8::1", 22).on("eth0"));
            assert_eq!(t.branches[0].fate.passed(), i % 2 == 1, "{src}");
        }
    }
}
