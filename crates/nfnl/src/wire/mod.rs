//! The wire layer: views over received bytes and high-level values with `parse`,
//! `buffer_len` and `emit`, one file per concept.
//!
//! ```text
//! Message = nlmsghdr + body
//!   body: batch begin/end (nfgenmsg)            NFNL_MSG_BATCH_BEGIN / _END
//!       | chain (nfgenmsg + attrs)              NFT_MSG_NEWCHAIN / GETCHAIN
//!       | rule (nfgenmsg + attrs)               NFT_MSG_NEWRULE / GETRULE
//!       | set-element list (nfgenmsg + attrs)   NFT_MSG_NEWSETELEM / DELSETELEM / GETSETELEM
//!       | set (nfgenmsg + attrs)                NFT_MSG_NEWSET / GETSET
//!       | generation (nfgenmsg + attrs)         NFT_MSG_GETGEN / NEWGEN
//!       | error or ack (nlmsgerr)               NLMSG_ERROR
//!       | done                                  NLMSG_DONE
//!       | anything else, raw
//! chain attrs: TABLE, HANDLE, NAME, HOOK → HOOKNUM, PRIORITY; POLICY, TYPE, FLAGS, USE
//! rule attrs: TABLE, CHAIN, HANDLE, EXPRESSIONS → LIST_ELEM* → NAME, DATA (raw);
//!             USERDATA (libnftnl TLVs: comment)
//! set-element list attrs: TABLE, SET, SET_ID, ELEMENTS → LIST_ELEM* → KEY → DATA_VALUE,
//!                          KEY_END, FLAGS, TIMEOUT, EXPIRATION, … (unknown kept raw)
//! generation attrs: GEN_ID, GEN_PROC_PID, GEN_PROC_NAME
//! ```

mod attr;
mod chain;
mod errmsg;
mod gen;
mod header;
mod message;
mod rule;
mod set;
mod setelem;
mod udata;

pub use attr::{NlaBuffer, NlaIter, RawAttr};
pub use chain::{ChainAttr, HookAttr};
pub use errmsg::{ErrAttr, ErrorMessage};
pub use gen::GenAttr;
pub use header::{NetlinkHeader, NfGenMsg, NlmsgBuffer};
pub use message::{Body, Message, MessageIter, NftKind};
pub use rule::{Counter, Expr, ExprAttr, RuleAttr};
pub use set::SetAttr;
pub use setelem::{DataAttr, ElemAttr, ListAttr, ListElem, Nest};
pub use udata::Udata;

pub(crate) use attr::align;
pub(crate) use header::{NFGENMSG_LEN, NLMSG_HDRLEN};
pub(crate) use message::{NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST};
pub(crate) use set::{NFT_SET_INTERVAL, NFT_SET_TIMEOUT};
pub(crate) use setelem::{NFTA_LIST_ELEM, NFT_SET_ELEM_INTERVAL_END};

/// A value that can be written to a buffer it does not own.
pub trait Emitable {
    /// Bytes [`emit`](Emitable::emit) writes, padding included.
    fn buffer_len(&self) -> usize;
    /// Writes exactly `buffer_len()` bytes at the start of `buffer`; panics if it is
    /// shorter.
    fn emit(&self, buffer: &mut [u8]);
}

/// Bytes that are not a well-formed netlink message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends inside a fixed-size header.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A length field is shorter than its header or runs past the buffer.
    #[error("bad length in {0}")]
    BadLength(&'static str),
}

#[cfg(test)]
pub(crate) mod shape_tests;
#[cfg(test)]
pub(crate) mod tests;
