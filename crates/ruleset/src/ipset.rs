//! ipset commands and `ipset save` output → [`SetCommand`]s applied to [`Ruleset::sets`].
//!
//! Parsing and applying are separate because an entry's meaning depends on the set's type:
//! `10.0.0.0/30` is four addresses in a `hash:ip` set but one network in a `hash:net` set.
//! [`parse_args`] therefore checks only the syntax (pointing errors at the word) and keeps the
//! entry as written ([`EntrySpec`]); [`Ruleset::apply_set`] expands it against the set, as
//! the kernel does, so that two texts loading the same kernel state give equal models.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use rampart_prefix::{AddrRange, Prefix};

use crate::error::{ErrorKind, ParseError};
use crate::lex::Word;
use crate::model::{
    Counters, Family, IpSet, Match, PortRange, Protocol, Ruleset, SetEntry, SetKind,
};
use crate::span::{Source, Span};

/// Most elements one `add`/`del` may expand to. It is ipset's default `maxelem`, so a larger
/// expansion could not be loaded into a default set anyway, and it keeps a typo such as
/// `10.0.0.0/8` in a `hash:ip` set from allocating millions of entries.
const MAX_EXPANSION: u128 = 65_536;
/// ipset's largest timeout in seconds (`INT_MAX` milliseconds).
const MAX_TIMEOUT: u32 = 2_147_483;
/// ipset's longest comment.
const MAX_COMMENT: usize = 255;
/// ipset's longest set name (`IPSET_MAXNAMELEN` minus the NUL).
const MAX_NAME: usize = 31;
/// Hash sizes the kernel uses when none or a too small one is given.
const DEFAULT_HASHSIZE: u32 = 1024;
const MIN_HASHSIZE: u32 = 64;
/// ipset's default `maxelem` for hash types.
const DEFAULT_MAXELEM: u32 = 65_536;
/// Creation flags in the order `ipset save` prints them, which is also the order they are
/// stored in so that the order written does not change the model.
const FLAGS: [&str; 4] = ["counters", "comment", "skbinfo", "forceadd"];

/// One ipset command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetCommand {
    /// `create NAME TYPE [options]` (`-exist` sets `exist`).
    Create {
        /// The new set (no entries), with the kernel's defaults filled in.
        set: IpSet,
        /// `-exist`: no error when an identical set exists.
        exist: bool,
    },
    /// `add NAME ENTRY [timeout N] [comment C] [packets N bytes N]`.
    Add {
        /// Set name.
        name: String,
        /// The entry as written; expanded by [`Ruleset::apply_set`].
        entry: EntrySpec,
        /// `-exist`: re-adding updates the entry instead of failing.
        exist: bool,
    },
    /// `del NAME ENTRY`.
    Del {
        /// Set name.
        name: String,
        /// The entry as written.
        entry: EntrySpec,
        /// `-exist`: deleting a missing entry is no error.
        exist: bool,
    },
    /// `flush [NAME]`: empty one set or all.
    Flush(Option<String>),
    /// `destroy [NAME]`: remove one set or all.
    Destroy(Option<String>),
    /// `swap A B`: exchange the contents of two sets of the same type, names staying.
    Swap(String, String),
    /// `list`, `save`, `test`, ...: no effect on the ruleset; the command as written, for
    /// the caller to report as skipped.
    ReadOnly(String),
}

/// An `add`/`del` entry as written, before it meets its set's type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntrySpec {
    /// The address part, if any (bitmap:port entries have none).
    pub addr: Option<AddrSpec>,
    /// `[proto:]port[-port]`; a bare port is TCP, as in ipset.
    pub port: Option<(Protocol, PortRange)>,
    /// `timeout N`.
    pub timeout: Option<u32>,
    /// `comment "..."`.
    pub comment: Option<String>,
    /// `packets N bytes N`, as `ipset save` prints them for `counters` sets.
    pub counters: Option<Counters>,
}

/// The address part of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrSpec {
    /// An address (host prefix) or `addr/len`.
    Net(Prefix),
    /// `a-b`.
    Range(AddrRange),
}

