//! Set attributes (`enum nft_set_attributes`), as far as the client needs them: it asks
//! the kernel for a set's flags and key length before sending elements, so that an
//! interval set gets start/end pairs and a family mismatch is caught before the kernel
//! sees it.

use super::attr::{
    emit_nla, emit_string, parse_be32, parse_string, string_len, NlaBuffer, RawAttr,
};
use super::Emitable;

const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
// NFTA_SET_DATA_TYPE and later (data, policy, desc, id, timeout, gc, userdata, handle,
// expressions…) are not read; they stay `SetAttr::Other`.

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
            _ => None,
        }
        .unwrap_or_else(|| SetAttr::Other(RawAttr::from_nla(nla)))
    }
}

impl Emitable for SetAttr {
    fn buffer_len(&self) -> usize {
        match self {
            SetAttr::Table(s) | SetAttr::Name(s) => string_len(s),
            SetAttr::Flags(_) | SetAttr::KeyType(_) | SetAttr::KeyLen(_) => 8,
            SetAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        let be32 = |buffer: &mut [u8], kind, v: u32| {
            emit_nla(buffer, kind, 4, |b| b.copy_from_slice(&v.to_be_bytes()));
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
            SetAttr::Other(raw) => raw.emit(buffer),
        }
    }
}
