//! Set-element lists: the body of `NFT_MSG_NEWSETELEM`, `NFT_MSG_DELSETELEM` and
//! `NFT_MSG_GETSETELEM` (`enum nft_set_elem_list_attributes`,
//! `enum nft_set_elem_attributes`, `enum nft_data_attributes`).
//!
//! ```text
//! NFTA_SET_ELEM_LIST_TABLE     "rampart\0"
//! NFTA_SET_ELEM_LIST_SET       "blocklist\0"
//! NFTA_SET_ELEM_LIST_ELEMENTS  nest
//!   NFTA_LIST_ELEM             nest (libnftnl numbers these 1, 2, 3…; the kernel sends 1)
//!     NFTA_SET_ELEM_FLAGS      be32  NFT_SET_ELEM_INTERVAL_END on the end of a range
//!     NFTA_SET_ELEM_TIMEOUT    be64  milliseconds
//!     NFTA_SET_ELEM_KEY        nest
//!       NFTA_DATA_VALUE        the key, network byte order (4 or 16 bytes for addresses)
//! ```
//!
//! Interval sets with one field (`type ipv4_addr; flags interval`) use the classic
//! encoding on nft 1.0.6 and kernel 6.18: a range `[a, b)` is two elements, key `a`, and
//! key `b` with `NFT_SET_ELEM_INTERVAL_END`. `NFTA_SET_ELEM_KEY_END` is only used for
//! concatenated interval sets (`NFT_SET_CONCAT`, the pipapo backend); it is parsed and
//! emitted here but the client never sends it.
//!
//! The kernel's dumps set no `NLA_F_NESTED` bit and number every `NFTA_LIST_ELEM` 1;
//! libnftnl sets the bit and counts. [`Nest`] and [`ListElem`] keep both as received, so
//! parse→emit gives the same bytes either way.

use super::attr::{
    emit_nest, emit_nla, emit_string, len_all, parse_be32, parse_be64, parse_string, string_len,
    NlaBuffer, NlaIter, RawAttr, NLA_F_NESTED, NLA_HDRLEN,
};
use super::{Emitable, WireError};

const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;

/// `NFTA_LIST_ELEM`, the one attribute inside a list.
pub(crate) const NFTA_LIST_ELEM: u16 = 1;

const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
const NFTA_SET_ELEM_KEY_END: u16 = 10;
// NFTA_SET_ELEM_DATA (maps), _USERDATA (comments), _EXPR(ESSIONS), _OBJREF and _PAD are
// not used by address sets; they stay `ElemAttr::Other`.

const NFTA_DATA_VALUE: u16 = 1;
// NFTA_DATA_VERDICT is for verdict maps only.

/// `NFT_SET_ELEM_INTERVAL_END`: this element closes a range.
pub(crate) const NFT_SET_ELEM_INTERVAL_END: u32 = 0x1;

/// A nest: its attributes and whether the `NLA_F_NESTED` bit was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nest<T> {
    /// `NLA_F_NESTED` was (or is to be) set on the nest's type.
    pub flagged: bool,
    /// The attributes inside.
    pub attrs: Vec<T>,
}

impl<T> Nest<T> {
    /// A nest flagged the way libnftnl sends it.
    pub fn new(attrs: Vec<T>) -> Nest<T> {
        Nest {
            flagged: true,
            attrs,
        }
    }
    fn raw_kind(&self, kind: u16) -> u16 {
        if self.flagged {
            kind | NLA_F_NESTED
        } else {
            kind
        }
    }
}

impl<T: Emitable> Nest<T> {
    pub(crate) fn len(&self) -> usize {
        NLA_HDRLEN + len_all(&self.attrs)
    }
    /// Emits the nest as attribute `kind`, flagged as it was received.
    pub(crate) fn emit_as(&self, buffer: &mut [u8], kind: u16) -> usize {
        emit_nest(buffer, self.raw_kind(kind), &self.attrs)
    }
}

pub(crate) fn parse_nest<T>(
    nla: &NlaBuffer<'_>,
    item: impl Fn(&NlaBuffer<'_>) -> Result<T, WireError>,
) -> Result<Nest<T>, WireError> {
    let attrs = NlaIter::new(nla.value())
        .map(|n| n.and_then(|n| item(&n)))
        .collect::<Result<_, _>>()?;
    Ok(Nest {
        flagged: nla.nested_flag(),
        attrs,
    })
}

/// `enum nft_data_attributes`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataAttr {
    /// `NFTA_DATA_VALUE`: raw bytes, network byte order for addresses.
    Value(Vec<u8>),
    /// Anything else, raw.
    Other(RawAttr),
}

