//! Set attributes (`enum nft_set_attributes`), as far as the client needs them: it asks
//! the kernel for a set's flags and key length before sending elements, so that an
//! interval set gets start/end pairs and a family mismatch is caught before the kernel
//! sees it; `table_shape` reads the rest of a set's declaration (timeout, map data,
//! handle, user data, element count).

use super::attr::{
    emit_nla, emit_string, parse_be32, parse_be64, parse_string, string_len, NlaBuffer, RawAttr,
};
use super::Emitable;

const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFTA_SET_DATA_LEN: u16 = 7;
const NFTA_SET_POLICY: u16 = 8;
const NFTA_SET_TIMEOUT: u16 = 11;
const NFTA_SET_GC_INTERVAL: u16 = 12;
const NFTA_SET_USERDATA: u16 = 13;
const NFTA_SET_HANDLE: u16 = 16;
const NFTA_SET_COUNT: u16 = 20;
// NFTA_SET_DESC (size, concatenation fields), _ID, _PAD, _OBJ_TYPE, _EXPR, _EXPRESSIONS
// and _TYPE (the backend; kernel 6.18 sends a "0xffff…" string there) are not read; they
// stay `SetAttr::Other`.

/// `NFT_SET_INTERVAL`: elements are ranges.
pub(crate) const NFT_SET_INTERVAL: u32 = 0x4;
/// `NFT_SET_TIMEOUT`: elements may carry a timeout.
pub(crate) const NFT_SET_TIMEOUT: u32 = 0x10;

/// One set attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetAttr {
    /// `NFTA_SET_TABLE`.
    Table(String),
    /// `NFTA_SET_NAME`.
    Name(String),
    /// `NFTA_SET_FLAGS` (`NFT_SET_*`).
    Flags(u32),
    /// `NFTA_SET_KEY_TYPE`: nft's datatype number (7 ipv4_addr, 8 ipv6_addr).
    KeyType(u32),
    /// `NFTA_SET_KEY_LEN` in bytes.
    KeyLen(u32),
    /// `NFTA_SET_DATA_TYPE`: a map's data type (nft's datatype number).
    DataType(u32),
    /// `NFTA_SET_DATA_LEN`: a map's data length in bytes.
    DataLen(u32),
    /// `NFTA_SET_POLICY` (`NFT_SET_POL_PERFORMANCE` 0, `NFT_SET_POL_MEMORY` 1).
    Policy(u32),
    /// `NFTA_SET_TIMEOUT`: the default element timeout in milliseconds.
    Timeout(u64),
    /// `NFTA_SET_GC_INTERVAL` in milliseconds.
    GcInterval(u32),
    /// `NFTA_SET_USERDATA`: libnftnl's TLVs (key byte order, `typeof`, comment), raw.
    Userdata(Vec<u8>),
    /// `NFTA_SET_HANDLE`.
    Handle(u64),
    /// `NFTA_SET_COUNT`: the number of elements (dumps, newer kernels; an interval set
    /// counts one per range on kernel 6.18).
    Count(u32),
    /// Anything else, raw.
    Other(RawAttr),
}

impl SetAttr {
    pub(crate) fn parse(nla: &NlaBuffer<'_>) -> SetAttr {
        let v = nla.value();
        match nla.raw_kind() {
            NFTA_SET_TABLE => parse_string(v).map(SetAttr::Table),
            NFTA_SET_NAME => parse_string(v).map(SetAttr::Name),
            NFTA_SET_FLAGS => parse_be32(v).map(SetAttr::Flags),
            NFTA_SET_KEY_TYPE => parse_be32(v).map(SetAttr::KeyType),
            NFTA_SET_KEY_LEN => parse_be32(v).map(SetAttr::KeyLen),
            NFTA_SET_DATA_TYPE => parse_be32(v).map(SetAttr::DataType),
            NFTA_SET_DATA_LEN => parse_be32(v).map(SetAttr::DataLen),
            NFTA_SET_POLICY => parse_be32(v).map(SetAttr::Policy),
            NFTA_SET_TIMEOUT => parse_be64(v).map(SetAttr::Timeout),
            NFTA_SET_GC_INTERVAL => parse_be32(v).map(SetAttr::GcInterval),
            NFTA_SET_USERDATA => Some(SetAttr::Userdata(v.to_vec())),
            NFTA_SET_HANDLE => parse_be64(v).map(SetAttr::Handle),
            NFTA_SET_COUNT => parse_be32(v).map(SetAttr::Count),
            _ => None,
        }
        .unwrap_or_else(|| SetAttr::Other(RawAttr::from_nla(nla)))
    }
}

impl Emitable for SetAttr {
    fn buffer_len(&self) -> usize {
        match self {
            SetAttr::Table(s) | SetAttr::Name(s) => string_len(s),
            SetAttr::Flags(_)
            | SetAttr::KeyType(_)
            | SetAttr::KeyLen(_)
            | SetAttr::DataType(_)
            | SetAttr::DataLen(_)
            | SetAttr::Policy(_)
            | SetAttr::GcInterval(_)
            | SetAttr::Count(_) => 8,
            SetAttr::Timeout(_) | SetAttr::Handle(_) => 12,
            SetAttr::Userdata(v) => super::align(4 + v.len()),
            SetAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        let be32 = |buffer: &mut [u8], kind, v: u32| {
            emit_nla(buffer, kind, 4, |b| b.copy_from_slice(&v.to_be_bytes()));
        };
        let be64 = |buffer: &mut [u8], kind, v: u64| {
            emit_nla(buffer, kind, 8, |b| b.copy_from_slice(&v.to_be_bytes()));
        };
        match self {
            SetAttr::Table(s) => {
                emit_string(buffer, NFTA_SET_TABLE, s);
            }
            SetAttr::Name(s) => {
                emit_string(buffer, NFTA_SET_NAME, s);
            }
            SetAttr::Flags(v) => be32(buffer, NFTA_SET_FLAGS, *v),
            SetAttr::KeyType(v) => be32(buffer, NFTA_SET_KEY_TYPE, *v),
            SetAttr::KeyLen(v) => be32(buffer, NFTA_SET_KEY_LEN, *v),
            SetAttr::DataType(v) => be32(buffer, NFTA_SET_DATA_TYPE, *v),
            SetAttr::DataLen(v) => be32(buffer, NFTA_SET_DATA_LEN, *v),
            SetAttr::Policy(v) => be32(buffer, NFTA_SET_POLICY, *v),
            SetAttr::GcInterval(v) => be32(buffer, NFTA_SET_GC_INTERVAL, *v),
            SetAttr::Count(v) => be32(buffer, NFTA_SET_COUNT, *v),
            SetAttr::Timeout(v) => be64(buffer, NFTA_SET_TIMEOUT, *v),
            SetAttr::Handle(v) => be64(buffer, NFTA_SET_HANDLE, *v),
            SetAttr::Userdata(v) => {
                emit_nla(buffer, NFTA_SET_USERDATA, v.len(), |b| b.copy_from_slice(v));
            }
            SetAttr::Other(raw) => raw.emit(buffer),
        }
    }
}