/// Parses the arguments of one `ipset` command (or one line of `ipset save` output), without
/// the program name.
///
/// The span returned is the place [`Ruleset::apply_set`] errors belong to: the set name, or
/// for `add`/`del`/`swap` the name through the entry or second name when on one line.
pub fn parse_args(source: &Source, words: &[Word]) -> Result<(SetCommand, Span), ParseError> {
    let mut exist = false;
    let rest: Vec<&Word> = words
        .iter()
        .filter(|w| match w.text.as_str() {
            "-exist" | "--exist" | "-!" => {
                exist = true;
                false
            }
            "-q" | "-quiet" | "--quiet" => false,
            _ => true,
        })
        .collect();
    let mut args = Args {
        source,
        words: rest,
        pos: 0,
        all: words,
    };
    let Some(verb) = args.next() else {
        let span = words.last().map(|w| w.span).unwrap_or_default();
        return Err(
            ParseError::new(source, span, ErrorKind::MissingValue("ipset".into()))
                .with_hint("give a command: create, add, del, flush, destroy or swap"),
        );
    };
    match verb.text.as_str() {
        "create" | "n" | "-N" => args.create(exist),
        "add" | "a" | "-A" => args.add_del(exist, true),
        "del" | "d" | "-D" => args.add_del(exist, false),
        "flush" | "f" | "-F" => args
            .optional_name(verb)
            .map(|(n, s)| (SetCommand::Flush(n), s)),
        "destroy" | "x" | "-X" => args
            .optional_name(verb)
            .map(|(n, s)| (SetCommand::Destroy(n), s)),
        "swap" | "w" | "-W" => args.swap(),
        "list" | "l" | "-L" | "save" | "s" | "-S" | "test" | "t" | "-T" | "help" | "h" | "-H"
        | "version" | "v" | "-V" => {
            let text: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
            Ok((SetCommand::ReadOnly(text.join(" ")), verb.span))
        }
        other => Err(args
            .error(verb, ErrorKind::UnknownCommand(format!("ipset {other}")))
            .with_hint(
                "rampart models ipset create, add, del, flush, destroy and swap \
                 (list, save and test are read-only and skipped)",
            )),
    }
}

/// The words of one command being consumed left to right.
struct Args<'a> {
    source: &'a Source,
    /// Words without the global `-exist`/`-quiet` options.
    words: Vec<&'a Word>,
    pos: usize,
    /// All words, for the place of a missing value at the end.
    all: &'a [Word],
}