impl DataAttr {
    fn parse(nla: &NlaBuffer<'_>) -> Result<DataAttr, WireError> {
        Ok(match nla.raw_kind() {
            NFTA_DATA_VALUE => DataAttr::Value(nla.value().to_vec()),
            _ => DataAttr::Other(RawAttr::from_nla(nla)),
        })
    }
}

impl Emitable for DataAttr {
    fn buffer_len(&self) -> usize {
        match self {
            DataAttr::Value(v) => super::align(NLA_HDRLEN + v.len()),
            DataAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        match self {
            DataAttr::Value(v) => {
                emit_nla(buffer, NFTA_DATA_VALUE, v.len(), |b| b.copy_from_slice(v));
            }
            DataAttr::Other(raw) => raw.emit(buffer),
        }
    }
}

/// `enum nft_set_elem_attributes`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElemAttr {
    /// `NFTA_SET_ELEM_KEY`.
    Key(Nest<DataAttr>),
    /// `NFTA_SET_ELEM_KEY_END` (concatenated interval sets only).
    KeyEnd(Nest<DataAttr>),
    /// `NFTA_SET_ELEM_FLAGS` (`NFT_SET_ELEM_*`).
    Flags(u32),
    /// `NFTA_SET_ELEM_TIMEOUT`, milliseconds.
    Timeout(u64),
    /// `NFTA_SET_ELEM_EXPIRATION`, milliseconds left (dumps).
    Expiration(u64),
    /// Anything else, raw.
    Other(RawAttr),
}

impl ElemAttr {
    /// A key nest holding one value.
    pub fn key(value: &[u8]) -> ElemAttr {
        ElemAttr::Key(Nest::new(vec![DataAttr::Value(value.to_vec())]))
    }

    fn parse(nla: &NlaBuffer<'_>) -> Result<ElemAttr, WireError> {
        let v = nla.value();
        Ok(match nla.kind() {
            NFTA_SET_ELEM_KEY if nla.raw_kind() & !NLA_F_NESTED == NFTA_SET_ELEM_KEY => {
                ElemAttr::Key(parse_nest(nla, DataAttr::parse)?)
            }
            NFTA_SET_ELEM_KEY_END if nla.raw_kind() & !NLA_F_NESTED == NFTA_SET_ELEM_KEY_END => {
                ElemAttr::KeyEnd(parse_nest(nla, DataAttr::parse)?)
            }
            _ => match nla.raw_kind() {
                NFTA_SET_ELEM_FLAGS => parse_be32(v).map(ElemAttr::Flags),
                NFTA_SET_ELEM_TIMEOUT => parse_be64(v).map(ElemAttr::Timeout),
                NFTA_SET_ELEM_EXPIRATION => parse_be64(v).map(ElemAttr::Expiration),
                _ => None,
            }
            .unwrap_or_else(|| ElemAttr::Other(RawAttr::from_nla(nla))),
        })
    }
}

impl Emitable for ElemAttr {
    fn buffer_len(&self) -> usize {
        match self {
            ElemAttr::Key(n) | ElemAttr::KeyEnd(n) => n.len(),
            ElemAttr::Flags(_) => 8,
            ElemAttr::Timeout(_) | ElemAttr::Expiration(_) => 12,
            ElemAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        match self {
            ElemAttr::Key(n) => {
                emit_nest(buffer, n.raw_kind(NFTA_SET_ELEM_KEY), &n.attrs);
            }
            ElemAttr::KeyEnd(n) => {
                emit_nest(buffer, n.raw_kind(NFTA_SET_ELEM_KEY_END), &n.attrs);
            }
            ElemAttr::Flags(f) => {
                emit_nla(buffer, NFTA_SET_ELEM_FLAGS, 4, |b| {
                    b.copy_from_slice(&f.to_be_bytes())
                });
            }
            ElemAttr::Timeout(ms) => {
                emit_nla(buffer, NFTA_SET_ELEM_TIMEOUT, 8, |b| {
                    b.copy_from_slice(&ms.to_be_bytes())
                });
            }
            ElemAttr::Expiration(ms) => {
                emit_nla(buffer, NFTA_SET_ELEM_EXPIRATION, 8, |b| {
                    b.copy_from_slice(&ms.to_be_bytes())
                });
            }
            ElemAttr::Other(raw) => raw.emit(buffer),
        }
    }
}

/// One `NFTA_LIST_ELEM` nest: a set element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListElem {
    /// The nest's attribute number without flags: `NFTA_LIST_ELEM` (1) from the kernel,
    /// 1, 2, 3… from libnftnl. The kernel does not check it.
    pub index: u16,
    /// `NLA_F_NESTED` was set.
    pub flagged: bool,
    /// The element's attributes.
    pub attrs: Vec<ElemAttr>,
}

