//! [`TableShape`]: a table's chains, sets (their declarations, never their elements) and
//! rules (with counters, comments and a fingerprint), read from netlink at a cost that does
//! not grow with the number of set elements.
//!
//! Why: `nft list table`, `nft -t list table` and `nft list chain` all fetch every set
//! element of the table first (nft builds its whole cache), seconds with a few hundred
//! thousand interval elements. Here three dumps restricted to the table are read instead:
//!
//! ```text
//! GETSET   dump, NFTA_SET_TABLE   ──▶ NEWSET*   (ENOENT: no such table → None)
//! GETCHAIN dump, NFTA_CHAIN_TABLE ──▶ NEWCHAIN* (kernel filters by family only; kept
//!                                                when NFTA_CHAIN_TABLE is ours)
//! GETRULE  dump, NFTA_RULE_TABLE  ──▶ NEWRULE*  (kernel filters by table)
//!          every reply's res_id = ruleset generation; all equal and no NLM_F_DUMP_INTR,
//!          or the three dumps are taken again (at most MAX_DUMP_ATTEMPTS times)
//! ```
//!
//! A rule's [`RuleShape::fingerprint`] is FNV-1a (64 bit) over its expressions without the
//! data that traffic changes (see [`Expr::stable_data`]) and its user data, so the same
//! rule keeps its fingerprint while it counts packets, and a change of match, verdict,
//! counter presence or comment changes it. The hash is this crate's, stable across runs
//! and machines for the same kernel encoding; it is not a security hash.

use std::io;

use crate::client::{MAX_DUMP_ATTEMPTS, NLM_F_DUMP_INTR};
use crate::wire::{
    Body, ChainAttr, ErrorMessage, Expr, HookAttr, Message, NfGenMsg, NftKind, RawAttr, RuleAttr,
    SetAttr, Udata, NLM_F_DUMP, NLM_F_REQUEST,
};
use crate::{Error, Family, SetClient};

/// `NFT_SET_INTERVAL`.
const NFT_SET_INTERVAL: u32 = 0x4;
/// `NFT_SET_MAP`.
const NFT_SET_MAP: u32 = 0x8;
/// `NFT_SET_TIMEOUT`.
const NFT_SET_TIMEOUT: u32 = 0x10;

/// A table as the kernel holds it, without set elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// The table's family.
    pub family: Family,
    /// The table's name.
    pub name: String,
    /// The ruleset generation the three dumps saw (low 16 bits, the replies' `res_id`);
    /// `None` when the table has no chains, sets or rules to carry it.
    pub generation: Option<u16>,
    /// Chains in the kernel's order (creation order).
    pub chains: Vec<ChainShape>,
    /// Sets in the kernel's order, anonymous sets (`NFT_SET_ANONYMOUS`, nft's `{ … }` in
    /// a rule) included.
    pub sets: Vec<SetShape>,
    /// Rules, chain by chain in the kernel's chain order, each chain's rules in
    /// evaluation order.
    pub rules: Vec<RuleShape>,
}

impl TableShape {
    /// The chain named `name`.
    pub fn chain(&self, name: &str) -> Option<&ChainShape> {
        self.chains.iter().find(|c| c.name == name)
    }
    /// The set named `name`.
    pub fn set(&self, name: &str) -> Option<&SetShape> {
        self.sets.iter().find(|s| s.name == name)
    }
    /// The rules of chain `name`, in order.
    pub fn rules_of<'a>(&'a self, chain: &'a str) -> impl Iterator<Item = &'a RuleShape> + 'a {
        self.rules.iter().filter(move |r| r.chain == chain)
    }
}

/// A chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainShape {
    /// Name.
    pub name: String,
    /// The kernel's handle.
    pub handle: u64,
    /// The hook, for a base chain.
    pub hook: Option<BaseHook>,
}