impl<'a> Args<'a> {
    fn next(&mut self) -> Option<&'a Word> {
        let w = self.words.get(self.pos).copied();
        self.pos += usize::from(w.is_some());
        w
    }

    fn error(&self, word: &Word, kind: ErrorKind) -> ParseError {
        ParseError::new(self.source, word.span, kind)
    }

    /// The next word, or an error after the last word naming what is missing.
    fn required(&mut self, what: &str, hint: &str) -> Result<&'a Word, ParseError> {
        self.next().ok_or_else(|| {
            let last = self.all.last().expect("a command has a word");
            let span = Span {
                col: last.span.col + last.span.len,
                len: 1,
                ..last.span
            };
            ParseError::new(self.source, span, ErrorKind::MissingValue(what.to_string()))
                .with_hint(hint.to_string())
        })
    }

    /// A set name, checked against ipset's length limit.
    fn name(&mut self) -> Result<&'a Word, ParseError> {
        let word = self.required("set name", "write the set's name")?;
        if word.text.is_empty() || word.text.chars().count() > MAX_NAME {
            return Err(self
                .error(
                    word,
                    bad_value("set name", &word.text, "must be 1 to 31 characters"),
                )
                .with_hint("ipset set names are at most 31 characters long"));
        }
        Ok(word)
    }

    /// Errors when words remain.
    fn end(&mut self) -> Result<(), ParseError> {
        match self.next() {
            None => Ok(()),
            Some(w) => Err(self
                .error(w, ErrorKind::UnknownOption(w.text.clone()))
                .with_hint("this ipset command takes no further arguments")),
        }
    }

    /// A number with an upper bound, for option `option`.
    fn number(&mut self, option: &str, max: u32) -> Result<u32, ParseError> {
        let n = self.number64(option, u64::from(max))?;
        Ok(u32::try_from(n).expect("bounded by a u32"))
    }

    fn number64(&mut self, option: &str, max: u64) -> Result<u64, ParseError> {
        let word = self.required(option, &format!("`{option}` takes a number"))?;
        word.text
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| {
                self.error(
                    word,
                    bad_value(option, &word.text, &format!("not a number 0-{max}")),
                )
            })
    }

    fn create(&mut self, exist: bool) -> Result<(SetCommand, Span), ParseError> {
        let name = self.name()?;
        let type_word = self.required(
            "set type",
            "write the type, e.g. `hash:ip`, `hash:net` or `bitmap:port`",
        )?;
        let kind = SetKind::NAMES
            .iter()
            .find(|(n, _)| *n == type_word.text)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                self.error(
                    type_word,
                    bad_value("set type", &type_word.text, "unknown or unsupported"),
                )
                .with_hint(format!("rampart supports {}", kind_list()))
            })?;
        let mut set = IpSet {
            name: name.text.clone(),
            kind,
            family: Family::Ipv4,
            timeout: None,
            maxelem: None,
            hashsize: None,
            port_range: None,
            flags: Vec::new(),
            entries: Vec::new(),
            span: Some(name.span),
        };
        let mut seen: Vec<&str> = Vec::new();
        while let Some(opt) = self.next() {
            if seen.contains(&opt.text.as_str()) {
                return Err(self.error(opt, ErrorKind::Duplicate(opt.text.clone())));
            }
            seen.push(&opt.text);
            self.create_option(&mut set, opt)?;
        }
        let bitmap = kind == SetKind::BitmapPort;
        if bitmap && set.port_range.is_none() {
            return Err(self
                .error(type_word, ErrorKind::MissingValue("range".into()))
                .with_hint("bitmap:port sets need `range FROM-TO`, e.g. `range 1024-65535`"));
        }
        if !bitmap {
            let hashsize = set.hashsize.unwrap_or(DEFAULT_HASHSIZE);
            set.hashsize = Some(effective_hashsize(hashsize));
            set.maxelem = Some(set.maxelem.unwrap_or(DEFAULT_MAXELEM));
        }
        set.flags
            .sort_by_key(|f| FLAGS.iter().position(|g| g == f).unwrap_or(FLAGS.len()));
        Ok((SetCommand::Create { set, exist }, name.span))
    }

    /// One `create` option; options of the other type family are errors naming what the
    /// type takes.
    fn create_option(&mut self, set: &mut IpSet, opt: &Word) -> Result<(), ParseError> {
        let hash = set.kind != SetKind::BitmapPort;
        match opt.text.as_str() {
            "timeout" => set.timeout = Some(self.number("timeout", MAX_TIMEOUT)?),
            "family" if hash => {
                let word = self.required("family", "`family` is `inet` or `inet6`")?;
                set.family = match word.text.as_str() {
                    "inet" => Family::Ipv4,
                    "inet6" => Family::Ipv6,
                    _ => {
                        return Err(self
                            .error(word, bad_value("family", &word.text, "unknown family"))
                            .with_hint("write `inet` (IPv4) or `inet6` (IPv6)"))
                    }
                }
            }
            "hashsize" if hash => set.hashsize = Some(self.number("hashsize", u32::MAX)?),
            "maxelem" if hash => set.maxelem = Some(self.number("maxelem", u32::MAX)?),
            // Hash tuning that `ipset save` prints; it changes nothing a packet can observe.
            "bucketsize" if hash => {
                self.number("bucketsize", u32::MAX)?;
            }
            "initval" if hash => {
                let word = self.required("initval", "`initval` takes a hex number")?;
                let hex = word.text.trim_start_matches("0x");
                if u32::from_str_radix(hex, 16).is_err() {
                    return Err(
                        self.error(word, bad_value("initval", &word.text, "not a hex number"))
                    );
                }
            }
            "range" if !hash => {
                let word = self.required("range", "`range` is `FROM-TO`, e.g. `1024-65535`")?;
                let range = parse_port_range(&word.text).ok_or_else(|| {
                    self.error(word, bad_value("range", &word.text, "not FROM-TO ports"))
                })?;
                set.port_range = Some(range);
            }
            flag if FLAGS.contains(&flag) && (hash || flag != "forceadd") => {
                set.flags.push(flag.to_string());
            }
            other => return Err(self
                .error(opt, ErrorKind::UnknownOption(other.to_string()))
                .with_hint(format!(
                    "{} sets take: {}",
                    set.kind.name(),
                    if hash {
                        "family, hashsize, maxelem, timeout, counters, comment, skbinfo, forceadd"
                    } else {
                        "range, timeout, counters, comment, skbinfo"
                    }
                ))),
        }
        Ok(())
    }

    fn add_del(&mut self, exist: bool, add: bool) -> Result<(SetCommand, Span), ParseError> {
        let name = self.name()?;
        let entry_word = self.required(
            "entry",
            "write the element, e.g. `192.0.2.1`, `192.0.2.0/24` or `192.0.2.1,tcp:80`",
        )?;
        let mut entry = parse_entry(&entry_word.text)
            .map_err(|(kind, hint)| self.error(entry_word, kind).with_hint(hint))?;
        while let Some(opt) = self.next() {
            if !add {
                return Err(self
                    .error(opt, ErrorKind::UnknownOption(opt.text.clone()))
                    .with_hint("`del` takes only the set name and the element"));
            }
            self.entry_option(&mut entry, opt)?;
        }
        let span = join(name.span, entry_word.span);
        let name = name.text.clone();
        let command = if add {
            SetCommand::Add { name, entry, exist }
        } else {
            SetCommand::Del { name, entry, exist }
        };
        Ok((command, span))
    }

    /// One per-entry option of `add`.
    fn entry_option(&mut self, entry: &mut EntrySpec, opt: &Word) -> Result<(), ParseError> {
        match opt.text.as_str() {
            "timeout" if entry.timeout.is_none() => {
                entry.timeout = Some(self.number("timeout", MAX_TIMEOUT)?);
            }
            "comment" if entry.comment.is_none() => {
                let word = self.required("comment", "write the comment, quoted")?;
                if word.text.contains('"') || word.text.chars().count() > MAX_COMMENT {
                    return Err(self
                        .error(word, bad_value("comment", &word.text, "ipset refuses it"))
                        .with_hint("comments are at most 255 characters, without `\"`"));
                }
                entry.comment = Some(word.text.clone());
            }
            "packets" | "bytes" => {
                let value = self.number64(&opt.text, u64::MAX)?;
                let counters = entry.counters.get_or_insert_with(Counters::default);
                if opt.text == "packets" {
                    counters.packets = value;
                } else {
                    counters.bytes = value;
                }
            }
            "timeout" | "comment" => {
                return Err(self.error(opt, ErrorKind::Duplicate(opt.text.clone())))
            }
            other => {
                return Err(self
                    .error(opt, ErrorKind::UnknownOption(other.to_string()))
                    .with_hint("entries take: timeout N, comment \"TEXT\", packets N, bytes N"))
            }
        }
        Ok(())
    }

    fn optional_name(&mut self, verb: &Word) -> Result<(Option<String>, Span), ParseError> {
        if self.pos == self.words.len() {
            return Ok((None, verb.span));
        }
        let name = self.name()?;
        self.end()?;
        Ok((Some(name.text.clone()), name.span))
    }

    fn swap(&mut self) -> Result<(SetCommand, Span), ParseError> {
        let a = self.name()?;
        let b = self.name()?;
        self.end()?;
        Ok((
            SetCommand::Swap(a.text.clone(), b.text.clone()),
            join(a.span, b.span),
        ))
    }
}