impl ListElem {
    fn parse(nla: &NlaBuffer<'_>) -> Result<ListElem, WireError> {
        let nest = parse_nest(nla, ElemAttr::parse)?;
        Ok(ListElem {
            index: nla.kind(),
            flagged: nest.flagged,
            attrs: nest.attrs,
        })
    }

    /// The key's value bytes, if there is a key with a value.
    pub fn key(&self) -> Option<&[u8]> {
        self.attrs.iter().find_map(|a| match a {
            ElemAttr::Key(n) => n.attrs.iter().find_map(|d| match d {
                DataAttr::Value(v) => Some(v.as_slice()),
                DataAttr::Other(_) => None,
            }),
            _ => None,
        })
    }

    /// `NFTA_SET_ELEM_FLAGS`, 0 when absent.
    pub fn flags(&self) -> u32 {
        self.attrs
            .iter()
            .find_map(|a| match a {
                ElemAttr::Flags(f) => Some(*f),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Whether this element closes a range (`NFT_SET_ELEM_INTERVAL_END`).
    pub fn is_interval_end(&self) -> bool {
        self.flags() & NFT_SET_ELEM_INTERVAL_END != 0
    }

    /// `NFTA_SET_ELEM_TIMEOUT` in milliseconds.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.attrs.iter().find_map(|a| match a {
            ElemAttr::Timeout(t) => Some(*t),
            _ => None,
        })
    }

    /// `NFTA_SET_ELEM_EXPIRATION` in milliseconds.
    pub fn expiration_ms(&self) -> Option<u64> {
        self.attrs.iter().find_map(|a| match a {
            ElemAttr::Expiration(t) => Some(*t),
            _ => None,
        })
    }
}

impl Emitable for ListElem {
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

/// `enum nft_set_elem_list_attributes`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListAttr {
    /// `NFTA_SET_ELEM_LIST_TABLE`.
    Table(String),
    /// `NFTA_SET_ELEM_LIST_SET`.
    Set(String),
    /// `NFTA_SET_ELEM_LIST_ELEMENTS`.
    Elements(Nest<ListElem>),
    /// `NFTA_SET_ELEM_LIST_SET_ID`: names a set created earlier in the same batch (nft
    /// sends it always; the kernel uses it only when the name is not found).
    SetId(u32),
    /// Anything else, raw.
    Other(RawAttr),
}

impl ListAttr {
    /// Parses one list attribute.
    pub(crate) fn parse(nla: &NlaBuffer<'_>) -> Result<ListAttr, WireError> {
        let v = nla.value();
        if nla.kind() == NFTA_SET_ELEM_LIST_ELEMENTS
            && nla.raw_kind() & !NLA_F_NESTED == NFTA_SET_ELEM_LIST_ELEMENTS
        {
            return Ok(ListAttr::Elements(parse_nest(nla, ListElem::parse)?));
        }
        Ok(match nla.raw_kind() {
            NFTA_SET_ELEM_LIST_TABLE => parse_string(v).map(ListAttr::Table),
            NFTA_SET_ELEM_LIST_SET => parse_string(v).map(ListAttr::Set),
            NFTA_SET_ELEM_LIST_SET_ID => parse_be32(v).map(ListAttr::SetId),
            _ => None,
        }
        .unwrap_or_else(|| ListAttr::Other(RawAttr::from_nla(nla))))
    }
}

impl Emitable for ListAttr {
    fn buffer_len(&self) -> usize {
        match self {
            ListAttr::Table(s) | ListAttr::Set(s) => string_len(s),
            ListAttr::Elements(n) => n.len(),
            ListAttr::SetId(_) => 8,
            ListAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        match self {
            ListAttr::Table(s) => {
                emit_string(buffer, NFTA_SET_ELEM_LIST_TABLE, s);
            }
            ListAttr::Set(s) => {
                emit_string(buffer, NFTA_SET_ELEM_LIST_SET, s);
            }
            ListAttr::Elements(n) => {
                emit_nest(buffer, n.raw_kind(NFTA_SET_ELEM_LIST_ELEMENTS), &n.attrs);
            }
            ListAttr::SetId(id) => {
                emit_nla(buffer, NFTA_SET_ELEM_LIST_SET_ID, 4, |b| {
                    b.copy_from_slice(&id.to_be_bytes())
                });
            }
            ListAttr::Other(raw) => raw.emit(buffer),
        }
    }
}