/// Where a base chain is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseHook {
    /// `NF_INET_PRE_ROUTING` 0, `LOCAL_IN` 1, `FORWARD` 2, `LOCAL_OUT` 3,
    /// `POST_ROUTING` 4, `INGRESS` 5.
    pub hook: u32,
    /// Priority (`filter` is 0, `raw` -300, …).
    pub priority: i32,
    /// Chain type: `filter`, `nat` or `route`.
    pub kind: String,
    /// `NF_DROP` 0 or `NF_ACCEPT` 1.
    pub policy: Option<u32>,
    /// The device of an ingress chain.
    pub device: Option<String>,
}

/// A set's declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetShape {
    /// Name (`__set0`… for anonymous sets).
    pub name: String,
    /// The kernel's handle.
    pub handle: u64,
    /// `NFT_SET_*` flags: anonymous 0x1, constant 0x2, interval 0x4, map 0x8, timeout
    /// 0x10, eval (dynamic) 0x20, object 0x40, concat 0x80, expr 0x100.
    pub flags: u32,
    /// nft's key datatype number (7 `ipv4_addr`, 8 `ipv6_addr`; concatenations pack
    /// several).
    pub key_type: u32,
    /// Key length in bytes.
    pub key_len: u32,
    /// A map's data type and length.
    pub data: Option<(u32, u32)>,
    /// The default element timeout (`timeout 1h` in the declaration), milliseconds.
    pub timeout_ms: Option<u64>,
    /// The garbage-collection interval, milliseconds.
    pub gc_interval_ms: Option<u32>,
    /// `NFT_SET_POL_PERFORMANCE` 0 or `NFT_SET_POL_MEMORY` 1.
    pub policy: Option<u32>,
    /// libnftnl's user data as stored (key byte order, `typeof` expressions, comment):
    /// compare it to tell two declarations apart.
    pub userdata: Vec<u8>,
    /// The kernel's element count (`NFTA_SET_COUNT`), when it sends one; the kernel keeps
    /// it, nothing reads the elements. An interval set counts one per range (kernel 6.18:
    /// 200,000 separate /32s count 200,000).
    pub elements: Option<u32>,
}

impl SetShape {
    /// `flags interval`.
    pub fn is_interval(&self) -> bool {
        self.flags & NFT_SET_INTERVAL != 0
    }
    /// `flags timeout`.
    pub fn has_timeout(&self) -> bool {
        self.flags & NFT_SET_TIMEOUT != 0
    }
    /// A map (`NFT_SET_MAP`).
    pub fn is_map(&self) -> bool {
        self.flags & NFT_SET_MAP != 0
    }
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleShape {
    /// The chain holding it.
    pub chain: String,
    /// The kernel's handle (`nft -a`).
    pub handle: u64,
    /// 0-based position within its chain.
    pub position: usize,
    /// Hash of the expressions (without counter values) and the user data: equal for the
    /// same rule before and after it counts, different when match, verdict or comment
    /// differ.
    pub fingerprint: u64,
    /// Packets of the rule's first counter expression.
    pub packets: Option<u64>,
    /// Bytes of the rule's first counter expression.
    pub bytes: Option<u64>,
    /// The comment (`comment "…"`).
    pub comment: Option<String>,
}

/// What one round of the three dumps found.
enum Round {
    Missing,
    Mixed,
    Whole(TableShape),
}

/// One dump's replies: bodies, the generations seen, and whether one was interrupted.
struct Dumped {
    bodies: Vec<Body>,
    generations: Vec<u16>,
    interrupted: bool,
}

impl SetClient {
    /// The table's chains, sets and rules, read without its set elements: three netlink
    /// dumps restricted to the table, taken again when a commit lands between or inside
    /// them. `Ok(None)` when the table does not exist.
    ///
    /// Cost: proportional to the table's chains, sets and rules (and to the chains of
    /// the family's other tables, which the kernel's chain dump does not filter), never
    /// to set elements.
    ///
    /// ```no_run
    /// use rampart_nfnl::{Family, SetClient};
    /// let mut client = SetClient::open()?;
    /// if let Some(shape) = client.table_shape(Family::Inet, "rampart")? {
    ///     for rule in &shape.rules {
    ///         println!("{} #{} {:?} {:?}", rule.chain, rule.position, rule.packets, rule.comment);
    ///     }
    /// }
    /// # Ok::<(), rampart_nfnl::Error>(())
    /// ```
    pub fn table_shape(
        &mut self,
        family: Family,
        table: &str,
    ) -> Result<Option<TableShape>, Error> {
        for _ in 0..MAX_DUMP_ATTEMPTS {
            match self.shape_round(family, table)? {
                Round::Missing => return Ok(None),
                Round::Mixed => continue,
                Round::Whole(shape) => return Ok(Some(shape)),
            }
        }
        Err(Error::Io {
            what: "receive",
            source: io::Error::new(
                io::ErrorKind::Interrupted,
                format!(
                    "table {family} {table} changed during each of {MAX_DUMP_ATTEMPTS} readings"
                ),
            ),
        })
    }