/// A span from `a` through `b` when both are on one line, else `a`.
fn join(a: Span, b: Span) -> Span {
    if a.line == b.line && b.col >= a.col {
        Span {
            len: b.col + b.len - a.col,
            ..a
        }
    } else {
        a
    }
}

fn bad_value(option: &str, value: &str, reason: &str) -> ErrorKind {
    ErrorKind::BadValue {
        option: option.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn kind_list() -> String {
    let names: Vec<&str> = SetKind::NAMES.iter().map(|(n, _)| *n).collect();
    names.join(", ")
}

/// The hash size the kernel really allocates: a power of two, at least 64; `ipset save`
/// prints this value, so storing it makes `hashsize 1000` and `hashsize 1024` equal.
fn effective_hashsize(requested: u32) -> u32 {
    requested
        .max(MIN_HASHSIZE)
        .checked_next_power_of_two()
        .unwrap_or(1 << 31)
}

/// `a-b` or `a` ports, in order (ipset swaps reversed ends).
fn parse_port_range(text: &str) -> Option<PortRange> {
    let (lo, hi) = text.split_once('-').unwrap_or((text, text));
    let (a, b) = (lo.parse::<u16>().ok()?, hi.parse::<u16>().ok()?);
    Some(PortRange {
        lo: a.min(b),
        hi: a.max(b),
    })
}

/// An error kind and its hint, before it gets a place.
type Bad = (ErrorKind, String);

/// An entry's syntax, independent of the set type: `ADDR[,PORT]` or `PORT`.
fn parse_entry(text: &str) -> Result<EntrySpec, Bad> {
    if let Some((addr, port)) = text.split_once(',') {
        return Ok(EntrySpec {
            addr: Some(parse_addr_spec(addr)?),
            port: Some(parse_port_spec(port)?),
            ..EntrySpec::default()
        });
    }
    match parse_addr_spec(text) {
        Ok(addr) => Ok(EntrySpec {
            addr: Some(addr),
            ..EntrySpec::default()
        }),
        // Addresses have dots or several colons; anything else was meant as a port.
        Err(e) if text.contains('.') || text.matches(':').count() > 1 => Err(e),
        Err(_) => Ok(EntrySpec {
            port: Some(parse_port_spec(text)?),
            ..EntrySpec::default()
        }),
    }
}

/// `addr`, `addr/len` or `a-b`.
fn parse_addr_spec(text: &str) -> Result<AddrSpec, Bad> {
    let parsed = if text.contains('-') {
        text.parse().map(AddrSpec::Range)
    } else {
        text.parse().map(AddrSpec::Net)
    };
    parsed.map_err(|e| {
        (
            bad_value("element", text, &e.to_string()),
            "write an address (192.0.2.1), a network (192.0.2.0/24) or a range \
             (192.0.2.1-192.0.2.9)"
                .to_string(),
        )
    })
}

/// `[proto:]port[-port]`; protocols without ports take only the pseudo port 0, as in ipset.
fn parse_port_spec(text: &str) -> Result<(Protocol, PortRange), Bad> {
    let (proto_text, ports) = text.split_once(':').unwrap_or(("tcp", text));
    let proto = match proto_text.to_ascii_lowercase().as_str() {
        "icmp" | "icmpv6" | "ipv6-icmp" => {
            return Err((
                bad_value(
                    "element",
                    text,
                    "ICMP type elements are not supported by rampart",
                ),
                "match ICMP with an iptables rule (-p icmp --icmp-type) instead".into(),
            ))
        }
        name => Protocol::from_name(name).ok_or_else(|| {
            (
                bad_value("element", text, &format!("unknown protocol `{proto_text}`")),
                "write tcp, udp, sctp or udplite, e.g. `udp:53`".to_string(),
            )
        })?,
    };
    let range = parse_port_range(ports).ok_or_else(|| {
        (
            bad_value(
                "element",
                text,
                &format!("`{ports}` is not a port or FROM-TO range"),
            ),
            "write port numbers (rampart does not read /etc/services), e.g. `tcp:80`".into(),
        )
    })?;
    if !ipset_has_ports(proto) && range != PortRange::single(0) {
        return Err((
            bad_value("element", text, &format!("protocol {proto} has no ports")),
            format!("write `{proto}:0`, the only port ipset allows for it"),
        ));
    }
    Ok((proto, range))
}

/// The protocols whose ports ipset stores (DCCP, unlike for iptables, is not one of them).
fn ipset_has_ports(proto: Protocol) -> bool {
    matches!(proto.0, 6 | 17 | 132 | 136)
}

impl Ruleset {
    /// Applies an ipset command, or explains why ipset would refuse it; unchanged on error.
    ///
    /// An `add`/`del` that expands to several elements is all-or-nothing here, where the
    /// kernel keeps the elements handled before the failing one.
    pub fn apply_set(&mut self, command: SetCommand) -> Result<(), ErrorKind> {
        match command {
            SetCommand::Create { set, exist } => self.create_set(set, exist),
            SetCommand::Add { name, entry, exist } => self.add_entries(&name, &entry, exist),
            SetCommand::Del { name, entry, exist } => self.del_entries(&name, &entry, exist),
            SetCommand::Flush(name) => {
                for i in self.set_indices(name.as_deref())? {
                    self.sets[i].entries.clear();
                }
                Ok(())
            }
            SetCommand::Destroy(name) => self.destroy_sets(name.as_deref()),
            SetCommand::Swap(a, b) => self.swap_sets(&a, &b),
            SetCommand::ReadOnly(_) => Ok(()),
        }
    }

    fn set_index(&self, name: &str) -> Result<usize, ErrorKind> {
        self.sets
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| ErrorKind::NoSuchSet(name.to_string()))
    }

    /// The named set, or all sets when no name is given.
    fn set_indices(&self, name: Option<&str>) -> Result<Vec<usize>, ErrorKind> {
        match name {
            Some(name) => Ok(vec![self.set_index(name)?]),
            None => Ok((0..self.sets.len()).collect()),
        }
    }

    fn create_set(&mut self, set: IpSet, exist: bool) -> Result<(), ErrorKind> {
        match self.set(&set.name) {
            Some(old) if exist && same_definition(old, &set) => Ok(()),
            Some(_) => Err(ErrorKind::SetExists(set.name)),
            None => {
                self.sets.push(set);
                Ok(())
            }
        }
    }

    fn add_entries(&mut self, name: &str, spec: &EntrySpec, exist: bool) -> Result<(), ErrorKind> {
        let index = self.set_index(name)?;
        let set = &self.sets[index];
        let mut entries = set.entries.clone();
        // Element → position, so that a large expansion is linear rather than quadratic.
        let mut positions = element_positions(&entries);
        for entry in resolve(set, spec)? {
            match positions.get(&element_key(&entry)) {
                Some(&i) if exist => entries[i] = entry,
                Some(_) => return Err(element_error(set, &entry, true)),
                None => {
                    positions.insert(element_key(&entry), entries.len());
                    entries.push(entry);
                }
            }
        }
        if let Some(max) = set.maxelem.filter(|m| entries.len() > *m as usize) {
            return Err(mismatch(set, format!("the set is full (maxelem {max})")));
        }
        self.sets[index].entries = entries;
        Ok(())
    }

    fn del_entries(&mut self, name: &str, spec: &EntrySpec, exist: bool) -> Result<(), ErrorKind> {
        let index = self.set_index(name)?;
        let set = &self.sets[index];
        let mut positions = element_positions(&set.entries);
        let mut doomed = vec![false; set.entries.len()];
        for entry in resolve(set, spec)? {
            match positions.remove(&element_key(&entry)) {
                Some(i) => doomed[i] = true,
                None if exist => {}
                None => return Err(element_error(set, &entry, false)),
            }
        }
        let mut doomed = doomed.into_iter();
        self.sets[index]
            .entries
            .retain(|_| !doomed.next().expect("one flag per entry"));
        Ok(())
    }

    fn destroy_sets(&mut self, name: Option<&str>) -> Result<(), ErrorKind> {
        let doomed = self.set_indices(name)?;
        for &i in &doomed {
            let set = &self.sets[i].name;
            if let Some(chain) = self.set_user(set) {
                return Err(ErrorKind::SetInUse {
                    set: set.clone(),
                    chain,
                });
            }
        }
        let mut i = 0;
        self.sets.retain(|_| {
            i += 1;
            !doomed.contains(&(i - 1))
        });
        Ok(())
    }

    /// Where the first rule matching on set `name` is, e.g. `iptables filter/INPUT`.
    fn set_user(&self, name: &str) -> Option<String> {
        self.tables.iter().find_map(|table| {
            table.chains.iter().find_map(|chain| {
                let used = chain.rules.iter().any(|rule| {
                    rule.spec
                        .matches
                        .iter()
                        .any(|m| matches!(m, Match::Set(s) if s.name == name))
                });
                used.then(|| format!("{} {}/{}", table.family.command(), table.kind, chain.name))
            })
        })
    }

    /// Exchanges the sets' contents; names (and so the rules' references) stay in place.
    fn swap_sets(&mut self, a: &str, b: &str) -> Result<(), ErrorKind> {
        let (i, j) = (self.set_index(a)?, self.set_index(b)?);
        let (x, y) = (&self.sets[i], &self.sets[j]);
        if (x.kind, x.family) != (y.kind, y.family) {
            return Err(mismatch(
                x,
                format!(
                    "cannot be swapped with `{}`: {} is not {}",
                    y.name,
                    type_text(y),
                    type_text(x)
                ),
            ));
        }
        self.sets.swap(i, j);
        let name_i = std::mem::take(&mut self.sets[i].name);
        self.sets[i].name = std::mem::replace(&mut self.sets[j].name, name_i);
        Ok(())
    }
}

/// `hash:ip family inet`, for messages.
fn type_text(set: &IpSet) -> String {
    match set.kind {
        SetKind::BitmapPort => set.kind.name().to_string(),
        _ => format!("{} family {}", set.kind.name(), family_name(set.family)),
    }
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "inet",
        Family::Ipv6 => "inet6",
    }
}

