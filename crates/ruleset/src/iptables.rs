//! iptables/ip6tables argument vectors → [`Invocation`].
//!
//! One pass over the words, as iptables' own getopt loop does: command options (`-A`,
//! `-I`, ...), rule options (`-s`, `-p`, `-j`, ...) and extension options in any order.
//! Extension options are looked up in option tables ([`OptSpec`]) of the loaded modules
//! and the target, so arity, negation and duplicate checks live in one place; each module
//! then turns its options into the canonical model (see [`matches`], [`targets`]).
mod matches;
mod matches_more;
mod opaque;
mod targets;
mod targets_more;
mod values;

use crate::command::{Command, Invocation};
use crate::error::{ErrorKind, ParseError};
use crate::lex::Word;
use crate::model::{
    Action, AddrMaskMatch, Counters, Family, Interface, Match, Neg, Policy, Protocol, Rule,
    RuleSpec, TableKind,
};
use crate::span::{Source, Span};

pub(crate) use matches::module_family;
use matches::Module;
pub(crate) use matches_more::{SCTP_CHUNKS, WEEKDAYS};
pub(crate) use opaque::refusal as opaque_refusal;
use targets::TargetDraft;

/// One option of a module or target: its names (first is the key), how many values it
/// takes, and whether `!` may precede it.
#[derive(Debug, Clone, Copy)]
pub(super) struct OptSpec {
    names: &'static [&'static str],
    args: usize,
    negatable: bool,
}

fn find_spec(specs: &'static [OptSpec], name: &str) -> Option<&'static OptSpec> {
    specs.iter().find(|s| s.names.contains(&name))
}

fn spec_names(specs: &[OptSpec]) -> String {
    let names: Vec<&str> = specs.iter().flat_map(|s| s.names.iter().copied()).collect();
    names.join(", ")
}

/// Parses the arguments of one iptables or ip6tables command, without the program name
/// (`words[0]` is the first option, e.g. `-A`). The table is `-t` or `filter`. Comma
/// lists in `-s`/`-d` give one invocation per combination, as iptables does.
pub fn parse_args(
    source: &Source,
    words: &[Word],
    family: Family,
) -> Result<Vec<Invocation>, ParseError> {
    parse_in_table(source, words, family, None)
}

/// [`parse_args`] for a rule of an iptables-save file, whose table comes from `*table`
/// (`-t` is then an error, as in iptables-restore).
pub(crate) fn parse_in_table(
    source: &Source,
    words: &[Word],
    family: Family,
    table: Option<TableKind>,
) -> Result<Vec<Invocation>, ParseError> {
    let mut parser = Parser::new(source, words, family, table);
    parser.run()?;
    parser.build()
}

/// What a rule's module and target checks need to know about the rule.
pub(super) struct RuleCtx<'a> {
    source: &'a Source,
    family: Family,
    table: TableKind,
    chain: Option<String>,
    protocol: Option<Neg<Protocol>>,
}

impl RuleCtx<'_> {
    fn error(&self, word: &Word, kind: ErrorKind) -> ParseError {
        ParseError::new(self.source, word.span, kind)
    }

    fn bad(&self, opt: &Word, arg: &Word, reason: impl Into<String>) -> ParseError {
        let kind = ErrorKind::BadValue {
            option: opt.text.clone(),
            value: arg.text.clone(),
            reason: reason.into(),
        };
        self.error(arg, kind)
    }

    /// Parses `arg` with `f`, turning a failure into a BadValue at `arg`.
    fn value<T>(
        &self,
        opt: &Word,
        arg: &Word,
        f: impl FnOnce(&str) -> values::ValueResult<T>,
    ) -> Result<T, ParseError> {
        f(&arg.text).map_err(|reason| self.bad(opt, arg, reason))
    }

    /// The rule must have `-p` with one of `protos`, not negated.
    fn need_protocol(
        &self,
        word: &Word,
        what: &str,
        protos: &[Protocol],
        name: &str,
    ) -> Result<(), ParseError> {
        match &self.protocol {
            Some(p) if !p.negated && protos.contains(&p.value) => Ok(()),
            _ => Err(self
                .error(
                    word,
                    ErrorKind::NeedsProtocol {
                        what: what.to_string(),
                        protocol: name.to_string(),
                    },
                )
                .with_hint(format!("add `-p {name}` before it"))),
        }
    }

    /// Port translation needs a protocol with ports.
    fn need_ports(&self, word: &Word, what: &str) -> Result<(), ParseError> {
        let ported = [6, 17, 132, 136, 33].map(Protocol);
        self.need_protocol(word, what, &ported, "tcp` or `-p udp")
    }

    /// Refuses `what` in a built-in chain other than `chains` (user chains are checked
    /// by the kernel when reached, which rampart reports elsewhere).
    fn only_in_chains(&self, word: &Word, what: &str, chains: &[&str]) -> Result<(), ParseError> {
        let Some(chain) = &self.chain else {
            return Ok(());
        };
        let builtin = self.table.builtin_chains().contains(&chain.as_str());
        if builtin && !chains.contains(&chain.as_str()) {
            return Err(self
                .error(
                    word,
                    ErrorKind::NotInChain {
                        option: what.to_string(),
                        chain: chain.clone(),
                    },
                )
                .with_hint(format!("allowed in {}", chains.join(", "))));
        }
        Ok(())
    }
}

