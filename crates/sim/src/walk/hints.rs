//! Hints: what an experienced admin would point out about a branch's outcome, computed
//! from the host and the fate at the end of a walk.

use std::net::IpAddr;

use rampart_prefix::Prefix;
use rampart_ruleset::{rule_args, Action, Match, Policy, SetDir, TableKind, Target};

use super::Walk;
use crate::classify::next_set;
use crate::explain::describe;
use crate::host::Host;
use crate::matcher::Test;
use crate::trace::{Event, Fate, Hint, HintKind, Hook, Stage};

/// nat misses listed in a "not NATed" hint before "and N more".
const MAX_MISSES_LISTED: usize = 3;

/// Most failing tests a rule may have to be named as the nearest miss of a DROP policy.
const MAX_NEAREST_FAILING: usize = 3;

/// A candidate for the nearest miss of a DROP policy.
struct Nearest {
    failing: Vec<Test>,
    passed: usize,
    rule: usize,
}

impl Nearest {
    /// Whether the protocol is among the failing tests.
    fn other_protocol(&self) -> bool {
        self.failing.contains(&Test::Protocol)
    }

    /// Smaller is nearer: fewest failing tests, then this protocol, then most tests
    /// agreeing with the packet, then the first rule.
    fn key(&self) -> (usize, bool, std::cmp::Reverse<usize>, usize) {
        (
            self.failing.len(),
            self.other_protocol(),
            std::cmp::Reverse(self.passed),
            self.rule,
        )
    }
}

impl Walk<'_, '_> {
    pub(super) fn hints(&self, fate: &Fate) -> Vec<Hint> {
        let mut hints = Vec::new();
        match fate {
            Fate::Forwarded { out_iface, src, .. } | Fate::SentOut { out_iface, src, .. } => {
                let forwarded = matches!(fate, Fate::Forwarded { .. });
                if let Some(h) = self.snat_foreign(out_iface, *src) {
                    hints.push(h);
                }
                if forwarded {
                    if let Some(h) = self.not_natted(out_iface, *src) {
                        hints.push(h);
                    }
                    if let Some(h) = self.hairpin(out_iface, *src) {
                        hints.push(h);
                    }
                }
            }
            Fate::Dropped {
                table,
                chain,
                rule: None,
            } => hints.push(self.policy_drop(*table, chain)),
            Fate::Dropped {
                table,
                chain,
                rule: Some(n),
            }
            | Fate::Rejected {
                table,
                chain,
                rule: Some(n),
                ..
            } => hints.extend(self.set_members(*table, chain, *n)),
            _ => {}
        }
        hints
    }

    /// SNAT to an address the host does not own.
    fn snat_foreign(&self, out_iface: &str, src: IpAddr) -> Option<Hint> {
        if src == self.ct.orig.src || self.host.is_local(src) {
            return None;
        }
        let kind = self
            .steps
            .iter()
            .rev()
            .find_map(|s| match &s.event {
                Event::Nat { kind, .. } if s.stage != Stage::Hook(Hook::Prerouting) => {
                    Some(kind.to_string())
                }
                _ => None,
            })
            .unwrap_or_else(|| "SNAT".to_string());
        let own = self
            .host
            .primary_addr(out_iface, self.family)
            .map(|a| format!(" ({out_iface} has {a})"))
            .unwrap_or_default();
        let on_link = self
            .host
            .interface(out_iface)
            .is_some_and(|i| i.addrs.iter().any(|a| a.network().contains(src)));
        let consequence = if on_link {
            format!("replies will go to whoever owns {src}, not here")
        } else {
            format!(
                "replies reach this host only if the network beyond {out_iface} routes {src} to it"
            )
        };
        Some(Hint {
            kind: HintKind::SnatForeignAddress,
            text: format!(
                "{kind} sets source {src}, which is not an address of this host{own}: {consequence}"
            ),
        })
    }

