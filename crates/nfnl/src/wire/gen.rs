//! The ruleset generation (`enum nft_gen_attributes`): the body of `NFT_MSG_GETGEN` (a
//! bare `nfgenmsg`) and of the kernel's `NFT_MSG_NEWGEN` answer.
//!
//! ```text
//! nfgenmsg            AF_UNSPEC, NFNETLINK_V0, res_id = generation (low 16 bits, BE)
//! NFTA_GEN_ID         be32  the generation: +1 on every commit that changed something
//! NFTA_GEN_PROC_PID   be32  pid of the process that made the last commit
//! NFTA_GEN_PROC_NAME  the comm of that process, NUL-terminated
//! ```
//!
//! The kernel (`nf_tables_commit`) returns early without a new generation when the
//! batch changed nothing, so reads never move the number; it is 32 bits and wraps.

use super::attr::{
    emit_nla, emit_string, parse_be32, parse_string, string_len, NlaBuffer, RawAttr,
};
use super::Emitable;

const NFTA_GEN_ID: u16 = 1;
const NFTA_GEN_PROC_PID: u16 = 2;
const NFTA_GEN_PROC_NAME: u16 = 3;

/// One generation attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GenAttr {
    /// `NFTA_GEN_ID`: the ruleset generation.
    Id(u32),
    /// `NFTA_GEN_PROC_PID`: the process behind the last commit.
    ProcPid(u32),
    /// `NFTA_GEN_PROC_NAME`: its name.
    ProcName(String),
    /// Anything else, raw.
    Other(RawAttr),
}

impl GenAttr {
    pub(crate) fn parse(nla: &NlaBuffer<'_>) -> GenAttr {
        let v = nla.value();
        match nla.raw_kind() {
            NFTA_GEN_ID => parse_be32(v).map(GenAttr::Id),
            NFTA_GEN_PROC_PID => parse_be32(v).map(GenAttr::ProcPid),
            NFTA_GEN_PROC_NAME => parse_string(v).map(GenAttr::ProcName),
            _ => None,
        }
        .unwrap_or_else(|| GenAttr::Other(RawAttr::from_nla(nla)))
    }
}

impl Emitable for GenAttr {
    fn buffer_len(&self) -> usize {
        match self {
            GenAttr::Id(_) | GenAttr::ProcPid(_) => 8,
            GenAttr::ProcName(s) => string_len(s),
            GenAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        let be32 = |buffer: &mut [u8], kind, v: u32| {
            emit_nla(buffer, kind, 4, |b| b.copy_from_slice(&v.to_be_bytes()));
        };
        match self {
            GenAttr::Id(v) => be32(buffer, NFTA_GEN_ID, *v),
            GenAttr::ProcPid(v) => be32(buffer, NFTA_GEN_PROC_PID, *v),
            GenAttr::ProcName(s) => {
                emit_string(buffer, NFTA_GEN_PROC_NAME, s);
            }
            GenAttr::Other(raw) => raw.emit(buffer),
        }
    }
}