/// iptables' own long options with the option each belongs to (aliases share it), for
/// getopt's abbreviations.
const CORE_LONG: &[(&str, &str)] = &[
    ("--append", "--append"),
    ("--check", "--check"),
    ("--delete", "--delete"),
    ("--insert", "--insert"),
    ("--replace", "--replace"),
    ("--list", "--list"),
    ("--list-rules", "--list-rules"),
    ("--flush", "--flush"),
    ("--zero", "--zero"),
    ("--new-chain", "--new-chain"),
    ("--delete-chain", "--delete-chain"),
    ("--policy", "--policy"),
    ("--rename-chain", "--rename-chain"),
    ("--source", "--source"),
    ("--src", "--source"),
    ("--destination", "--destination"),
    ("--dst", "--destination"),
    ("--protocol", "--protocol"),
    ("--in-interface", "--in-interface"),
    ("--out-interface", "--out-interface"),
    ("--jump", "--jump"),
    ("--goto", "--goto"),
    ("--match", "--match"),
    ("--table", "--table"),
    ("--numeric", "--numeric"),
    ("--verbose", "--verbose"),
    ("--version", "--version"),
    ("--exact", "--exact"),
    ("--fragment", "--fragment"),
    ("--help", "--help"),
    ("--line-numbers", "--line-numbers"),
    ("--modprobe", "--modprobe"),
    ("--set-counters", "--set-counters"),
    ("--wait", "--wait"),
    ("--wait-interval", "--wait-interval"),
    ("--ipv4", "--ipv4"),
    ("--ipv6", "--ipv6"),
];

/// The command part of an invocation, before the rule is known.
#[derive(Debug)]
enum Cmd {
    Append(String),
    Insert(String, usize),
    Delete(String, Option<usize>),
    Replace(String, usize),
    New(String),
    DeleteChain(Option<String>),
    Flush(Option<String>),
    Zero(Option<String>, Option<usize>),
    Policy(String, Policy),
    Rename(String, String),
    ReadOnly,
}

impl Cmd {
    fn takes_rule(&self) -> bool {
        matches!(
            self,
            Cmd::Append(_) | Cmd::Insert(..) | Cmd::Delete(_, None) | Cmd::Replace(..)
        )
    }

    fn chain(&self) -> Option<&str> {
        match self {
            Cmd::Append(c) | Cmd::Insert(c, _) | Cmd::Delete(c, _) | Cmd::Replace(c, _) => Some(c),
            _ => None,
        }
    }
}

/// Who an extension option belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Module(usize),
    Target,
}

struct Parser<'a> {
    source: &'a Source,
    words: &'a [Word],
    pos: usize,
    family: Family,
    fixed_table: Option<TableKind>,
    table: Option<TableKind>,
    cmd: Option<(Cmd, Word)>,
    sources: Option<Neg<Vec<values::AddrItem>>>,
    destinations: Option<Neg<Vec<values::AddrItem>>>,
    in_interface: Option<Neg<Interface>>,
    out_interface: Option<Neg<Interface>>,
    protocol: Option<Option<Neg<Protocol>>>,
    fragment: Option<bool>,
    modules: Vec<Module>,
    target: Option<TargetDraft>,
    goto: Option<String>,
    counters: Option<Counters>,
    /// The module or target the latest extension option went to: options are looked up
    /// there first, as they follow their `-m`/`-j`.
    context: Option<Owner>,
    /// First rule option, for "option not allowed with this command".
    first_rule_word: Option<Word>,
}