    /// Forwarded towards the default route with a source from another interface's network,
    /// unchanged.
    fn not_natted(&self, out_iface: &str, src: IpAddr) -> Option<Hint> {
        if src != self.ct.orig.src || !carries_default(self.host, out_iface, src) {
            return None;
        }
        let lan = connected_elsewhere(self.host, out_iface, src)?;
        let why = if self.nat_post_walked {
            let accepted = self.steps.iter().find(|s| {
                s.stage == Stage::Hook(Hook::Postrouting)
                    && s.table == Some(TableKind::Nat)
                    && s.rule.is_some()
                    && matches!(s.event, Event::Accept)
            });
            match accepted {
                Some(s) => format!(
                    "nat:{}:{} accepted it before any source NAT",
                    s.chain.as_deref().unwrap_or("POSTROUTING"),
                    s.rule.unwrap_or(0)
                ),
                None => {
                    let misses: Vec<String> = self
                        .nat_misses
                        .iter()
                        .filter(|m| m.nat_like)
                        .map(|m| format!("{} `{}`: {}", m.place, m.rule_text, m.reason))
                        .collect();
                    let mut text = "no nat POSTROUTING rule matched".to_string();
                    if !misses.is_empty() {
                        let shown = misses.len().min(MAX_MISSES_LISTED);
                        text.push_str(&format!(" ({}", misses[..shown].join("; ")));
                        if misses.len() > shown {
                            text.push_str(&format!("; and {} more", misses.len() - shown));
                        }
                        text.push(')');
                    }
                    text
                }
            }
        } else if self.c.table(self.family, TableKind::Nat).is_some() {
            "its connection was set up without source NAT".to_string()
        } else {
            "there is no nat table".to_string()
        };
        Some(Hint {
            kind: HintKind::NotNatted,
            text: format!(
                "forwarded out {out_iface} with source {src} unchanged (not NATed): {why}; \
                 replies reach this host only if the outside routes {lan} to it \
                 — add SNAT/MASQUERADE for -o {out_iface}"
            ),
        })
    }

    /// DNAT back out the arrival interface, source unchanged and on that link.
    fn hairpin(&self, out_iface: &str, src: IpAddr) -> Option<Hint> {
        if self.in_iface != out_iface || self.dst == self.ct.orig.dst || src != self.ct.orig.src {
            return None;
        }
        let on_link = self
            .host
            .interface(out_iface)
            .is_some_and(|i| i.addrs.iter().any(|a| a.network().contains(src)));
        if !on_link {
            return None;
        }
        Some(Hint {
            kind: HintKind::Hairpin,
            text: format!(
                "DNAT to {} sends it back out {out_iface}, where it came from, with source {src} \
                 unchanged: the server answers {src} directly, the reply bypasses this host's \
                 reverse NAT and the client drops it — add SNAT/MASQUERADE for -o {out_iface} \
                 -d {} (hairpin NAT)",
                self.dst, self.dst
            ),
        })
    }

    /// The set entries that made rule `n` of `table:chain` match: which stored network
    /// (with its comment and, for a timed entry, the time left) holds the packet's
    /// address. Led by the rule's comment, which says what the set is for (`rampart:
    /// block list manual`).
    fn set_members(&self, table: TableKind, chain: &str, n: usize) -> Vec<Hint> {
        let c = self.c;
        let Some(rule) = c
            .table(self.family, table)
            .and_then(|ti| Some(&c.ruleset.tables[ti].chains[c.chain(ti, chain)?]))
            .and_then(|ch| ch.rules.get(n.checked_sub(1)?))
        else {
            return Vec::new();
        };
        let why = rule.spec.matches.iter().find_map(|m| match m {
            Match::Comment(text) => Some(text.as_str()),
            _ => None,
        });
        let mut hints = Vec::new();
        for m in &rule.spec.matches {
            let Match::Set(sm) = m else { continue };
            if sm.negated || sm.dirs.len() != 1 {
                continue;
            }
            let (dir, addr) = match sm.dirs[0] {
                SetDir::Src => ("source", self.src),
                SetDir::Dst => ("destination", self.dst),
            };
            let Some(entry) = c
                .sets
                .get(&sm.name)
                .and_then(|p| p.entry_of(addr))
                .and_then(|i| c.ruleset.set(&sm.name)?.entries.get(i))
            else {
                continue;
            };
            let Some(net) = entry.addr else { continue };
            let mut text = String::new();
            if let Some(why) = why {
                text.push_str(&format!("{why}: "));
            }
            let net = if net.len() == rampart_prefix::width(net.addr()) {
                net.addr().to_string()
            } else {
                net.to_string()
            };
            text.push_str(&format!("{dir} {addr} is in set {} as {net}", sm.name));
            if let Some(secs) = entry.timeout.filter(|s| *s > 0) {
                text.push_str(&format!(", expires in {}", duration(secs)));
            }
            if let Some(comment) = &entry.comment {
                text.push_str(&format!("  # {comment}"));
            }
            hints.push(Hint {
                kind: HintKind::SetMember,
                text,
            });
        }
        hints
    }

