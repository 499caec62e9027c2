//! iptables commands (`-A`, `-I`, `-D`, ...) as data, and their effect on a [`Ruleset`].
//!
//! Scripts and save files are both read as a sequence of [`Invocation`]s applied in order,
//! with the same checks the kernel makes (chains must exist, built-in chains cannot be
//! deleted, a user chain in use cannot be removed), so an error points at the command that
//! would have failed.

use crate::error::ErrorKind;
use crate::model::{
    Action, Chain, Counters, Family, Policy, Rule, RuleSpec, Ruleset, TableKind, Target,
};
use crate::span::Span;

/// One iptables/ip6tables command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `-A CHAIN rule`.
    Append {
        /// The chain.
        chain: String,
        /// The rule.
        rule: Rule,
    },
    /// `-I CHAIN [N] rule` (N is 1-based, default 1).
    Insert {
        /// The chain.
        chain: String,
        /// 1-based position.
        position: usize,
        /// The rule.
        rule: Rule,
    },
    /// `-D CHAIN rule` (deletes the first equal rule).
    DeleteSpec {
        /// The chain.
        chain: String,
        /// The rule to find.
        spec: RuleSpec,
    },
    /// `-D CHAIN N`.
    DeleteNum {
        /// The chain.
        chain: String,
        /// 1-based rule number.
        number: usize,
    },
    /// `-R CHAIN N rule`.
    Replace {
        /// The chain.
        chain: String,
        /// 1-based rule number.
        number: usize,
        /// The new rule.
        rule: Rule,
    },
    /// `-N CHAIN`.
    NewChain(String),
    /// `-X [CHAIN]`: one user chain, or every empty unreferenced user chain.
    DeleteChain(Option<String>),
    /// `-F [CHAIN]`.
    Flush(Option<String>),
    /// `-Z [CHAIN [N]]`.
    Zero(Option<String>, Option<usize>),
    /// `-P CHAIN POLICY` (with counters from a save file).
    Policy {
        /// The built-in chain.
        chain: String,
        /// The policy.
        policy: Policy,
        /// Policy counters.
        counters: Counters,
    },
    /// `-E OLD NEW`.
    Rename {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
}

/// A command with its family, table and place in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// iptables or ip6tables.
    pub family: Family,
    /// `-t` (default filter).
    pub table: TableKind,
    /// What to do.
    pub command: Command,
    /// The whole command's place.
    pub span: Span,
}