    fn shape_round(&mut self, family: Family, table: &str) -> Result<Round, Error> {
        let nfgen = NfGenMsg::new(family.number());
        let refused = |what, e: ErrorMessage| Error::Dump {
            family,
            table: table.to_owned(),
            what,
            errno: nix::errno::Errno::from_raw(-e.code),
            reason: e.message().map(str::to_owned),
        };
        // Sets first: the kernel looks the table up before it starts this dump, so a
        // missing table shows here as ENOENT.
        let sets = match self.dump(Body::Set {
            kind: NftKind::GetSet,
            nfgen,
            attrs: vec![SetAttr::Table(table.to_owned())],
        })? {
            Ok(d) => d,
            Err(e) if e.code == -(nix::errno::Errno::ENOENT as i32) => return Ok(Round::Missing),
            Err(e) => return Err(refused("set", e)),
        };
        let chains = self
            .dump(Body::Chain {
                kind: NftKind::GetChain,
                nfgen,
                attrs: vec![ChainAttr::Table(table.to_owned())],
            })?
            .map_err(|e| refused("chain", e))?;
        let rules = self
            .dump(Body::Rule {
                kind: NftKind::GetRule,
                nfgen,
                attrs: vec![RuleAttr::Table(table.to_owned())],
            })?
            .map_err(|e| refused("rule", e))?;
        let generations: Vec<u16> = [&sets, &chains, &rules]
            .iter()
            .flat_map(|d| d.generations.iter().copied())
            .collect();
        let generation = generations.first().copied();
        if sets.interrupted
            || chains.interrupted
            || rules.interrupted
            || generations.iter().any(|g| Some(*g) != generation)
        {
            return Ok(Round::Mixed);
        }
        Ok(Round::Whole(TableShape {
            family,
            name: table.to_owned(),
            generation,
            chains: chains
                .bodies
                .into_iter()
                .filter_map(|b| match b {
                    Body::Chain { attrs, .. } => chain_shape(attrs, table),
                    _ => None,
                })
                .collect(),
            sets: sets
                .bodies
                .into_iter()
                .filter_map(|b| match b {
                    Body::Set { attrs, .. } => set_shape(attrs, table),
                    _ => None,
                })
                .collect(),
            rules: rule_shapes(rules.bodies, table),
        }))
    }

