//! Rule attributes (`enum nft_rule_attributes`, `enum nft_expr_attributes`,
//! `enum nft_counter_attributes`): the body of `NFT_MSG_NEWRULE` (every message of a
//! GETRULE dump) and `NFT_MSG_GETRULE`.
//!
//! ```text
//! NFTA_RULE_TABLE        "rampart\0"
//! NFTA_RULE_CHAIN        "input\0"
//! NFTA_RULE_HANDLE       be64
//! NFTA_RULE_EXPRESSIONS  nest
//!   NFTA_LIST_ELEM       nest, one per expression, in evaluation order
//!     NFTA_EXPR_NAME     "payload\0", "cmp\0", "lookup\0", "counter\0", "immediate\0", …
//!     NFTA_EXPR_DATA     nest, the expression's own attributes (kept raw here), e.g.
//!       NFTA_COUNTER_BYTES    be64   (counter)
//!       NFTA_COUNTER_PACKETS  be64
//! NFTA_RULE_USERDATA     libnftnl TLVs (see `udata.rs`): the rule's comment
//! ```
//!
//! Expression data stays raw one level down ([`RawAttr`]): its meaning depends on the
//! expression's name, and readers here only need the counter's two numbers and bytes to
//! hash. The kernel's dumps set no `NLA_F_NESTED` bit; [`Nest`] and [`Expr`] keep the
//! bit as received, so parse→emit gives the same bytes.
//!
//! A GETRULE dump with `NFTA_RULE_TABLE` (and optionally `NFTA_RULE_CHAIN`) holds only
//! that table's rules (`nf_tables_dump_rules_start` keeps the names; kernel 6.18); a
//! table that does not exist gives an empty dump, not an error.

use super::attr::{
    emit_nest, emit_nla, emit_string, len_all, parse_be64, parse_string, string_len, NlaBuffer,
    RawAttr, NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK,
};
use super::setelem::{parse_nest, Nest};
use super::{Emitable, WireError};

const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_POSITION: u16 = 6;
const NFTA_RULE_USERDATA: u16 = 7;
// NFTA_RULE_COMPAT (xtables matches), _PAD, _ID, _POSITION_ID and _CHAIN_ID (names within
// a batch) are not read; they stay `RuleAttr::Other`.

const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;

const NFTA_COUNTER_BYTES: u16 = 1;
const NFTA_COUNTER_PACKETS: u16 = 2;
const NFTA_COUNTER_PAD: u16 = 3;

const NFTA_QUOTA_PAD: u16 = 3;
const NFTA_QUOTA_CONSUMED: u16 = 4;

const NFTA_LAST_SET: u16 = 1;
const NFTA_LAST_MSECS: u16 = 2;
const NFTA_LAST_PAD: u16 = 3;

/// Data attributes that traffic changes, by expression name: a counter's numbers, a
/// quota's consumed bytes, `last`'s time stamp (and the 64-bit padding beside them).
/// Everything else in a rule's dump changes only when the rule is replaced.
const TRAFFIC_ATTRS: &[(&str, &[u16])] = &[
    (
        "counter",
        &[NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS, NFTA_COUNTER_PAD],
    ),
    ("quota", &[NFTA_QUOTA_CONSUMED, NFTA_QUOTA_PAD]),
    ("last", &[NFTA_LAST_SET, NFTA_LAST_MSECS, NFTA_LAST_PAD]),
];

/// One rule attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleAttr {
    /// `NFTA_RULE_TABLE`.
    Table(String),
    /// `NFTA_RULE_CHAIN`.
    Chain(String),
    /// `NFTA_RULE_HANDLE`.
    Handle(u64),
    /// `NFTA_RULE_EXPRESSIONS`.
    Expressions(Nest<Expr>),
    /// `NFTA_RULE_POSITION`: the handle of the rule to insert after (requests only).
    Position(u64),
    /// `NFTA_RULE_USERDATA`: libnftnl's TLVs, raw ([`Udata`](super::Udata) reads them).
    Userdata(Vec<u8>),
    /// Anything else, raw.
    Other(RawAttr),
}

impl RuleAttr {
    pub(crate) fn parse(nla: &NlaBuffer<'_>) -> Result<RuleAttr, WireError> {
        let v = nla.value();
        if nla.kind() == NFTA_RULE_EXPRESSIONS
            && nla.raw_kind() & !NLA_F_NESTED == NFTA_RULE_EXPRESSIONS
        {
            return Ok(RuleAttr::Expressions(parse_nest(nla, Expr::parse)?));
        }
        Ok(match nla.raw_kind() {
            NFTA_RULE_TABLE => parse_string(v).map(RuleAttr::Table),
            NFTA_RULE_CHAIN => parse_string(v).map(RuleAttr::Chain),
            NFTA_RULE_HANDLE => parse_be64(v).map(RuleAttr::Handle),
            NFTA_RULE_POSITION => parse_be64(v).map(RuleAttr::Position),
            NFTA_RULE_USERDATA => Some(RuleAttr::Userdata(v.to_vec())),
            _ => None,
        }
        .unwrap_or_else(|| RuleAttr::Other(RawAttr::from_nla(nla))))
    }
}

