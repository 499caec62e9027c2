//! Whole messages: a `nlmsghdr` and a typed body, and an iterator over a receive buffer.

use super::attr::{align, emit_all, len_all, NlaIter};
use super::chain::ChainAttr;
use super::conntrack::{Conntrack, CtKind, NFNL_SUBSYS_CTNETLINK};
use super::errmsg::ErrorMessage;
use super::gen::GenAttr;
use super::header::{NetlinkHeader, NfGenMsg, NlmsgBuffer, NFGENMSG_LEN, NLMSG_HDRLEN};
use super::nflog::{
    NflogAttr, NflogConfigAttr, NFNL_SUBSYS_ULOG, NFULNL_MSG_CONFIG, NFULNL_MSG_PACKET,
};
use super::rule::RuleAttr;
use super::set::SetAttr;
use super::setelem::ListAttr;
use super::{Emitable, WireError};

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_ROOT | NLM_F_MATCH`.
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;

pub(crate) const NLMSG_ERROR: u16 = 0x2;
const NLMSG_DONE: u16 = 0x3;
// NLMSG_NOOP and NLMSG_OVERRUN are never sent by nfnetlink; they parse as `Body::Other`.

/// `NLMSG_MIN_TYPE`: the first batch message type.
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
/// `res_id` of batch messages: the subsystem the batch is for.
pub(crate) const NFNL_SUBSYS_NFTABLES: u16 = 10;

// Chains and rules are read (`SetClient::table_shape`), never written: they parse as
// `Body::Chain` and `Body::Rule`.
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_GETSET: u16 = 10;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;
// Chain and rule messages are read (dumps for a table's shape), never written: rampart
// applies rulesets with `nft -f`. Table, object and flowtable messages parse as
// `Body::Other`.

/// The nf_tables message types this crate reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NftKind {
    /// `NFT_MSG_NEWCHAIN` (every message of a GETCHAIN dump).
    NewChain,
    /// `NFT_MSG_GETCHAIN`.
    GetChain,
    /// `NFT_MSG_NEWRULE` (every message of a GETRULE dump).
    NewRule,
    /// `NFT_MSG_GETRULE`.
    GetRule,
    /// `NFT_MSG_NEWSET` (the reply to a GETSET).
    NewSet,
    /// `NFT_MSG_GETSET`.
    GetSet,
    /// `NFT_MSG_NEWSETELEM` (add; also every message of a GETSETELEM dump).
    NewSetElem,
    /// `NFT_MSG_GETSETELEM`.
    GetSetElem,
    /// `NFT_MSG_DELSETELEM`.
    DelSetElem,
    /// `NFT_MSG_NEWGEN` (the reply to a GETGEN).
    NewGen,
    /// `NFT_MSG_GETGEN`.
    GetGen,
}

impl NftKind {
    fn from_msg(msg: u16) -> Option<NftKind> {
        Some(match msg {
            NFT_MSG_NEWCHAIN => NftKind::NewChain,
            NFT_MSG_GETCHAIN => NftKind::GetChain,
            NFT_MSG_NEWRULE => NftKind::NewRule,
            NFT_MSG_GETRULE => NftKind::GetRule,
            NFT_MSG_NEWSET => NftKind::NewSet,
            NFT_MSG_GETSET => NftKind::GetSet,
            NFT_MSG_NEWSETELEM => NftKind::NewSetElem,
            NFT_MSG_GETSETELEM => NftKind::GetSetElem,
            NFT_MSG_DELSETELEM => NftKind::DelSetElem,
            NFT_MSG_NEWGEN => NftKind::NewGen,
            NFT_MSG_GETGEN => NftKind::GetGen,
            _ => return None,
        })
    }
    fn msg(self) -> u16 {
        match self {
            NftKind::NewChain => NFT_MSG_NEWCHAIN,
            NftKind::GetChain => NFT_MSG_GETCHAIN,
            NftKind::NewRule => NFT_MSG_NEWRULE,
            NftKind::GetRule => NFT_MSG_GETRULE,
            NftKind::NewSet => NFT_MSG_NEWSET,
            NftKind::GetSet => NFT_MSG_GETSET,
            NftKind::NewSetElem => NFT_MSG_NEWSETELEM,
            NftKind::GetSetElem => NFT_MSG_GETSETELEM,
            NftKind::DelSetElem => NFT_MSG_DELSETELEM,
            NftKind::NewGen => NFT_MSG_NEWGEN,
            NftKind::GetGen => NFT_MSG_GETGEN,
        }
    }
    fn is_chain(self) -> bool {
        matches!(self, NftKind::NewChain | NftKind::GetChain)
    }
    fn is_rule(self) -> bool {
        matches!(self, NftKind::NewRule | NftKind::GetRule)
    }
    fn is_set(self) -> bool {
        matches!(self, NftKind::NewSet | NftKind::GetSet)
    }
    fn is_gen(self) -> bool {
        matches!(self, NftKind::NewGen | NftKind::GetGen)
    }
    /// `nlmsg_type` for this message.
    pub fn nlmsg_type(self) -> u16 {
        NFNL_SUBSYS_NFTABLES << 8 | self.msg()
    }
}

/// What follows the `nlmsghdr`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// `NFNL_MSG_BATCH_BEGIN`.
    BatchBegin(NfGenMsg),
    /// `NFNL_MSG_BATCH_END`.
    BatchEnd(NfGenMsg),
    /// A chain message.
    Chain {
        /// New or get.
        kind: NftKind,
        /// Family and res_id.
        nfgen: NfGenMsg,
        /// Chain attributes.
        attrs: Vec<ChainAttr>,
    },
    /// A rule message.
    Rule {
        /// New or get.
        kind: NftKind,
        /// Family and res_id.
        nfgen: NfGenMsg,
        /// Rule attributes.
        attrs: Vec<RuleAttr>,
    },
    /// A set-element message.
    SetElems {
        /// New, get or delete.
        kind: NftKind,
        /// Family and res_id.
        nfgen: NfGenMsg,
        /// Table, set and elements.
        attrs: Vec<ListAttr>,
    },
    /// A set message.
    Set {
        /// New or get.
        kind: NftKind,
        /// Family and res_id.
        nfgen: NfGenMsg,
        /// Set attributes.
        attrs: Vec<SetAttr>,
    },
    /// A generation message: a GETGEN request (no attributes) or its NEWGEN answer.
    Gen {
        /// New or get.
        kind: NftKind,
        /// Family (`AF_UNSPEC`) and res_id (the generation's low 16 bits in replies).
        nfgen: NfGenMsg,
        /// Generation attributes.
        attrs: Vec<GenAttr>,
    },
    /// A conntrack message (ctnetlink): a dump answer, an event or a request.
    Conntrack {
        /// New, get or delete.
        kind: CtKind,
        /// Family (`NFPROTO_IPV4`/`_IPV6`; `AF_UNSPEC` in a dump request for both).
        nfgen: NfGenMsg,
        /// The entry.
        entry: Conntrack,
    },
    /// An NFLOG packet: one logged packet of the group in `nfgen.res_id`.
    NflogPacket {
        /// The packet's family and the group.
        nfgen: NfGenMsg,
        /// Its attributes.
        attrs: Vec<NflogAttr>,
    },
    /// An NFLOG configuration request (bind a group, set the copy mode).
    NflogConfig {
        /// `AF_UNSPEC` and the group.
        nfgen: NfGenMsg,
        /// Commands and settings.
        attrs: Vec<NflogConfigAttr>,
    },
    /// `NLMSG_ERROR`: an error or (code 0) an ACK.
    Error(ErrorMessage),
    /// `NLMSG_DONE`: the end of a dump, payload kept raw.
    Done(Vec<u8>),
    /// Any other type, payload kept raw.
    Other(Vec<u8>),
}

/// One netlink message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header; `length` is recomputed on emit.
    pub header: NetlinkHeader,
    /// The body, selected by `header.kind`.
    pub body: Body,
}

impl Message {
    /// A message with `nlmsg_type` taken from `body` (`Other`, `Done` and `Error` need
    /// the caller to set `header.kind`).
    pub fn new(flags: u16, seq: u32, body: Body) -> Message {
        let kind = match &body {
            Body::BatchBegin(_) => NFNL_MSG_BATCH_BEGIN,
            Body::BatchEnd(_) => NFNL_MSG_BATCH_END,
            Body::SetElems { kind, .. } | Body::Set { kind, .. } | Body::Gen { kind, .. } => {
                kind.nlmsg_type()
            }
            Body::Error(_) => NLMSG_ERROR,
            Body::Done(_) => NLMSG_DONE,
            Body::Chain { kind, .. } | Body::Rule { kind, .. } => kind.nlmsg_type(),
            Body::Conntrack { kind, .. } => kind.nlmsg_type(),
            Body::NflogPacket { .. } => NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET,
            Body::NflogConfig { .. } => NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG,
            Body::Other(_) => 0,
        };
        let mut m = Message {
            header: NetlinkHeader {
                length: 0,
                kind,
                flags,
                seq,
                pid: 0,
            },
            body,
        };
        m.header.length = m.buffer_len() as u32;
        m
    }

    /// A batch begin or end message for nf_tables.
    pub fn batch(begin: bool, seq: u32) -> Message {
        let nfgen = NfGenMsg {
            res_id: NFNL_SUBSYS_NFTABLES,
            ..NfGenMsg::new(0)
        };
        let body = if begin {
            Body::BatchBegin(nfgen)
        } else {
            Body::BatchEnd(nfgen)
        };
        Message::new(NLM_F_REQUEST, seq, body)
    }

    /// Parses a checked view.
    pub fn parse(view: &NlmsgBuffer<'_>) -> Result<Message, WireError> {
        let header = NetlinkHeader::parse(view);
        let payload = view.payload();
        let nft = (header.kind >> 8 == NFNL_SUBSYS_NFTABLES)
            .then(|| NftKind::from_msg(header.kind & 0xff))
            .flatten();
        let body = match (header.kind, nft) {
            (NFNL_MSG_BATCH_BEGIN, _) => Body::BatchBegin(NfGenMsg::parse(payload)?),
            (NFNL_MSG_BATCH_END, _) => Body::BatchEnd(NfGenMsg::parse(payload)?),
            (NLMSG_ERROR, _) => Body::Error(ErrorMessage::parse(payload, header.flags)?),
            (NLMSG_DONE, _) => Body::Done(payload.to_vec()),
            (kind, _)
                if kind >> 8 == NFNL_SUBSYS_CTNETLINK
                    && CtKind::from_msg(kind & 0xff).is_some() =>
            {
                let nfgen = NfGenMsg::parse(payload)?;
                Body::Conntrack {
                    kind: CtKind::from_msg(kind & 0xff).expect("checked"),
                    nfgen,
                    entry: Conntrack::parse(&payload[NFGENMSG_LEN..])?,
                }
            }
            (kind, _) if kind == NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET => {
                let nfgen = NfGenMsg::parse(payload)?;
                let attrs = NlaIter::new(&payload[NFGENMSG_LEN..])
                    .map(|a| a.map(|a| NflogAttr::parse(&a)))
                    .collect::<Result<_, _>>()?;
                Body::NflogPacket { nfgen, attrs }
            }
            (kind, _) if kind == NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG => {
                let nfgen = NfGenMsg::parse(payload)?;
                let attrs = NlaIter::new(&payload[NFGENMSG_LEN..])
                    .map(|a| a.map(|a| NflogConfigAttr::parse(&a)))
                    .collect::<Result<_, _>>()?;
                Body::NflogConfig { nfgen, attrs }
            }
            (_, Some(kind)) if kind.is_chain() => {
                let nfgen = NfGenMsg::parse(payload)?;
                let attrs = NlaIter::new(&payload[NFGENMSG_LEN..])
                    .map(|a| a.and_then(|a| ChainAttr::parse(&a)))
                    .collect::<Result<_, _>>()?;
                Body::Chain { kind, nfgen, attrs }
            }
            (_, Some(kind)) if kind.is_rule() => {
                let nfgen = NfGenMsg::parse(payload)?;
                let attrs = NlaIter::new(&payload[NFGENMSG_LEN..])
                    .map(|a| a.and_then(|a| RuleAttr::parse(&a)))
                    .collect::<Result<_, _>>()?;
                Body::Rule { kind, nfgen, attrs }
            }
            (_, Some(kind)) => {
                let nfgen = NfGenMsg::parse(payload)?;
                let attrs = NlaIter::new(&payload[NFGENMSG_LEN..]);
                if kind.is_gen() {
                    let attrs = attrs
                        .map(|a| a.map(|a| GenAttr::parse(&a)))
                        .collect::<Result<_, _>>()?;
                    Body::Gen { kind, nfgen, attrs }
                } else if kind.is_set() {
                    let attrs = attrs
                        .map(|a| a.map(|a| SetAttr::parse(&a)))
                        .collect::<Result<_, _>>()?;
                    Body::Set { kind, nfgen, attrs }
                } else {
                    let attrs = attrs
                        .map(|a| a.and_then(|a| ListAttr::parse(&a)))
                        .collect::<Result<_, _>>()?;
                    Body::SetElems { kind, nfgen, attrs }
                }
            }
            _ => Body::Other(payload.to_vec()),
        };
        Ok(Message { header, body })
    }

    fn body_len(&self) -> usize {
        match &self.body {
            Body::BatchBegin(_) | Body::BatchEnd(_) => NFGENMSG_LEN,
            Body::Chain { attrs, .. } => NFGENMSG_LEN + len_all(attrs),
            Body::Rule { attrs, .. } => NFGENMSG_LEN + len_all(attrs),
            Body::SetElems { attrs, .. } => NFGENMSG_LEN + len_all(attrs),
            Body::Set { attrs, .. } => NFGENMSG_LEN + len_all(attrs),
            Body::Gen { attrs, .. } => NFGENMSG_LEN + len_all(attrs),
            Body::Conntrack { entry, .. } => NFGENMSG_LEN + entry.buffer_len(),
            Body::NflogPacket { attrs, .. } => NFGENMSG_LEN + len_all(attrs),
            Body::NflogConfig { attrs, .. } => NFGENMSG_LEN + len_all(attrs),
            Body::Error(e) => e.buffer_len(),
            Body::Done(raw) | Body::Other(raw) => raw.len(),
        }
    }
}

impl Emitable for Message {
    fn buffer_len(&self) -> usize {
        align(NLMSG_HDRLEN + self.body_len())
    }

    fn emit(&self, buffer: &mut [u8]) {
        let len = NLMSG_HDRLEN + self.body_len();
        let header = NetlinkHeader {
            length: len as u32,
            ..self.header
        };
        header.emit(buffer);
        let body = &mut buffer[NLMSG_HDRLEN..len];
        match &self.body {
            Body::BatchBegin(g) | Body::BatchEnd(g) => g.emit(body),
            Body::Chain { nfgen, attrs, .. } => {
                nfgen.emit(body);
                emit_all(attrs, &mut body[NFGENMSG_LEN..]);
            }
            Body::Rule { nfgen, attrs, .. } => {
                nfgen.emit(body);
                emit_all(attrs, &mut body[NFGENMSG_LEN..]);
            }
            Body::SetElems { nfgen, attrs, .. } => {
                nfgen.emit(body);
                emit_all(attrs, &mut body[NFGENMSG_LEN..]);
            }
            Body::Set { nfgen, attrs, .. } => {
                nfgen.emit(body);
                emit_all(attrs, &mut body[NFGENMSG_LEN..]);
            }
            Body::Gen { nfgen, attrs, .. } => {
                nfgen.emit(body);
                emit_all(attrs, &mut body[NFGENMSG_LEN..]);
            }
            Body::Conntrack { nfgen, entry, .. } => {
                nfgen.emit(body);
                entry.emit(&mut body[NFGENMSG_LEN..]);
            }
            Body::NflogPacket { nfgen, attrs } => {
                nfgen.emit(body);
                emit_all(attrs, &mut body[NFGENMSG_LEN..]);
            }
            Body::NflogConfig { nfgen, attrs } => {
                nfgen.emit(body);
                emit_all(attrs, &mut body[NFGENMSG_LEN..]);
            }
            Body::Error(e) => e.emit(body),
            Body::Done(raw) | Body::Other(raw) => body.copy_from_slice(raw),
        }
        buffer[len..align(len)].fill(0);
    }
}

/// Iterates over the messages in one datagram.
#[derive(Debug, Clone)]
pub struct MessageIter<'a> {
    rest: &'a [u8],
}

impl<'a> MessageIter<'a> {
    /// Iterates over `buffer`.
    pub fn new(buffer: &'a [u8]) -> MessageIter<'a> {
        MessageIter { rest: buffer }
    }
}

impl Iterator for MessageIter<'_> {
    type Item = Result<Message, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = NlmsgBuffer::new_checked(self.rest).and_then(|view| {
            let step = align(view.length() as usize).min(self.rest.len());
            Message::parse(&view).map(|m| (m, step))
        });
        match parsed {
            Ok((m, step)) => {
                self.rest = &self.rest[step..];
                Some(Ok(m))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}