impl<'a> Parser<'a> {
    fn new(
        source: &'a Source,
        words: &'a [Word],
        family: Family,
        fixed_table: Option<TableKind>,
    ) -> Parser<'a> {
        Parser {
            source,
            words,
            pos: 0,
            family,
            fixed_table,
            table: None,
            cmd: None,
            sources: None,
            destinations: None,
            in_interface: None,
            out_interface: None,
            protocol: None,
            fragment: None,
            modules: Vec::new(),
            target: None,
            goto: None,
            counters: None,
            context: None,
            first_rule_word: None,
        }
    }

    fn error(&self, word: &Word, kind: ErrorKind) -> ParseError {
        ParseError::new(self.source, word.span, kind)
    }

    fn ctx(&self) -> RuleCtx<'a> {
        RuleCtx {
            source: self.source,
            family: self.family,
            table: self.table(),
            chain: self
                .cmd
                .as_ref()
                .and_then(|(c, _)| c.chain())
                .map(str::to_string),
            protocol: self.protocol.clone().flatten(),
        }
    }

    fn table(&self) -> TableKind {
        self.table.or(self.fixed_table).unwrap_or(TableKind::Filter)
    }

    fn next(&mut self) -> Option<&'a Word> {
        let w = self.words.get(self.pos)?;
        self.pos += 1;
        Some(w)
    }

    fn peek(&self) -> Option<&Word> {
        self.words.get(self.pos)
    }

    /// The value of `opt`; `!` here is the old `-s ! x` form iptables no longer accepts.
    fn value(&mut self, opt: &Word) -> Result<&'a Word, ParseError> {
        let Some(v) = self.next() else {
            return Err(self.error(opt, ErrorKind::MissingValue(opt.text.clone())));
        };
        if v.text == "!" {
            return Err(self
                .error(
                    v,
                    ErrorKind::BadNegation(format!("`!` after `{}`", opt.text)),
                )
                .with_hint(format!("put `!` before the option: `! {} VALUE`", opt.text)));
        }
        Ok(v)
    }

    /// An optional argument: the next word when it does not look like an option.
    fn optional(&mut self, number: bool) -> Option<&'a Word> {
        let w = self.peek()?;
        let fits = if number {
            !w.text.is_empty() && w.text.chars().all(|c| c.is_ascii_digit())
        } else {
            !w.text.starts_with('-') && w.text != "!"
        };
        if fits {
            self.next()
        } else {
            None
        }
    }

    fn rule_number(&self, opt: &Word, w: &Word) -> Result<usize, ParseError> {
        w.text
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                self.error(
                    w,
                    ErrorKind::BadValue {
                        option: opt.text.clone(),
                        value: w.text.clone(),
                        reason: "rule numbers start at 1".into(),
                    },
                )
            })
    }

    fn chain_name(&mut self, opt: &Word) -> Result<String, ParseError> {
        let w = self.value(opt)?;
        if w.text.starts_with('-') || w.text.len() > 28 || w.text.is_empty() {
            return Err(self.error(
                w,
                ErrorKind::BadValue {
                    option: opt.text.clone(),
                    value: w.text.clone(),
                    reason: "chain names are 1 to 28 characters and do not start with `-`".into(),
                },
            ));
        }
        Ok(w.text.clone())
    }

    fn run(&mut self) -> Result<(), ParseError> {
        let mut neg: Option<&Word> = None;
        while let Some(w) = self.next() {
            if w.text == "!" {
                if neg.is_some() {
                    return Err(self.error(w, ErrorKind::BadNegation("`!` given twice".into())));
                }
                neg = Some(w);
                continue;
            }
            let negated = neg.take();
            let used = self.word(w, negated.is_some())?;
            if let (Some(n), false) = (&negated, used) {
                return Err(self.error(
                    n,
                    ErrorKind::BadNegation(format!("`{}` cannot be negated", w.text)),
                ));
            }
        }
        if let Some(n) = neg {
            return Err(self.error(n, ErrorKind::BadNegation("nothing follows `!`".into())));
        }
        Ok(())
    }

    /// The full name of an unambiguous abbreviation of a long option (`--mac` for
    /// `--mac-source`), as getopt_long reads iptables' merged option table: its own
    /// options, the loaded modules', the target's and the protocol's implicit module's.
    /// `None` when `w` is a full name, no abbreviation or an ambiguous one.
    fn abbreviation(&self, w: &Word) -> Option<String> {
        let text = w.text.as_str();
        if !text.starts_with("--") || text.len() < 3 {
            return None;
        }
        if self.long_options().any(|(n, _)| n == text) {
            return None;
        }
        let mut hits = self.long_options().filter(|(n, _)| n.starts_with(text));
        let (name, id) = hits.next()?;
        hits.all(|(_, other)| other == id).then(|| name.to_string())
    }

    /// Every long option getopt would know here, with the option it belongs to (aliases
    /// share it): iptables' own, the loaded modules', the target's, the implicit module's.
    fn long_options(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        let specs = self
            .modules
            .iter()
            .map(|m| m.specs())
            .chain(self.target.iter().map(|t| t.specs()))
            .chain(self.implicit_module().and_then(matches::specs))
            .flat_map(|specs| specs.iter())
            .flat_map(|spec| spec.names.iter().map(move |n| (*n, spec.names[0])));
        CORE_LONG.iter().copied().chain(specs)
    }

    /// Handles one option word; returns whether a preceding `!` was used.
    fn word(&mut self, w: &Word, negated: bool) -> Result<bool, ParseError> {
        let full;
        let w = match self.abbreviation(w) {
            Some(name) => {
                full = Word {
                    text: name,
                    span: w.span,
                };
                &full
            }
            None => w,
        };
        if let Some(cmd) = self.command(w)? {
            if let Some((_, first)) = &self.cmd {
                return Err(self.error(w, ErrorKind::Conflict(first.text.clone(), w.text.clone())));
            }
            self.cmd = Some((cmd, w.clone()));
            return Ok(false);
        }
        match w.text.as_str() {
            "-t" | "--table" => {
                let v = self.value(w)?;
                if self.fixed_table.is_some() {
                    return Err(self
                        .error(w, ErrorKind::UnknownOption(w.text.clone()))
                        .with_hint("in a save file the table is given by its `*table` line"));
                }
                if self.table.is_some() {
                    return Err(self.error(w, ErrorKind::Duplicate(w.text.clone())));
                }
                let t = TableKind::from_name(&v.text).ok_or_else(|| {
                    self.error(v, ErrorKind::UnknownTable(v.text.clone()))
                        .with_hint("tables are raw, mangle, nat, filter and security")
                })?;
                self.table = Some(t);
                Ok(false)
            }
            "-w" | "--wait" => {
                self.optional(true);
                Ok(false)
            }
            "-W" | "--wait-interval" => {
                self.value(w)?;
                Ok(false)
            }
            "-v" | "--verbose" | "-n" | "--numeric" | "-x" | "--exact" | "--line-numbers" => {
                Ok(false)
            }
            "-c" | "--set-counters" => {
                let p = self.value(w)?;
                // `-c PKTS BYTES`, or `-c PKTS,BYTES` as iptables 1.8 also reads it.
                let (p, b) = match p.text.split_once(',') {
                    Some((pk, by)) => {
                        let part = |t: &str| Word {
                            text: t.to_string(),
                            span: p.span,
                        };
                        (part(pk), part(by))
                    }
                    None => (p.clone(), self.value(w)?.clone()),
                };
                let (p, b) = (&p, &b);
                let num = |x: &Word| RuleCtx::value(&self.ctx(), w, x, values::number);
                self.counters = Some(Counters {
                    packets: num(p)?,
                    bytes: num(b)?,
                });
                Ok(false)
            }
            _ => {
                self.first_rule_word.get_or_insert_with(|| w.clone());
                self.rule_option(w, negated)
            }
        }
    }

    /// Reads a command option and its arguments; `None` if `w` is not a command.
    fn command(&mut self, w: &Word) -> Result<Option<Cmd>, ParseError> {
        let cmd = match w.text.as_str() {
            "-A" | "--append" => Cmd::Append(self.chain_name(w)?),
            "-I" | "--insert" => {
                let chain = self.chain_name(w)?;
                let n = match self.optional(true) {
                    Some(n) => self.rule_number(w, n)?,
                    None => 1,
                };
                Cmd::Insert(chain, n)
            }
            "-D" | "--delete" => {
                let chain = self.chain_name(w)?;
                let n = match self.optional(true) {
                    Some(n) => Some(self.rule_number(w, n)?),
                    None => None,
                };
                Cmd::Delete(chain, n)
            }
            "-R" | "--replace" => {
                let chain = self.chain_name(w)?;
                let n = self.value(w)?;
                Cmd::Replace(chain, self.rule_number(w, n)?)
            }
            "-N" | "--new-chain" => Cmd::New(self.chain_name(w)?),
            "-X" | "--delete-chain" => {
                Cmd::DeleteChain(self.optional(false).map(|c| c.text.clone()))
            }
            "-F" | "--flush" => Cmd::Flush(self.optional(false).map(|c| c.text.clone())),
            "-Z" | "--zero" => {
                let chain = self.optional(false).map(|c| c.text.clone());
                let n = match chain.is_some().then(|| self.optional(true)).flatten() {
                    Some(n) => Some(self.rule_number(w, n)?),
                    None => None,
                };
                Cmd::Zero(chain, n)
            }
            "-P" | "--policy" => {
                let chain = self.chain_name(w)?;
                let p = self.value(w)?;
                let policy = match p.text.as_str() {
                    "ACCEPT" => Policy::Accept,
                    "DROP" => Policy::Drop,
                    _ => {
                        return Err(self.error(
                            p,
                            ErrorKind::BadValue {
                                option: w.text.clone(),
                                value: p.text.clone(),
                                reason: "a policy is ACCEPT or DROP".into(),
                            },
                        ))
                    }
                };
                Cmd::Policy(chain, policy)
            }
            "-E" | "--rename-chain" => {
                let old = self.chain_name(w)?;
                Cmd::Rename(old, self.chain_name(w)?)
            }
            "--list" | "--list-rules" => {
                self.skip_read_only_args();
                Cmd::ReadOnly
            }
            t if is_short_list(t) => {
                self.skip_read_only_args();
                Cmd::ReadOnly
            }
            _ => return Ok(None),
        };
        Ok(Some(cmd))
    }

    fn skip_read_only_args(&mut self) {
        if self.optional(false).is_some() {
            self.optional(true);
        }
    }

    /// `-s`, `-p`, `-j`, `-m`, ... and extension options; returns whether a preceding
    /// `!` applies (only to the negatable ones).
    fn rule_option(&mut self, w: &Word, negated: bool) -> Result<bool, ParseError> {
        match w.text.as_str() {
            "-s" | "--source" | "--src" => {
                let v = self.addresses(w, negated, self.sources.is_some())?;
                self.sources = Some(v);
            }
            "-d" | "--destination" | "--dst" => {
                let v = self.addresses(w, negated, self.destinations.is_some())?;
                self.destinations = Some(v);
            }
            "-p" | "--protocol" => {
                let v = self.value(w)?;
                if self.protocol.is_some() {
                    return Err(self.error(w, ErrorKind::Duplicate(w.text.clone())));
                }
                let p = self.ctx().value(w, v, values::protocol)?;
                if negated && p.is_none() {
                    return Err(self.error(
                        v,
                        ErrorKind::BadNegation("`! -p all` matches nothing".into()),
                    ));
                }
                self.protocol = Some(p.map(|value| Neg { negated, value }));
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                let v = self.value(w)?;
                if v.text.len() > 15 {
                    return Err(self
                        .ctx()
                        .bad(w, v, "interface names are at most 15 characters"));
                }
                let slot = if w.text.starts_with("-i") || w.text == "--in-interface" {
                    &mut self.in_interface
                } else {
                    &mut self.out_interface
                };
                if slot.is_some() {
                    return Err(ParseError::new(
                        self.source,
                        w.span,
                        ErrorKind::Duplicate(w.text.clone()),
                    ));
                }
                *slot = Some(Neg {
                    negated,
                    value: Interface(v.text.clone()),
                });
            }
            "-f" | "--fragment" => {
                if self.family == Family::Ipv6 {
                    return Err(self
                        .error(w, ErrorKind::UnknownOption(w.text.clone()))
                        .with_hint("ip6tables has no -f; match fragments with -m frag (--fragmore, --fraglast, --fragid)"));
                }
                if self.fragment.is_some() {
                    return Err(self.error(w, ErrorKind::Duplicate(w.text.clone())));
                }
                self.fragment = Some(!negated);
            }
            "-j" | "--jump" => {
                self.jump(w)?;
                return Ok(false);
            }
            "-g" | "--goto" => {
                let v = self.value(w)?;
                self.no_second_action(w)?;
                if targets::is_extension(&v.text) {
                    return Err(self.ctx().bad(w, v, "-g needs a user chain, not a target"));
                }
                self.goto = Some(v.text.clone());
                return Ok(false);
            }
            "-m" | "--match" => {
                self.load_module(w)?;
                return Ok(false);
            }
            t if t.starts_with('-') && t.len() > 1 => return self.extension_option(w, negated),
            _ => {
                return Err(self
                    .error(w, ErrorKind::UnknownOption(w.text.clone()))
                    .with_hint("options start with `-`; quote values that contain spaces"))
            }
        }
        Ok(true)
    }

    fn addresses(
        &mut self,
        w: &Word,
        negated: bool,
        duplicate: bool,
    ) -> Result<Neg<Vec<values::AddrItem>>, ParseError> {
        let v = self.value(w)?;
        if duplicate {
            return Err(self.error(w, ErrorKind::Duplicate(w.text.clone())));
        }
        let ctx = self.ctx();
        let list = v
            .text
            .split(',')
            .map(|a| values::addr_item(a, self.family).map_err(|r| address_error(&ctx, w, v, a, r)))
            .collect::<Result<Vec<_>, _>>()?;
        if negated
            && list
                .iter()
                .any(|a| matches!(a, values::AddrItem::Prefix(p) if p.is_empty()))
        {
            // The kernel refuses a negated test of every address.
            return Err(self
                .error(
                    v,
                    ErrorKind::BadNegation(format!("`! {} {}` matches nothing", w.text, v.text)),
                )
                .with_hint("remove the rule, or the `!`"));
        }
        if negated && list.len() > 1 {
            return Err(self
                .error(
                    v,
                    ErrorKind::BadNegation("a list of addresses cannot be negated".into()),
                )
                .with_hint("write one negated rule per address, or use -m set with an ipset"));
        }
        Ok(Neg {
            negated,
            value: list,
        })
    }

    fn no_second_action(&self, w: &Word) -> Result<(), ParseError> {
        if self.target.is_some() || self.goto.is_some() {
            return Err(self.error(w, ErrorKind::Duplicate("-j/-g".into())));
        }
        Ok(())
    }

    fn jump(&mut self, w: &Word) -> Result<(), ParseError> {
        let v = self.value(w)?;
        self.no_second_action(w)?;
        let draft = TargetDraft::new(&v.text, v.clone()).map_err(|k| {
            self.error(v, k)
                .with_hint(format!("supported targets: {}", targets::supported_names()))
        })?;
        self.target = Some(draft);
        self.context = Some(Owner::Target);
        Ok(())
    }

    fn load_module(&mut self, w: &Word) -> Result<(), ParseError> {
        let v = self.value(w)?;
        let name = match v.text.as_str() {
            "icmpv6" | "ipv6-icmp" => "icmp6",
            other => other,
        };
        if let Some(i) = self
            .modules
            .iter()
            .position(|m| m.name == name && m.is_protocol_module())
        {
            self.context = Some(Owner::Module(i));
            return Ok(());
        }
        let module = Module::new(name, v.clone(), self.family).ok_or_else(|| {
            let names: Vec<&str> = matches::all_modules()
                .map(|(n, _)| n)
                .filter(|n| Module::new(n, v.clone(), self.family).is_some())
                .collect();
            let other = match self.family {
                Family::Ipv4 => Family::Ipv6,
                Family::Ipv6 => Family::Ipv4,
            };
            let hint = if Module::new(name, v.clone(), other).is_some() {
                format!(
                    "`-m {name}` is an {} module{}",
                    other.command(),
                    match name {
                        "ttl" => " (ip6tables has -m hl)",
                        "hl" => " (iptables has -m ttl)",
                        _ => "",
                    }
                )
            } else {
                format!("supported modules: {}", names.join(", "))
            };
            self.error(v, ErrorKind::UnknownModule(v.text.clone()))
                .with_hint(hint)
        })?;
        self.modules.push(module);
        self.context = Some(Owner::Module(self.modules.len() - 1));
        Ok(())
    }

    fn owner_specs(&self, owner: Owner) -> &'static [OptSpec] {
        match owner {
            Owner::Module(i) => self.modules[i].specs(),
            Owner::Target => self.target.as_ref().map(|t| t.specs()).unwrap_or(&[]),
        }
    }

    /// Looks the option up in the latest context, then the target, then the other
    /// modules (latest first), then the protocol's implicit module (`-p tcp --dport`).
    fn extension_option(&mut self, w: &Word, negated: bool) -> Result<bool, ParseError> {
        let mut owners: Vec<Owner> = self.context.into_iter().collect();
        if self.target.is_some() {
            owners.push(Owner::Target);
        }
        owners.extend((0..self.modules.len()).rev().map(Owner::Module));
        for owner in owners {
            if let Some(spec) = find_spec(self.owner_specs(owner), &w.text) {
                return self.apply_option(owner, spec, w, negated);
            }
        }
        if let Some(name) = self.implicit_module() {
            if let Some(spec) = matches::specs(name).and_then(|s| find_spec(s, &w.text)) {
                let module = Module::new(name, w.clone(), self.family).expect("known module");
                self.modules.push(module);
                return self.apply_option(Owner::Module(self.modules.len() - 1), spec, w, negated);
            }
        }
        Err(self.unknown_option(w))
    }

    fn implicit_module(&self) -> Option<&'static str> {
        let p = self.protocol.clone().flatten()?;
        if p.negated {
            return None;
        }
        match (p.value, self.family) {
            (Protocol::TCP, _) => Some("tcp"),
            (Protocol::UDP, _) => Some("udp"),
            (Protocol::ICMP, Family::Ipv4) => Some("icmp"),
            (Protocol::ICMPV6, Family::Ipv6) => Some("icmp6"),
            (Protocol(132), _) => Some("sctp"),
            (Protocol(33), _) => Some("dccp"),
            (Protocol(50), _) => Some("esp"),
            (Protocol(51), Family::Ipv4) => Some("ah"),
            (Protocol(135), Family::Ipv6) => Some("mh"),
            _ => None,
        }
    }

    fn apply_option(
        &mut self,
        owner: Owner,
        spec: &'static OptSpec,
        w: &Word,
        negated: bool,
    ) -> Result<bool, ParseError> {
        let key = spec.names[0];
        if negated && !spec.negatable {
            return Ok(false);
        }
        let seen = match owner {
            Owner::Module(i) => &self.modules[i].seen,
            Owner::Target => &self.target.as_ref().expect("owner exists").seen,
        };
        let own = matches!(owner, Owner::Module(i) if self.modules[i].tracks_repeats());
        if seen.contains(&key) && !own {
            return Err(self.error(w, ErrorKind::Duplicate(w.text.clone())));
        }
        let start = self.pos;
        for _ in 0..spec.args {
            self.value(w)?;
        }
        let args = &self.words[start..self.pos];
        let ctx = self.ctx();
        match owner {
            Owner::Module(i) => {
                self.modules[i].set(&ctx, key, w, args, negated)?;
                self.modules[i].seen.push(key);
            }
            Owner::Target => {
                let t = self.target.as_mut().expect("owner exists");
                t.set(key, w, args);
                t.seen.push(key);
            }
        }
        self.context = Some(owner);
        Ok(true)
    }

    /// An option nobody claimed, with the most useful hint we can guess.
    fn unknown_option(&self, w: &Word) -> ParseError {
        let err = self.error(w, ErrorKind::UnknownOption(w.text.clone()));
        let owners: Vec<&str> = matches::all_modules()
            .filter(|(_, specs)| find_spec(specs, &w.text).is_some())
            .map(|(n, _)| n)
            .collect();
        fn proto(module: &str) -> Option<&'static str> {
            match module {
                "tcp" => Some("tcp"),
                "udp" => Some("udp"),
                "icmp" => Some("icmp"),
                "icmp6" => Some("icmpv6"),
                _ => None,
            }
        }
        if let Some(first) = owners.first() {
            let hint = match proto(first) {
                Some(p) => {
                    let others: Vec<&str> = owners[1..].iter().filter_map(|m| proto(m)).collect();
                    let mut h = format!("add `-p {p}`");
                    for o in others {
                        h.push_str(&format!(" (or `-p {o}`)"));
                    }
                    h + &format!(" before `{}`", w.text)
                }
                None => format!("use `-m {first} {}`", w.text),
            };
            return err.with_hint(hint);
        }
        if let Some((name, _, _)) =
            targets::all_targets().find(|(_, specs, _)| find_spec(specs, &w.text).is_some())
        {
            return err.with_hint(format!("`{}` is an option of `-j {name}`", w.text));
        }
        match self.context {
            Some(Owner::Module(i)) => {
                let m = &self.modules[i];
                err.with_hint(format!("-m {} options: {}", m.name, spec_names(m.specs())))
            }
            Some(Owner::Target) => {
                let t = self.target.as_ref().expect("context exists");
                match t.specs() {
                    [] => err.with_hint(format!("-j {} takes no options", t.name)),
                    specs => err.with_hint(format!("-j {} options: {}", t.name, spec_names(specs))),
                }
            }
            None => err,
        }
    }

    /// Turns the parsed words into invocations.
    fn build(mut self) -> Result<Vec<Invocation>, ParseError> {
        let ctx = self.ctx();
        let Some((cmd, cmd_word)) = self.cmd.take() else {
            let at = self.words.first().cloned().unwrap_or(Word {
                text: String::new(),
                span: Span::default(),
            });
            return Err(self
                .error(&at, ErrorKind::Structure("no command given".into()))
                .with_hint(
                    "add a command such as -A CHAIN, -I CHAIN, -N CHAIN or -P CHAIN POLICY",
                ));
        };
        if let Cmd::ReadOnly = &cmd {
            return Ok(Vec::new());
        }
        if !cmd.takes_rule() {
            if let Some(first) = &self.first_rule_word {
                return Err(self
                    .error(
                        first,
                        ErrorKind::Conflict(first.text.clone(), cmd_word.text.clone()),
                    )
                    .with_hint(format!("`{}` takes no rule options", cmd_word.text)));
            }
        }
        let span = command_span(self.words);
        let (family, table) = (self.family, self.table());
        let inv = |command| Invocation {
            family,
            table,
            command,
            span,
        };
        let simple = match &cmd {
            Cmd::New(c) => Some(Command::NewChain(c.clone())),
            Cmd::DeleteChain(c) => Some(Command::DeleteChain(c.clone())),
            Cmd::Flush(c) => Some(Command::Flush(c.clone())),
            Cmd::Zero(c, n) => Some(Command::Zero(c.clone(), *n)),
            Cmd::Policy(chain, policy) => Some(Command::Policy {
                chain: chain.clone(),
                policy: *policy,
                counters: self.counters.unwrap_or_default(),
            }),
            Cmd::Rename(old, new) => Some(Command::Rename {
                old: old.clone(),
                new: new.clone(),
            }),
            Cmd::Delete(chain, Some(number)) => Some(Command::DeleteNum {
                chain: chain.clone(),
                number: *number,
            }),
            _ => None,
        };
        if let Some(command) = simple {
            return Ok(vec![inv(command)]);
        }
        let specs = self.rule_specs(&ctx, &cmd, &cmd_word)?;
        let counters = self.counters.unwrap_or_default();
        let rule = |spec: RuleSpec| Rule {
            spec,
            counters,
            span: Some(span),
        };
        let out = specs
            .into_iter()
            .map(|spec| {
                inv(match &cmd {
                    Cmd::Append(chain) => Command::Append {
                        chain: chain.clone(),
                        rule: rule(spec),
                    },
                    Cmd::Insert(chain, position) => Command::Insert {
                        chain: chain.clone(),
                        position: *position,
                        rule: rule(spec),
                    },
                    Cmd::Replace(chain, number) => Command::Replace {
                        chain: chain.clone(),
                        number: *number,
                        rule: rule(spec),
                    },
                    _ => Command::DeleteSpec {
                        chain: cmd.chain().expect("rule commands have a chain").to_string(),
                        spec,
                    },
                })
            })
            .collect();
        Ok(out)
    }

    /// The rule's spec, one per source × destination combination (sources outer, as
    /// iptables loops).
    fn rule_specs(
        &mut self,
        ctx: &RuleCtx<'_>,
        cmd: &Cmd,
        cmd_word: &Word,
    ) -> Result<Vec<RuleSpec>, ParseError> {
        if self.in_interface.is_some() {
            let at = self.option_word(&["-i", "--in-interface"]);
            ctx.only_in_chains(&at, "-i", &["PREROUTING", "INPUT", "FORWARD"])?;
        }
        if self.out_interface.is_some() {
            let at = self.option_word(&["-o", "--out-interface"]);
            ctx.only_in_chains(&at, "-o", &["FORWARD", "OUTPUT", "POSTROUTING"])?;
        }
        // `-i +` matches every interface: the kernel stores no match (iptables-save prints
        // nothing); `! -i +` is kept. (The chain checks above still apply, as in iptables.)
        let any = |i: &Option<Neg<Interface>>| i.clone().filter(|i| i.negated || i.value.0 != "+");
        let mut base = RuleSpec {
            in_interface: any(&self.in_interface),
            out_interface: any(&self.out_interface),
            protocol: self.protocol.clone().flatten(),
            fragment: self.fragment,
            ..RuleSpec::default()
        };
        for m in std::mem::take(&mut self.modules) {
            base.matches.push(m.finish(ctx)?);
        }
        base.action = self.action(ctx)?;
        let split =
            |a: &Option<Neg<Vec<values::AddrItem>>>| -> Vec<Option<(bool, values::AddrItem)>> {
                match a {
                    None => vec![None],
                    Some(n) => n.value.iter().map(|p| Some((n.negated, *p))).collect(),
                }
            };
        let (srcs, dsts) = (split(&self.sources), split(&self.destinations));
        if matches!(cmd, Cmd::Replace(..)) && srcs.len() * dsts.len() > 1 {
            return Err(self
                .error(
                    cmd_word,
                    ErrorKind::Conflict(cmd_word.text.clone(), "address lists".into()),
                )
                .with_hint("-R replaces one rule: give one source and one destination"));
        }
        let mut out = Vec::new();
        // A prefix goes to the spec's address; a mask that is no prefix becomes a match,
        // first in the rule (see `AddrMaskMatch`).
        let place = |spec: &mut RuleSpec, item: Option<(bool, values::AddrItem)>, dst: bool| {
            let Some((negated, item)) = item else {
                return;
            };
            match item {
                // `-s ADDR/0` matches every address: the kernel keeps no test and
                // iptables-save prints none (negated, it is refused above).
                values::AddrItem::Prefix(value) if value.is_empty() => {}
                values::AddrItem::Prefix(value) => {
                    let field = if dst {
                        &mut spec.destination
                    } else {
                        &mut spec.source
                    };
                    *field = Some(Neg { negated, value });
                }
                values::AddrItem::Masked { addr, mask } => {
                    let at = usize::from(
                        dst && matches!(spec.matches.first(), Some(Match::AddrMask(m)) if !m.destination),
                    );
                    spec.matches.insert(
                        at,
                        Match::AddrMask(AddrMaskMatch {
                            destination: dst,
                            negated,
                            addr,
                            mask,
                        }),
                    );
                }
            }
        };
        for s in &srcs {
            for d in &dsts {
                let mut spec = base.clone();
                place(&mut spec, *s, false);
                place(&mut spec, *d, true);
                out.push(spec);
            }
        }
        Ok(out)
    }

    fn action(&mut self, ctx: &RuleCtx<'_>) -> Result<Option<Action>, ParseError> {
        if let Some(chain) = &self.goto {
            return Ok(Some(Action::Goto(chain.clone())));
        }
        let Some(t) = self.target.take() else {
            return Ok(None);
        };
        if let Some(needed) = t.table() {
            if needed != ctx.table {
                return Err(self
                    .error(
                        &t.word,
                        ErrorKind::TargetNotAllowed {
                            target: t.name.clone(),
                            table: ctx.table.name().into(),
                            chain: ctx.chain.clone().unwrap_or_default(),
                        },
                    )
                    .with_hint(format!(
                        "{} works in the {} table: add `-t {}`",
                        t.name, needed, needed
                    )));
            }
        }
        Ok(Some(Action::Jump(t.finish(ctx)?)))
    }

    fn option_word(&self, names: &[&str]) -> Word {
        self.words
            .iter()
            .find(|w| names.contains(&w.text.as_str()))
            .cloned()
            .expect("option was read from these words")
    }
}

