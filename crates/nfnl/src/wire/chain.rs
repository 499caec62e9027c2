//! Chain attributes (`enum nft_chain_attributes`, `enum nft_hook_attributes`): the body
//! of `NFT_MSG_NEWCHAIN` (every message of a GETCHAIN dump) and `NFT_MSG_GETCHAIN`.
//!
//! ```text
//! NFTA_CHAIN_TABLE     "rampart\0"
//! NFTA_CHAIN_HANDLE    be64
//! NFTA_CHAIN_NAME      "input\0"
//! NFTA_CHAIN_HOOK      nest (base chains only)
//!   NFTA_HOOK_HOOKNUM  be32  NF_INET_LOCAL_IN (1), …
//!   NFTA_HOOK_PRIORITY be32  two's complement: -150 is 0xffffff6a
//! NFTA_CHAIN_POLICY    be32  NF_DROP (0) / NF_ACCEPT (1), base chains only
//! NFTA_CHAIN_TYPE      "filter\0" | "nat\0" | "route\0", base chains only
//! NFTA_CHAIN_COUNTERS  nest (base chains; kept raw)
//! NFTA_CHAIN_FLAGS     be32  NFT_CHAIN_BASE, …
//! NFTA_CHAIN_USE       be32  references (rules jumping here, …)
//! ```
//!
//! The kernel's GETCHAIN dump (`nf_tables_dump_chains`, kernel 6.18) filters by family
//! only, whatever `NFTA_CHAIN_TABLE` the request carries; readers keep the chains whose
//! `Table` is theirs.

use super::attr::{
    emit_nla, emit_string, parse_be32, parse_be64, parse_string, string_len, NlaBuffer, RawAttr,
    NLA_F_NESTED,
};
use super::setelem::{parse_nest, Nest};
use super::{Emitable, WireError};

const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_HANDLE: u16 = 2;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_USE: u16 = 6;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_CHAIN_FLAGS: u16 = 10;
// NFTA_CHAIN_COUNTERS (a base chain's own packet count), _PAD, _ID (names a chain within
// a batch) and _USERDATA (chain comments) are not read; they stay `ChainAttr::Other`.

const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_HOOK_DEV: u16 = 3;
// NFTA_HOOK_DEVS (netdev chains on several devices) stays `HookAttr::Other`.

/// One chain attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainAttr {
    /// `NFTA_CHAIN_TABLE`.
    Table(String),
    /// `NFTA_CHAIN_HANDLE`.
    Handle(u64),
    /// `NFTA_CHAIN_NAME`.
    Name(String),
    /// `NFTA_CHAIN_HOOK`: a base chain's hook.
    Hook(Nest<HookAttr>),
    /// `NFTA_CHAIN_POLICY`: the verdict at the end of a base chain (`NF_DROP` 0,
    /// `NF_ACCEPT` 1).
    Policy(u32),
    /// `NFTA_CHAIN_USE`: references to the chain.
    Use(u32),
    /// `NFTA_CHAIN_TYPE`: `filter`, `nat` or `route`.
    Type(String),
    /// `NFTA_CHAIN_FLAGS` (`NFT_CHAIN_*`).
    Flags(u32),
    /// Anything else, raw.
    Other(RawAttr),
}

impl ChainAttr {
    pub(crate) fn parse(nla: &NlaBuffer<'_>) -> Result<ChainAttr, WireError> {
        let v = nla.value();
        if nla.kind() == NFTA_CHAIN_HOOK && nla.raw_kind() & !NLA_F_NESTED == NFTA_CHAIN_HOOK {
            return Ok(ChainAttr::Hook(parse_nest(nla, |n| {
                Ok(HookAttr::parse(n))
            })?));
        }
        Ok(match nla.raw_kind() {
            NFTA_CHAIN_TABLE => parse_string(v).map(ChainAttr::Table),
            NFTA_CHAIN_HANDLE => parse_be64(v).map(ChainAttr::Handle),
            NFTA_CHAIN_NAME => parse_string(v).map(ChainAttr::Name),
            NFTA_CHAIN_POLICY => parse_be32(v).map(ChainAttr::Policy),
            NFTA_CHAIN_USE => parse_be32(v).map(ChainAttr::Use),
            NFTA_CHAIN_TYPE => parse_string(v).map(ChainAttr::Type),
            NFTA_CHAIN_FLAGS => parse_be32(v).map(ChainAttr::Flags),
            _ => None,
        }
        .unwrap_or_else(|| ChainAttr::Other(RawAttr::from_nla(nla))))
    }
}