fn mismatch(set: &IpSet, reason: String) -> ErrorKind {
    ErrorKind::SetMismatch {
        set: set.name.clone(),
        reason,
    }
}

fn element_error(set: &IpSet, entry: &SetEntry, exists: bool) -> ErrorKind {
    let (set, element) = (set.name.clone(), element_text(entry));
    if exists {
        ErrorKind::SetElementExists { set, element }
    } else {
        ErrorKind::NoSuchSetElement { set, element }
    }
}

/// What `-exist create` accepts as the same set: everything but the hash size, which the
/// kernel itself changes as the set grows and ignores in this comparison.
fn same_definition(a: &IpSet, b: &IpSet) -> bool {
    (
        a.kind,
        a.family,
        a.maxelem,
        a.timeout,
        a.port_range,
        &a.flags,
    ) == (
        b.kind,
        b.family,
        b.maxelem,
        b.timeout,
        b.port_range,
        &b.flags,
    )
}

/// What identifies a member (extensions aside): two entries with equal keys are the same
/// member.
type ElementKey = (Option<Prefix>, Option<(Protocol, PortRange)>);

fn element_key(entry: &SetEntry) -> ElementKey {
    (entry.addr, entry.port)
}

/// Each member's position in `entries`.
fn element_positions(entries: &[SetEntry]) -> HashMap<ElementKey, usize> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| (element_key(e), i))
        .collect()
}