/// The static name of an opaque module (for [`crate::Match::module_name`]).
pub(crate) fn opaque_name(name: &str) -> &'static str {
    opaque::MODULES
        .iter()
        .find(|m| m.name == name)
        .map_or("unknown", |m| m.name)
}

/// A bad `-s`/`-d` value; a word with letters is most likely a host name, which iptables
/// would resolve at load time (so the rule depends on DNS) and rampart refuses.
fn address_error(
    ctx: &RuleCtx<'_>,
    opt: &Word,
    arg: &Word,
    item: &str,
    reason: String,
) -> ParseError {
    let err = ctx.bad(opt, arg, reason);
    let host_name = item.contains(|c: char| c.is_ascii_alphabetic()) && !item.contains(':');
    if host_name {
        return err.with_hint("rampart does not resolve host names: write the address");
    }
    err
}

/// `-L`, `-nL`, `-vnL`, `-S`...: short flags bundled with a listing command.
fn is_short_list(text: &str) -> bool {
    let Some(flags) = text.strip_prefix('-') else {
        return false;
    };
    !flags.starts_with('-')
        && flags.contains(['L', 'S'])
        && flags.chars().all(|c| "LSnvx".contains(c))
}

/// The span of a whole command: from its first word to its last on that line.
pub(crate) fn command_span(words: &[Word]) -> Span {
    let Some(first) = words.first() else {
        return Span::default();
    };
    let last = words
        .iter()
        .rev()
        .find(|w| w.span.line == first.span.line)
        .unwrap_or(first);
    Span {
        len: last.span.col + last.span.len - first.span.col,
        ..first.span
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_modules;
