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
//!       | conntrack entry (nfgenmsg + attrs)     IPCTNL_MSG_CT_NEW / GET / DELETE
//!       | NFLOG packet (nfgenmsg + attrs)       NFULNL_MSG_PACKET
//!       | NFLOG config (nfgenmsg + attrs)       NFULNL_MSG_CONFIG
//!       | error or ack (nlmsgerr)               NLMSG_ERROR
//!       | done                                  NLMSG_DONE
//!       | anything else, raw
//! chain attrs: TABLE, HANDLE, NAME, HOOK → HOOKNUM, PRIORITY; POLICY, TYPE, FLAGS, USE
//! rule attrs: TABLE, CHAIN, HANDLE, EXPRESSIONS → LIST_ELEM* → NAME, DATA (raw);
//!             USERDATA (libnftnl TLVs: comment)
//! set-element list attrs: TABLE, SET, SET_ID, ELEMENTS → LIST_ELEM* → KEY → DATA_VALUE,
//!                          KEY_END, FLAGS, TIMEOUT, EXPIRATION, … (unknown kept raw)
//! generation attrs: GEN_ID, GEN_PROC_PID, GEN_PROC_NAME
//! conntrack, NFLOG: see `conntrack.rs`, `nflog.rs`
//! ```
//!
//! sock_diag (`NETLINK_SOCK_DIAG`, another netlink protocol) shares the header and
//! attribute views; its fixed structs are in `inet_diag.rs` ([`InetDiagReq`],
//! [`InetDiagMsg`]) and are not a [`Body`]: its message types mean something else there.

mod attr;
mod chain;
mod conntrack;
mod errmsg;
mod gen;
mod header;
mod inet_diag;
mod message;
mod nflog;
mod rule;
mod set;
mod setelem;
mod udata;

pub use attr::{NlaBuffer, NlaIter, RawAttr};
pub use chain::{ChainAttr, HookAttr};
pub use conntrack::{
    Conntrack, Counters, CtKind, CtTcpState, Icmp, TcpInfo, Tuple, IPS_ASSURED, IPS_CONFIRMED,
    IPS_DST_NAT, IPS_SEEN_REPLY, IPS_SRC_NAT,
};
pub use errmsg::{ErrAttr, ErrorMessage};
pub use gen::GenAttr;
pub use header::{NetlinkHeader, NfGenMsg, NlmsgBuffer};
pub use inet_diag::{InetDiagMsg, InetDiagReq, SockId, TcpState, ALL_STATES};
pub use message::{Body, Message, MessageIter, NftKind};
pub use nflog::{
    NflogAttr, NflogConfigAttr, NFULNL_CFG_CMD_BIND, NFULNL_CFG_CMD_UNBIND, NFULNL_COPY_PACKET,
};
pub use rule::{Counter, Expr, ExprAttr, RuleAttr};
pub use set::SetAttr;
pub use setelem::{DataAttr, ElemAttr, ListAttr, ListElem, Nest};
pub use udata::Udata;

pub(crate) use attr::align;
pub(crate) use conntrack::NFNL_SUBSYS_CTNETLINK;
pub(crate) use header::{NFGENMSG_LEN, NLMSG_HDRLEN};
pub(crate) use inet_diag::{INET_DIAG_MSG_LEN, SOCK_DIAG_BY_FAMILY};
pub(crate) use message::NLMSG_ERROR;
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
mod observe_tests;
#[cfg(test)]
pub(crate) mod shape_tests;
#[cfg(test)]
pub(crate) mod tests;