/// The entries an `add`/`del` stands for in `set`, extensions filled in as the kernel does.
fn resolve(set: &IpSet, spec: &EntrySpec) -> Result<Vec<SetEntry>, ErrorKind> {
    check_shape(set, spec)?;
    let template = extensions(set, spec)?;
    let ports = expand_ports(set, spec.port)?;
    let addrs = expand_addrs(set, spec.addr, ports.len() as u128)?;
    Ok(addrs
        .iter()
        .flat_map(|addr| {
            ports.iter().map(|port| SetEntry {
                addr: *addr,
                port: *port,
                ..template.clone()
            })
        })
        .collect())
}

/// The entry has the parts the type needs, and its address the set's family.
fn check_shape(set: &IpSet, spec: &EntrySpec) -> Result<(), ErrorKind> {
    let (wants_addr, wants_port, example) = match set.kind {
        SetKind::HashIp => (true, false, "an address: 192.0.2.1"),
        SetKind::HashNet => (true, false, "a network: 192.0.2.0/24"),
        SetKind::HashIpPort => (true, true, "an address and port: 192.0.2.1,tcp:80"),
        SetKind::HashNetPort => (true, true, "a network and port: 192.0.2.0/24,tcp:80"),
        _ => (false, true, "a port: 22"),
    };
    if spec.addr.is_some() != wants_addr || spec.port.is_some() != wants_port {
        return Err(mismatch(
            set,
            format!("{} entries are {example}", set.kind.name()),
        ));
    }
    let family = spec.addr.map(|a| match a {
        AddrSpec::Net(p) => Family::of(p.addr()),
        AddrSpec::Range(r) => Family::of(r.start()),
    });
    match family {
        Some(f) if f != set.family => Err(mismatch(
            set,
            format!(
                "an {} entry cannot go into a family {} set",
                if f == Family::Ipv4 { "IPv4" } else { "IPv6" },
                family_name(set.family)
            ),
        )),
        _ => Ok(()),
    }
}