    /// Sends one dump request and collects its replies; `Err(inner)` when the kernel
    /// refused it.
    fn dump(&mut self, body: Body) -> Result<Result<Dumped, ErrorMessage>, Error> {
        let seq = self.next_seq();
        self.send_one(&Message::new(NLM_F_REQUEST | NLM_F_DUMP, seq, body))?;
        let mut out = Dumped {
            bodies: Vec::new(),
            generations: Vec::new(),
            interrupted: false,
        };
        loop {
            for m in self.receive()? {
                if m.header.seq != seq {
                    continue; // a reply left over from an earlier call
                }
                out.interrupted |= m.header.flags & NLM_F_DUMP_INTR != 0;
                match m.body {
                    Body::Done(_) => return Ok(Ok(out)),
                    Body::Error(e) if e.code != 0 => return Ok(Err(e)),
                    Body::Error(_) => {}
                    b => {
                        let (Body::Set { nfgen, .. }
                        | Body::Chain { nfgen, .. }
                        | Body::Rule { nfgen, .. }) = &b
                        else {
                            continue;
                        };
                        if out.generations.last() != Some(&nfgen.res_id) {
                            out.generations.push(nfgen.res_id);
                        }
                        out.bodies.push(b);
                    }
                }
            }
        }
    }
}

fn chain_shape(attrs: Vec<ChainAttr>, table: &str) -> Option<ChainShape> {
    let (mut ours, mut name, mut handle) = (false, None, 0);
    let (mut hook, mut kind, mut policy) = (None, None, None);
    for a in attrs {
        match a {
            ChainAttr::Table(t) => ours = t == table,
            ChainAttr::Name(n) => name = Some(n),
            ChainAttr::Handle(h) => handle = h,
            ChainAttr::Hook(n) => hook = Some(n.attrs),
            ChainAttr::Type(t) => kind = Some(t),
            ChainAttr::Policy(p) => policy = Some(p),
            _ => {}
        }
    }
    let hook = hook.map(|attrs| {
        let mut h = BaseHook {
            hook: 0,
            priority: 0,
            kind: kind.unwrap_or_default(),
            policy,
            device: None,
        };
        for a in attrs {
            match a {
                HookAttr::Hooknum(n) => h.hook = n,
                HookAttr::Priority(p) => h.priority = p,
                HookAttr::Dev(d) => h.device = Some(d),
                _ => {}
            }
        }
        h
    });
    ours.then_some(ChainShape {
        name: name?,
        handle,
        hook,
    })
}

fn set_shape(attrs: Vec<SetAttr>, table: &str) -> Option<SetShape> {
    let mut ours = false;
    let mut s = SetShape {
        name: String::new(),
        handle: 0,
        flags: 0,
        key_type: 0,
        key_len: 0,
        data: None,
        timeout_ms: None,
        gc_interval_ms: None,
        policy: None,
        userdata: Vec::new(),
        elements: None,
    };
    let (mut data_type, mut data_len) = (None, None);
    for a in attrs {
        match a {
            SetAttr::Table(t) => ours = t == table,
            SetAttr::Name(n) => s.name = n,
            SetAttr::Handle(h) => s.handle = h,
            SetAttr::Flags(f) => s.flags = f,
            SetAttr::KeyType(k) => s.key_type = k,
            SetAttr::KeyLen(k) => s.key_len = k,
            SetAttr::DataType(d) => data_type = Some(d),
            SetAttr::DataLen(d) => data_len = Some(d),
            SetAttr::Timeout(t) => s.timeout_ms = Some(t),
            SetAttr::GcInterval(g) => s.gc_interval_ms = Some(g),
            SetAttr::Policy(p) => s.policy = Some(p),
            SetAttr::Userdata(u) => s.userdata = u,
            SetAttr::Count(n) => s.elements = Some(n),
            _ => {}
        }
    }
    s.data = data_type.zip(data_len);
    (ours && !s.name.is_empty()).then_some(s)
}

fn rule_shapes(bodies: Vec<Body>, table: &str) -> Vec<RuleShape> {
    let mut out: Vec<RuleShape> = Vec::new();
    for b in bodies {
        let Body::Rule { attrs, .. } = b else {
            continue;
        };
        let (mut ours, mut chain, mut handle) = (false, None, 0);
        let (mut exprs, mut userdata) = (Vec::new(), None);
        for a in attrs {
            match a {
                RuleAttr::Table(t) => ours = t == table,
                RuleAttr::Chain(c) => chain = Some(c),
                RuleAttr::Handle(h) => handle = h,
                RuleAttr::Expressions(n) => exprs = n.attrs,
                RuleAttr::Userdata(u) => userdata = Some(u),
                _ => {}
            }
        }
        let (true, Some(chain)) = (ours, chain) else {
            continue;
        };
        // The dump gives each chain's rules together and in order: one more than the
        // rule before when it is of the same chain (a count back would be quadratic).
        let position = match out.last() {
            Some(prev) if prev.chain == chain => prev.position + 1,
            _ => 0,
        };
        let counter = exprs.iter().find_map(Expr::counter);
        out.push(RuleShape {
            chain,
            handle,
            position,
            fingerprint: fingerprint(&exprs, userdata.as_deref()),
            packets: counter.map(|c| c.packets),
            bytes: counter.map(|c| c.bytes),
            comment: userdata.as_deref().and_then(Udata::comment_of_rule),
        });
    }
    out
}

/// FNV-1a, 64 bit.
struct Fnv(u64);

impl Fnv {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(Fnv::PRIME);
        }
    }
    /// A length-prefixed field, so that no two different sequences hash the same bytes.
    fn field(&mut self, tag: u8, bytes: &[u8]) {
        self.write(&[tag]);
        self.write(&(bytes.len() as u32).to_le_bytes());
        self.write(bytes);
    }
    fn attr(&mut self, a: &RawAttr) {
        self.write(&a.kind.to_le_bytes());
        self.field(b'a', &a.value);
    }
}