impl Emitable for ChainAttr {
    fn buffer_len(&self) -> usize {
        match self {
            ChainAttr::Table(s) | ChainAttr::Name(s) | ChainAttr::Type(s) => string_len(s),
            ChainAttr::Handle(_) => 12,
            ChainAttr::Hook(n) => n.len(),
            ChainAttr::Policy(_) | ChainAttr::Use(_) | ChainAttr::Flags(_) => 8,
            ChainAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        let be32 = |buffer: &mut [u8], kind, v: u32| {
            emit_nla(buffer, kind, 4, |b| b.copy_from_slice(&v.to_be_bytes()));
        };
        match self {
            ChainAttr::Table(s) => {
                emit_string(buffer, NFTA_CHAIN_TABLE, s);
            }
            ChainAttr::Handle(h) => {
                emit_nla(buffer, NFTA_CHAIN_HANDLE, 8, |b| {
                    b.copy_from_slice(&h.to_be_bytes())
                });
            }
            ChainAttr::Name(s) => {
                emit_string(buffer, NFTA_CHAIN_NAME, s);
            }
            ChainAttr::Hook(n) => {
                n.emit_as(buffer, NFTA_CHAIN_HOOK);
            }
            ChainAttr::Policy(v) => be32(buffer, NFTA_CHAIN_POLICY, *v),
            ChainAttr::Use(v) => be32(buffer, NFTA_CHAIN_USE, *v),
            ChainAttr::Type(s) => {
                emit_string(buffer, NFTA_CHAIN_TYPE, s);
            }
            ChainAttr::Flags(v) => be32(buffer, NFTA_CHAIN_FLAGS, *v),
            ChainAttr::Other(raw) => raw.emit(buffer),
        }
    }
}

/// One attribute of a base chain's hook.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookAttr {
    /// `NFTA_HOOK_HOOKNUM`: `NF_INET_PRE_ROUTING` 0, `LOCAL_IN` 1, `FORWARD` 2,
    /// `LOCAL_OUT` 3, `POST_ROUTING` 4, `INGRESS` 5.
    Hooknum(u32),
    /// `NFTA_HOOK_PRIORITY`: a signed priority sent as a big-endian u32.
    Priority(i32),
    /// `NFTA_HOOK_DEV`: the device of a netdev (or inet ingress) chain.
    Dev(String),
    /// Anything else, raw.
    Other(RawAttr),
}

impl HookAttr {
    fn parse(nla: &NlaBuffer<'_>) -> HookAttr {
        let v = nla.value();
        match nla.raw_kind() {
            NFTA_HOOK_HOOKNUM => parse_be32(v).map(HookAttr::Hooknum),
            NFTA_HOOK_PRIORITY => parse_be32(v).map(|p| HookAttr::Priority(p as i32)),
            NFTA_HOOK_DEV => parse_string(v).map(HookAttr::Dev),
            _ => None,
        }
        .unwrap_or_else(|| HookAttr::Other(RawAttr::from_nla(nla)))
    }
}

impl Emitable for HookAttr {
    fn buffer_len(&self) -> usize {
        match self {
            HookAttr::Hooknum(_) | HookAttr::Priority(_) => 8,
            HookAttr::Dev(s) => string_len(s),
            HookAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        let be32 = |buffer: &mut [u8], kind, v: u32| {
            emit_nla(buffer, kind, 4, |b| b.copy_from_slice(&v.to_be_bytes()));
        };
        match self {
            HookAttr::Hooknum(v) => be32(buffer, NFTA_HOOK_HOOKNUM, *v),
            HookAttr::Priority(p) => be32(buffer, NFTA_HOOK_PRIORITY, *p as u32),
            HookAttr::Dev(s) => {
                emit_string(buffer, NFTA_HOOK_DEV, s);
            }
            HookAttr::Other(raw) => raw.emit(buffer),
        }
    }
}