/// The extensions of the resulting entries: refused when the set was created without them,
/// defaulted (timeout, zero counters) when it was created with them.
fn extensions(set: &IpSet, spec: &EntrySpec) -> Result<SetEntry, ErrorKind> {
    let has = |flag: &str| set.flags.iter().any(|f| f == flag);
    let refuse = |what: &str, flag: &str| {
        mismatch(
            set,
            format!("{what} cannot be used: the set was created without `{flag}`"),
        )
    };
    if spec.timeout.is_some() && set.timeout.is_none() {
        return Err(refuse("timeout", "timeout"));
    }
    if spec.comment.is_some() && !has("comment") {
        return Err(refuse("comment", "comment"));
    }
    if spec.counters.is_some() && !has("counters") {
        return Err(refuse("packets/bytes", "counters"));
    }
    Ok(SetEntry {
        timeout: spec.timeout.or(set.timeout),
        comment: spec.comment.clone().filter(|c| !c.is_empty()),
        counters: has("counters").then(|| spec.counters.unwrap_or_default()),
        ..SetEntry::default()
    })
}

/// Single ports (ranges expand, as in ipset); bitmap:port keeps no protocol, so it is stored
/// as TCP whatever was written.
fn expand_ports(
    set: &IpSet,
    port: Option<(Protocol, PortRange)>,
) -> Result<Vec<Option<(Protocol, PortRange)>>, ErrorKind> {
    let Some((proto, range)) = port else {
        return Ok(vec![None]);
    };
    let proto = match set.kind {
        SetKind::BitmapPort => {
            let bounds = set.port_range.unwrap_or(PortRange {
                lo: 0,
                hi: u16::MAX,
            });
            if !(bounds.contains(range.lo) && bounds.contains(range.hi)) {
                return Err(mismatch(
                    set,
                    format!(
                        "port {} is outside the set's range {}-{}",
                        port_text(range),
                        bounds.lo,
                        bounds.hi
                    ),
                ));
            }
            Protocol::TCP
        }
        _ => proto,
    };
    Ok((range.lo..=range.hi)
        .map(|p| Some((proto, PortRange::single(p))))
        .collect())
}

fn port_text(range: PortRange) -> String {
    if range.lo == range.hi {
        range.lo.to_string()
    } else {
        format!("{}-{}", range.lo, range.hi)
    }
}

/// Addresses for `hash:ip*` (single hosts: ranges and networks expand, IPv4 only, as in
/// ipset) or networks for `hash:net*` (ranges become the fewest covering networks).
/// `per_addr` is how many elements each address becomes (its ports), for the bound.
fn expand_addrs(
    set: &IpSet,
    addr: Option<AddrSpec>,
    per_addr: u128,
) -> Result<Vec<Option<Prefix>>, ErrorKind> {
    let Some(addr) = addr else {
        return Ok(vec![None]);
    };
    let hosts = matches!(set.kind, SetKind::HashIp | SetKind::HashIpPort);
    let v4_range = |start: IpAddr, end: IpAddr| match (start, end) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Ok((u32::from(a), u32::from(b))),
        _ => Err(mismatch(
            set,
            "IPv6 ranges and networks cannot be expanded: ipset takes them for IPv4 only".into(),
        )),
    };
    let (lo, hi) = match addr {
        AddrSpec::Net(p) if p.is_host() => return Ok(vec![Some(p)]),
        AddrSpec::Net(p) if !hosts => {
            if p.is_empty() {
                return Err(mismatch(
                    set,
                    "a /0 network cannot be stored (ipset refuses CIDR 0)".into(),
                ));
            }
            return Ok(vec![Some(p)]);
        }
        AddrSpec::Net(p) => v4_range(p.addr(), last_v4(p))?,
        AddrSpec::Range(r) => v4_range(r.start(), r.end())?,
    };
    if !hosts {
        let nets = range_to_cidrs(lo, hi);
        check_expansion(set, nets.len() as u128 * per_addr)?;
        return Ok(nets.into_iter().map(Some).collect());
    }
    check_expansion(set, (u128::from(hi - lo) + 1) * per_addr)?;
    Ok((lo..=hi)
        .map(|a| Some(Prefix::host(IpAddr::V4(Ipv4Addr::from(a)))))
        .collect())
}