/// The rule fingerprint: per expression its name, its data attributes other than those
/// traffic changes, and any other attribute; then the user data.
pub(crate) fn fingerprint(exprs: &[Expr], userdata: Option<&[u8]>) -> u64 {
    use crate::wire::ExprAttr;
    let mut h = Fnv(Fnv::OFFSET);
    for e in exprs {
        h.field(b'e', e.name().unwrap_or("").as_bytes());
        for a in e.stable_data() {
            h.attr(a);
        }
        for a in &e.attrs {
            if let ExprAttr::Other(raw) = a {
                h.write(b"o");
                h.attr(raw);
            }
        }
    }
    if let Some(u) = userdata {
        h.field(b'u', u);
    }
    h.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::shape_tests::{
        KERNEL_RULE_SSH, RULE_SSH_COMMENT_LAST, RULE_SSH_PACKETS_LOW, RULE_SSH_PORT_LOW,
    };
    use crate::wire::{MessageIter, NlmsgBuffer};

    fn shape_of(bytes: &[u8]) -> RuleShape {
        let msg = Message::parse(&NlmsgBuffer::new_checked(bytes).unwrap()).unwrap();
        let mut rules = rule_shapes(vec![msg.body], "rampart");
        assert_eq!(rules.len(), 1);
        rules.pop().unwrap()
    }

    #[test]
    fn the_captured_rule_reads_as_its_shape() {
        let r = shape_of(KERNEL_RULE_SSH);
        assert_eq!((r.chain.as_str(), r.handle, r.position), ("input", 5, 0));
        assert_eq!((r.packets, r.bytes), (Some(0), Some(0)));
        assert_eq!(r.comment.as_deref(), Some("ssh"));
        // Pinned: the hash is part of what `save` may store.
        assert_eq!(r.fingerprint, 0x4cf7_deea_36b0_6c16);
    }

    #[test]
    fn counting_keeps_the_fingerprint_and_a_change_of_port_or_comment_does_not() {
        let base = shape_of(KERNEL_RULE_SSH);
        let with = |at: usize, v: u8| {
            let mut b = KERNEL_RULE_SSH.to_vec();
            b[at] = v;
            shape_of(&b)
        };
        let counted = with(RULE_SSH_PACKETS_LOW, 9);
        assert_eq!(counted.packets, Some(9));
        assert_eq!(counted.fingerprint, base.fingerprint);
        let port = with(RULE_SSH_PORT_LOW, 23);
        assert_ne!(port.fingerprint, base.fingerprint);
        let comment = with(RULE_SSH_COMMENT_LAST, b'd');
        assert_eq!(comment.comment.as_deref(), Some("ssd"));
        assert_ne!(comment.fingerprint, base.fingerprint);
    }

    #[test]
    fn rules_of_other_tables_are_left_out_and_positions_count_per_chain() {
        let mut two = KERNEL_RULE_SSH.to_vec();
        two.extend_from_slice(KERNEL_RULE_SSH);
        let bodies: Vec<Body> = MessageIter::new(&two).map(|m| m.unwrap().body).collect();
        let rules = rule_shapes(bodies.clone(), "rampart");
        assert_eq!(rules.iter().map(|r| r.position).collect::<Vec<_>>(), [0, 1]);
        assert!(rule_shapes(bodies, "other").is_empty());
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        let hash = |s: &[u8]| {
            let mut h = Fnv(Fnv::OFFSET);
            h.write(s);
            h.0
        };
        assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