impl Ruleset {
    /// Applies one command as the kernel would, or explains why the kernel would refuse it.
    ///
    /// On error the ruleset is unchanged.
    pub fn apply(&mut self, inv: Invocation) -> Result<(), ErrorKind> {
        let table_name = inv.table.name().to_string();
        let referenced = |rs: &Ruleset, name: &str| -> bool {
            rs.table(inv.family, inv.table).is_some_and(|t| {
                t.chains
                    .iter()
                    .flat_map(|c| &c.rules)
                    .any(|r| targets_chain(&r.spec, name))
            })
        };
        match inv.command {
            Command::Append { chain, rule } => {
                self.check_target(inv.family, inv.table, &chain, &rule.spec)?;
                self.chain_mut(inv.family, inv.table, &chain)?
                    .rules
                    .push(rule);
            }
            Command::Insert {
                chain,
                position,
                rule,
            } => {
                self.check_target(inv.family, inv.table, &chain, &rule.spec)?;
                let c = self.chain_mut(inv.family, inv.table, &chain)?;
                if position == 0 || position > c.rules.len() + 1 {
                    return Err(ErrorKind::NoSuchRule(format!(
                        "cannot insert at {position}: chain {chain} has {} rules",
                        c.rules.len()
                    )));
                }
                c.rules.insert(position - 1, rule);
            }
            Command::DeleteSpec { chain, spec } => {
                let c = self.chain_mut(inv.family, inv.table, &chain)?;
                let index = c.rules.iter().position(|r| r.spec == spec).ok_or_else(|| {
                    ErrorKind::NoSuchRule(format!(
                        "no rule in {chain} matches the -D specification"
                    ))
                })?;
                c.rules.remove(index);
            }
            Command::DeleteNum { chain, number } => {
                let c = self.chain_mut(inv.family, inv.table, &chain)?;
                check_number(c, number)?;
                c.rules.remove(number - 1);
            }
            Command::Replace {
                chain,
                number,
                rule,
            } => {
                self.check_target(inv.family, inv.table, &chain, &rule.spec)?;
                let c = self.chain_mut(inv.family, inv.table, &chain)?;
                check_number(c, number)?;
                c.rules[number - 1] = rule;
            }
            Command::NewChain(name) => {
                let table = self.table_mut(inv.family, inv.table);
                if table.chain(&name).is_some() {
                    return Err(ErrorKind::ChainExists(name));
                }
                table.add_chain(Chain {
                    name,
                    policy: None,
                    counters: Counters::default(),
                    rules: Vec::new(),
                });
            }
            Command::DeleteChain(Some(name)) => {
                let table = self.table_mut(inv.family, inv.table);
                let chain = table.chain(&name).ok_or_else(|| ErrorKind::NoSuchChain {
                    table: table_name.clone(),
                    chain: name.clone(),
                })?;
                if chain.is_builtin() {
                    return Err(ErrorKind::BuiltinChain(name));
                }
                if !chain.rules.is_empty() || referenced(self, &name) {
                    return Err(ErrorKind::ChainInUse(name));
                }
                self.table_mut(inv.family, inv.table)
                    .chains
                    .retain(|c| c.name != name);
            }
            Command::DeleteChain(None) => {
                let table = self.table_mut(inv.family, inv.table);
                let busy: Vec<String> = table
                    .chains
                    .iter()
                    .filter(|c| !c.is_builtin())
                    .filter(|c| {
                        !c.rules.is_empty()
                            || table
                                .chains
                                .iter()
                                .flat_map(|o| &o.rules)
                                .any(|r| targets_chain(&r.spec, &c.name))
                    })
                    .map(|c| c.name.clone())
                    .collect();
                if let Some(name) = busy.into_iter().next() {
                    return Err(ErrorKind::ChainInUse(name));
                }
                table.chains.retain(|c| c.is_builtin());
            }
            Command::Flush(None) => {
                for c in &mut self.table_mut(inv.family, inv.table).chains {
                    c.rules.clear();
                }
            }
            Command::Flush(Some(name)) => {
                self.chain_mut(inv.family, inv.table, &name)?.rules.clear();
            }
            Command::Zero(None, _) => {
                for c in &mut self.table_mut(inv.family, inv.table).chains {
                    c.counters = Counters::default();
                    for r in &mut c.rules {
                        r.counters = Counters::default();
                    }
                }
            }
            Command::Zero(Some(name), number) => {
                let c = self.chain_mut(inv.family, inv.table, &name)?;
                match number {
                    Some(n) => {
                        check_number(c, n)?;
                        c.rules[n - 1].counters = Counters::default();
                    }
                    None => {
                        c.counters = Counters::default();
                        for r in &mut c.rules {
                            r.counters = Counters::default();
                        }
                    }
                }
            }
            Command::Policy {
                chain,
                policy,
                counters,
            } => {
                let c = self.chain_mut(inv.family, inv.table, &chain)?;
                if !c.is_builtin() {
                    return Err(ErrorKind::BadValue {
                        option: "-P".into(),
                        value: chain,
                        reason: "only built-in chains have a policy".into(),
                    });
                }
                c.policy = Some(policy);
                c.counters = counters;
            }
            Command::Rename { old, new } => {
                let table = self.table_mut(inv.family, inv.table);
                if table.chain(&new).is_some() {
                    return Err(ErrorKind::ChainExists(new));
                }
                let chain = table
                    .chain_mut(&old)
                    .ok_or_else(|| ErrorKind::NoSuchChain {
                        table: table_name.clone(),
                        chain: old.clone(),
                    })?;
                if chain.is_builtin() {
                    return Err(ErrorKind::BuiltinChain(old));
                }
                chain.name = new.clone();
                for r in table.chains.iter_mut().flat_map(|c| &mut c.rules) {
                    match &mut r.spec.action {
                        Some(Action::Goto(name)) | Some(Action::Jump(Target::Chain(name)))
                            if *name == old =>
                        {
                            *name = new.clone()
                        }
                        _ => {}
                    }
                }
                // Back to its place in name order.
                let at = table.chains.iter().position(|c| c.name == new);
                if let Some(at) = at {
                    let chain = table.chains.remove(at);
                    table.add_chain(chain);
                }
            }
        }
        Ok(())
    }

    fn chain_mut(
        &mut self,
        family: Family,
        table: TableKind,
        chain: &str,
    ) -> Result<&mut Chain, ErrorKind> {
        self.table_mut(family, table)
            .chain_mut(chain)
            .ok_or_else(|| ErrorKind::NoSuchChain {
                table: table.name().to_string(),
                chain: chain.to_string(),
            })
    }