/// Refuses an expansion beyond [`MAX_EXPANSION`] elements.
fn check_expansion(set: &IpSet, count: u128) -> Result<(), ErrorKind> {
    if count > MAX_EXPANSION {
        return Err(mismatch(
            set,
            format!(
                "the entry expands to {count} elements; rampart expands at most {MAX_EXPANSION} at once"
            ),
        ));
    }
    Ok(())
}

/// The last address of a prefix, as an address of its family.
fn last_v4(p: Prefix) -> IpAddr {
    match p.addr() {
        IpAddr::V4(a) => {
            let host_bits = u32::MAX.checked_shr(u32::from(p.len())).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) | host_bits))
        }
        v6 => v6,
    }
}

/// The fewest IPv4 networks covering `lo..=hi` exactly, in address order. No /0: the kernel
/// refuses it in sets and splits the full range into two /1 networks, as done here.
fn range_to_cidrs(lo: u32, hi: u32) -> Vec<Prefix> {
    let mut out = Vec::new();
    let mut start = u64::from(lo);
    let end = u64::from(hi) + 1;
    while start < end {
        // The largest block aligned at `start` that does not pass `end`.
        let mut size = 1u64 << start.trailing_zeros().min(31);
        while start + size > end {
            size >>= 1;
        }
        let len = 32 - size.trailing_zeros() as u8;
        let addr = IpAddr::V4(Ipv4Addr::from(start as u32));
        out.push(Prefix::new(addr, len).expect("length at most 32"));
        start += size;
    }
    out
}

/// The element as `ipset save` prints it: host addresses without `/32`, ports as
/// `proto:port` after a comma, bitmap ports bare.
fn element_text(entry: &SetEntry) -> String {
    let addr = entry.addr.map(|p| {
        if p.is_host() {
            p.addr().to_string()
        } else {
            p.to_string()
        }
    });
    let port = entry.port.map(|(proto, range)| (proto, port_text(range)));
    match (addr, port) {
        (Some(a), Some((proto, port))) => format!("{a},{proto}:{port}"),
        (Some(a), None) => a,
        (None, Some((_, port))) => port,
        (None, None) => String::new(),
    }
}

/// The sets in `ipset save` format: each `create` line followed by its `add` lines.
///
/// The kernel's `bucketsize` and random `initval` are not printed: they are not modelled and
/// do not change what a set matches; `ipset restore` accepts the lines without them.
pub fn print_sets(ruleset: &Ruleset) -> String {
    let mut out = String::new();
    for set in &ruleset.sets {
        out.push_str(&create_line(set));
        out.push('\n');
        for entry in &set.entries {
            out.push_str(&add_line(set, entry));
            out.push('\n');
        }
    }
    out
}

fn create_line(set: &IpSet) -> String {
    let mut line = format!("create {} {}", set.name, set.kind.name());
    if set.kind == SetKind::BitmapPort {
        let range = set.port_range.unwrap_or(PortRange {
            lo: 0,
            hi: u16::MAX,
        });
        line += &format!(" range {}-{}", range.lo, range.hi);
    } else {
        line += &format!(
            " family {} hashsize {} maxelem {}",
            family_name(set.family),
            set.hashsize.unwrap_or(DEFAULT_HASHSIZE),
            set.maxelem.unwrap_or(DEFAULT_MAXELEM)
        );
    }
    if let Some(t) = set.timeout {
        line += &format!(" timeout {t}");
    }
    for flag in &set.flags {
        line += &format!(" {flag}");
    }
    line
}

fn add_line(set: &IpSet, entry: &SetEntry) -> String {
    let mut line = format!("add {} {}", set.name, element_text(entry));
    if let Some(t) = entry.timeout {
        line += &format!(" timeout {t}");
    }
    if let Some(c) = entry.counters {
        line += &format!(" packets {} bytes {}", c.packets, c.bytes);
    }
    if let Some(c) = &entry.comment {
        line += &format!(" comment \"{c}\"");
    }
    line
}

#[cfg(test)]
mod tests;