impl Emitable for RuleAttr {
    fn buffer_len(&self) -> usize {
        match self {
            RuleAttr::Table(s) | RuleAttr::Chain(s) => string_len(s),
            RuleAttr::Handle(_) | RuleAttr::Position(_) => 12,
            RuleAttr::Expressions(n) => n.len(),
            RuleAttr::Userdata(v) => super::align(NLA_HDRLEN + v.len()),
            RuleAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        let be64 = |buffer: &mut [u8], kind, v: u64| {
            emit_nla(buffer, kind, 8, |b| b.copy_from_slice(&v.to_be_bytes()));
        };
        match self {
            RuleAttr::Table(s) => {
                emit_string(buffer, NFTA_RULE_TABLE, s);
            }
            RuleAttr::Chain(s) => {
                emit_string(buffer, NFTA_RULE_CHAIN, s);
            }
            RuleAttr::Handle(h) => be64(buffer, NFTA_RULE_HANDLE, *h),
            RuleAttr::Expressions(n) => {
                n.emit_as(buffer, NFTA_RULE_EXPRESSIONS);
            }
            RuleAttr::Position(h) => be64(buffer, NFTA_RULE_POSITION, *h),
            RuleAttr::Userdata(v) => {
                emit_nla(buffer, NFTA_RULE_USERDATA, v.len(), |b| {
                    b.copy_from_slice(v)
                });
            }
            RuleAttr::Other(raw) => raw.emit(buffer),
        }
    }
}

/// One `NFTA_LIST_ELEM` of a rule's expression list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    /// The nest's attribute number without flags (`NFTA_LIST_ELEM`, 1).
    pub index: u16,
    /// `NLA_F_NESTED` was set.
    pub flagged: bool,
    /// Name, data and anything else.
    pub attrs: Vec<ExprAttr>,
}

/// `enum nft_expr_attributes`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExprAttr {
    /// `NFTA_EXPR_NAME`.
    Name(String),
    /// `NFTA_EXPR_DATA`: the expression's attributes, raw.
    Data(Nest<RawAttr>),
    /// Anything else, raw.
    Other(RawAttr),
}

/// A counter's numbers (`NFTA_COUNTER_PACKETS`, `NFTA_COUNTER_BYTES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted.
    pub bytes: u64,
}

impl Expr {
    fn parse(nla: &NlaBuffer<'_>) -> Result<Expr, WireError> {
        let nest = parse_nest(nla, ExprAttr::parse)?;
        Ok(Expr {
            index: nla.kind(),
            flagged: nest.flagged,
            attrs: nest.attrs,
        })
    }

    /// `NFTA_EXPR_NAME`.
    pub fn name(&self) -> Option<&str> {
        self.attrs.iter().find_map(|a| match a {
            ExprAttr::Name(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The attributes inside `NFTA_EXPR_DATA` (empty when there is none).
    pub fn data(&self) -> &[RawAttr] {
        self.attrs
            .iter()
            .find_map(|a| match a {
                ExprAttr::Data(n) => Some(n.attrs.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// The data attributes that traffic does not change: all of them but a counter's
    /// numbers, a quota's consumed bytes and `last`'s time stamp.
    pub fn stable_data(&self) -> impl Iterator<Item = &RawAttr> {
        let traffic = self.name().map_or(&[][..], |name| {
            TRAFFIC_ATTRS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(&[][..], |(_, kinds)| *kinds)
        });
        self.data()
            .iter()
            .filter(move |a| !traffic.contains(&(a.kind & NLA_TYPE_MASK)))
    }

    /// The numbers of a `counter` expression; `None` for any other expression.
    pub fn counter(&self) -> Option<Counter> {
        if self.name() != Some("counter") {
            return None;
        }
        let mut c = Counter::default();
        for a in self.data() {
            match a.kind & NLA_TYPE_MASK {
                NFTA_COUNTER_BYTES => c.bytes = parse_be64(&a.value)?,
                NFTA_COUNTER_PACKETS => c.packets = parse_be64(&a.value)?,
                _ => {}
            }
        }
        Some(c)
    }
}

impl Emitable for Expr {
    fn buffer_len(&self) -> usize {
        NLA_HDRLEN + len_all(&self.attrs)
    }
    fn emit(&self, buffer: &mut [u8]) {
        let kind = if self.flagged {
            self.index | NLA_F_NESTED
        } else {
            self.index
        };
        emit_nest(buffer, kind, &self.attrs);
    }
}

impl ExprAttr {
    fn parse(nla: &NlaBuffer<'_>) -> Result<ExprAttr, WireError> {
        let v = nla.value();
        if nla.kind() == NFTA_EXPR_DATA && nla.raw_kind() & !NLA_F_NESTED == NFTA_EXPR_DATA {
            // Data that is not a list of attributes is kept whole rather than refused.
            return Ok(parse_nest(nla, |n| Ok(RawAttr::from_nla(n)))
                .map_or_else(|_| ExprAttr::Other(RawAttr::from_nla(nla)), ExprAttr::Data));
        }
        Ok(match nla.raw_kind() {
            NFTA_EXPR_NAME => parse_string(v).map(ExprAttr::Name),
            _ => None,
        }
        .unwrap_or_else(|| ExprAttr::Other(RawAttr::from_nla(nla))))
    }
}

impl Emitable for ExprAttr {
    fn buffer_len(&self) -> usize {
        match self {
            ExprAttr::Name(s) => string_len(s),
            ExprAttr::Data(n) => n.len(),
            ExprAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        match self {
            ExprAttr::Name(s) => {
                emit_string(buffer, NFTA_EXPR_NAME, s);
            }
            ExprAttr::Data(n) => {
                n.emit_as(buffer, NFTA_EXPR_DATA);
            }
            ExprAttr::Other(raw) => raw.emit(buffer),
        }
    }
}