    /// Checks what the kernel checks when a rule is added: the jump target exists and the
    /// target is allowed in this table and chain.
    fn check_target(
        &mut self,
        family: Family,
        table: TableKind,
        chain: &str,
        spec: &RuleSpec,
    ) -> Result<(), ErrorKind> {
        let jump_to = match &spec.action {
            Some(Action::Goto(name)) | Some(Action::Jump(Target::Chain(name))) => Some(name),
            _ => None,
        };
        if let Some(name) = jump_to {
            let t = self.table_mut(family, table);
            match t.chain(name) {
                None => {
                    return Err(ErrorKind::NoSuchChain {
                        table: table.name().to_string(),
                        chain: name.clone(),
                    })
                }
                Some(c) if c.is_builtin() => return Err(ErrorKind::BuiltinChain(name.clone())),
                Some(_) => {}
            }
        }
        if let Some(Action::Jump(target)) = &spec.action {
            if let Some(allowed) = allowed_chains(target, table) {
                // User chains are checked when reached; the kernel checks hooks reachable
                // from them, which the simulator reports instead.
                let builtin = table.builtin_chains().contains(&chain);
                if builtin && !allowed.contains(&chain) {
                    return Err(ErrorKind::TargetNotAllowed {
                        target: target_name(target).to_string(),
                        table: table.name().to_string(),
                        chain: chain.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The built-in chains a table-restricted target may be used from; `None` when unrestricted.
fn allowed_chains(target: &Target, table: TableKind) -> Option<&'static [&'static str]> {
    let nat_only = |chains: &'static [&'static str]| {
        Some(if table == TableKind::Nat {
            chains
        } else {
            &[][..]
        })
    };
    match target {
        Target::Snat(_) => nat_only(&["POSTROUTING", "INPUT"]),
        Target::Masquerade(_) => nat_only(&["POSTROUTING"]),
        Target::Dnat(_) | Target::Redirect(_) => nat_only(&["PREROUTING", "OUTPUT"]),
        Target::Notrack | Target::Trace | Target::NotrackAlias | Target::Ct(_) => {
            Some(if table == TableKind::Raw {
                &["PREROUTING", "OUTPUT"][..]
            } else {
                &[][..]
            })
        }
        // Hooks of the kernel's xt_* targets (their `.hooks`), checked whatever the table.
        Target::Tcpmss(crate::model::TcpmssTarget { mss: None }) | Target::Classify(_) => {
            Some(&["FORWARD", "OUTPUT", "POSTROUTING"][..])
        }
        Target::Synproxy(_) => Some(&["INPUT", "FORWARD"][..]),
        Target::Tproxy(_) => Some(&["PREROUTING"][..]),
        Target::Dnpt(_) => Some(&["PREROUTING", "OUTPUT"][..]),
        Target::Snpt(_) => Some(&["INPUT", "POSTROUTING"][..]),
        _ => None,
    }
}

/// The iptables name of a target, for messages.
pub fn target_name(target: &Target) -> &str {
    match target {
        Target::Accept => "ACCEPT",
        Target::Drop => "DROP",
        Target::Return => "RETURN",
        Target::Reject(_) => "REJECT",
        Target::Log(_) => "LOG",
        Target::Chain(name) => name,
        Target::Snat(_) => "SNAT",
        Target::Dnat(_) => "DNAT",
        Target::Masquerade(_) => "MASQUERADE",
        Target::Redirect(_) => "REDIRECT",
        Target::Mark(_) => "MARK",
        Target::Connmark(_) => "CONNMARK",
        Target::Notrack => "CT",
        Target::Trace => "TRACE",
        Target::Set(_) => "SET",
        Target::Nflog(_) => "NFLOG",
        Target::NotrackAlias => "NOTRACK",
        Target::Tcpmss(_) => "TCPMSS",
        Target::Ttl(_) => "TTL",
        Target::Hl(_) => "HL",
        Target::Dscp(_) => "DSCP",
        Target::Tos(_) => "TOS",
        Target::Classify(_) => "CLASSIFY",
        Target::Netmap(_) => "NETMAP",
        Target::Tproxy(_) => "TPROXY",
        Target::Synproxy(_) => "SYNPROXY",
        Target::Checksum => "CHECKSUM",
        Target::Audit(_) => "AUDIT",
        Target::Tee(_) => "TEE",
        Target::Nfqueue(_) => "NFQUEUE",
        Target::Ct(_) => "CT",
        Target::Tcpoptstrip(_) => "TCPOPTSTRIP",
        Target::Connsecmark(_) => "CONNSECMARK",
        Target::Secmark(_) => "SECMARK",
        Target::Idletimer(_) => "IDLETIMER",
        Target::Rateest(_) => "RATEEST",
        Target::Hmark(_) => "HMARK",
        Target::Dnpt(_) => "DNPT",
        Target::Snpt(_) => "SNPT",
        Target::Ecn(_) => "ECN",
        Target::Led(_) => "LED",
        Target::SetCombined(_) => "SET",
    }
}

fn targets_chain(spec: &RuleSpec, name: &str) -> bool {
    matches!(&spec.action,
        Some(Action::Goto(n)) | Some(Action::Jump(Target::Chain(n))) if n == name)
}

fn check_number(chain: &Chain, number: usize) -> Result<(), ErrorKind> {
    if number == 0 || number > chain.rules.len() {
        return Err(ErrorKind::NoSuchRule(format!(
            "rule {number} in chain {} (it has {} rules)",
            chain.name,
            chain.rules.len()
        )));
    }
    Ok(())
}