    /// A built-in chain's DROP policy, with the nearest ACCEPT rule.
    fn policy_drop(&self, table: TableKind, chain: &str) -> Hint {
        let place = format!("{table}:{chain}");
        let mut text = format!(
            "no rule in {place} accepted it; the policy is {}",
            Policy::Drop.name()
        );
        let c = self.c;
        let rules = c
            .table(self.family, table)
            .and_then(|ti| Some((ti, c.chain(ti, chain)?)));
        if let Some((ti, ci)) = rules {
            let ch = &c.ruleset.tables[ti].chains[ci];
            if ch.rules.is_empty() {
                text = format!(
                    "{place} has no rules and its policy is {}",
                    Policy::Drop.name()
                );
            }
            // The nearest miss: fewest failing tests, then most tests agreeing with the
            // packet, then the first. A rule whose single test fails and that shares
            // nothing with the packet (`-i lo`, `--state ESTABLISHED`) is not near
            // anything; nor is one failing more than a few tests. On a tie, a rule for
            // another protocol is farther than one for this protocol with another port:
            // ping is not the near miss of an ssh SYN.
            let accepts =
                |i: &usize| matches!(ch.rules[*i].spec.action, Some(Action::Jump(Target::Accept)));
            let mut best: Option<Nearest> = None;
            let offer = |best: &mut Option<Nearest>, i: usize| {
                let (failing, passed) = self.failing(ti, ci, i);
                if failing.is_empty()
                    || failing.len() > MAX_NEAREST_FAILING
                    || (failing.len() == 1 && passed == 0)
                {
                    return;
                }
                let near = Nearest {
                    failing,
                    passed,
                    rule: i,
                };
                if best.as_ref().is_none_or(|b| near.key() < b.key()) {
                    *best = Some(near);
                }
            };
            // With the classifier's tables, rules are tried by a lower bound of their
            // failing tests, and a rule is passed over when its bounds show it cannot
            // beat the best so far: a few rules instead of every ACCEPT rule, the same
            // answer.
            let index = self.index.filter(|x| x.fits(self.sport, self.dport));
            let levels = index.map(|x| x.miss_levels(ti, ci, &self.query(), MAX_NEAREST_FAILING));
            match index.zip(levels) {
                Some((index, levels)) => {
                    for (level, rules) in levels.iter().enumerate() {
                        if best.as_ref().is_some_and(|b| b.failing.len() < level) {
                            break;
                        }
                        let mut at = 0;
                        while let Some(i) = next_set(rules, at) {
                            at = i + 1;
                            let most_passed = index.test_count(ti, ci, i).saturating_sub(level);
                            let beaten = best.as_ref().is_some_and(|b| {
                                level >= b.failing.len()
                                    && !b.other_protocol()
                                    && (most_passed, b.rule) <= (b.passed, i)
                            });
                            if !beaten && accepts(&i) {
                                offer(&mut best, i);
                            }
                        }
                    }
                }
                None => (0..ch.rules.len())
                    .filter(accepts)
                    .for_each(|i| offer(&mut best, i)),
            }
            let nearest = best.map(|b| (b.rule, &ch.rules[b.rule], b.failing));
            if let Some((i, r, failing)) = nearest {
                let ctx = self.ctx((ti, ci, i));
                let reasons: Vec<String> = failing
                    .iter()
                    .map(|t| describe(&r.spec, *t, &ctx))
                    .collect();
                let rule = format!("{place}:{} `{}`", i + 1, rule_args(&r.spec));
                if reasons.len() == 1 {
                    text.push_str(&format!(
                        "; {rule} would have accepted it but: {}",
                        reasons[0]
                    ));
                } else {
                    text.push_str(&format!(
                        "; the nearest ACCEPT rule, {rule}, fails {} tests: {}",
                        reasons.len(),
                        reasons.join("; ")
                    ));
                }
            }
        }
        Hint {
            kind: HintKind::PolicyDrop,
            text,
        }
    }
}

/// Seconds in words, the two largest units: `59m`, `1h 30m`, `2d 3h`, `45s`.
fn duration(secs: u32) -> String {
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut left = secs;
    for (size, name) in units {
        if left >= size && parts.len() < 2 {
            parts.push(format!("{}{name}", left / size));
            left %= size;
        } else if !parts.is_empty() {
            break;
        }
    }
    parts.join(" ")
}

/// Whether a default route of the address's family leaves by `iface`.
fn carries_default(host: &Host, iface: &str, addr: IpAddr) -> bool {
    host.routes
        .iter()
        .any(|r| r.dev == iface && r.dest.is_empty() && r.dest.addr().is_ipv4() == addr.is_ipv4())
}

/// The connected network of another interface that holds `addr`.
fn connected_elsewhere(host: &Host, iface: &str, addr: IpAddr) -> Option<Prefix> {
    host.interfaces
        .iter()
        .filter(|i| i.name != iface && i.name != "lo")
        .flat_map(|i| &i.addrs)
        .map(|a| a.network())
        .find(|n| n.contains(addr))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_in_words() {
        for (secs, text) in [
            (45, "45s"),
            (60, "1m"),
            (3_540, "59m"),
            (3_600, "1h"),
            (5_400, "1h 30m"),
            (3_601, "1h"),
            (183_600, "2d 3h"),
        ] {
            assert_eq!(super::duration(secs), text);
        }
    }
}
