//! `NLMSG_ERROR` payloads: the kernel's answer to a request, an ACK when `error` is 0.
//!
//! ```text
//! +-----------+----------------------+---------------------------+----------------------+
//! | error i32 | quoted nlmsghdr (16) | quoted payload, unless    | extended-ACK TLVs if |
//! | (-errno)  | of the request       | NLM_F_CAPPED (NETLINK_CAP_ACK) | NLM_F_ACK_TLVS   |
//! +-----------+----------------------+---------------------------+----------------------+
//! ```
//!
//! With `NETLINK_EXT_ACK` the kernel adds `NLMSGERR_ATTR_OFFS`: the byte offset, from the
//! start of the quoted request, of the attribute it rejected. nf_tables points it at the
//! `NFTA_LIST_ELEM` that failed, which is how the client names the element.

use super::attr::{align, emit_nla, emit_string, parse_string, string_len, NlaIter, RawAttr};
use super::header::NLMSG_HDRLEN;
use super::{Emitable, NetlinkHeader, WireError};

/// The quoted request payload was left out (`NETLINK_CAP_ACK`).
pub(crate) const NLM_F_CAPPED: u16 = 0x100;
/// Extended-ACK TLVs follow (`NETLINK_EXT_ACK`).
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;

/// `NLMSGERR_ATTR_MSG`: a human-readable reason.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLMSGERR_ATTR_OFFS`: offset of the rejected attribute in the request.
const NLMSGERR_ATTR_OFFS: u16 = 2;
// NLMSGERR_ATTR_COOKIE, _POLICY, _MISS_TYPE and _MISS_NEST are not sent by nf_tables for
// set elements; they are kept as `ErrAttr::Other`.

/// One extended-ACK attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrAttr {
    /// `NLMSGERR_ATTR_MSG`.
    Msg(String),
    /// `NLMSGERR_ATTR_OFFS`.
    Offset(u32),
    /// Anything else, raw.
    Other(RawAttr),
}

impl ErrAttr {
    fn parse(nla: &super::NlaBuffer<'_>) -> ErrAttr {
        let v = nla.value();
        match nla.raw_kind() {
            NLMSGERR_ATTR_MSG => parse_string(v).map(ErrAttr::Msg),
            NLMSGERR_ATTR_OFFS => v
                .try_into()
                .ok()
                .map(|b| ErrAttr::Offset(u32::from_ne_bytes(b))),
            _ => None,
        }
        .unwrap_or_else(|| ErrAttr::Other(RawAttr::from_nla(nla)))
    }
}

impl Emitable for ErrAttr {
    fn buffer_len(&self) -> usize {
        match self {
            ErrAttr::Msg(m) => string_len(m),
            ErrAttr::Offset(_) => 8,
            ErrAttr::Other(raw) => raw.buffer_len(),
        }
    }
    fn emit(&self, buffer: &mut [u8]) {
        match self {
            ErrAttr::Msg(m) => {
                emit_string(buffer, NLMSGERR_ATTR_MSG, m);
            }
            ErrAttr::Offset(o) => {
                emit_nla(buffer, NLMSGERR_ATTR_OFFS, 4, |b| {
                    b.copy_from_slice(&o.to_ne_bytes())
                });
            }
            ErrAttr::Other(raw) => raw.emit(buffer),
        }
    }
}

/// `struct nlmsgerr` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage {
    /// 0 for an ACK, else a negative errno.
    pub code: i32,
    /// The header of the request this answers.
    pub request: NetlinkHeader,
    /// The request's payload as quoted back; empty when capped.
    pub request_payload: Vec<u8>,
    /// Extended-ACK attributes.
    pub attrs: Vec<ErrAttr>,
}

impl ErrorMessage {
    /// Parses the payload of an `NLMSG_ERROR` whose header carried `flags`.
    pub fn parse(payload: &[u8], flags: u16) -> Result<ErrorMessage, WireError> {
        if payload.len() < 4 + NLMSG_HDRLEN {
            return Err(WireError::Truncated("nlmsgerr"));
        }
        let code = i32::from_ne_bytes(payload[..4].try_into().expect("4 bytes"));
        let request = NetlinkHeader::parse_quoted(&payload[4..])?;
        let mut at = 4 + NLMSG_HDRLEN;
        let mut request_payload = Vec::new();
        // An ACK (code 0) never quotes the payload; an error does unless capped.
        if code != 0 && flags & NLM_F_CAPPED == 0 {
            let quoted = (request.length as usize).saturating_sub(NLMSG_HDRLEN);
            let end = at + quoted;
            if end > payload.len() {
                return Err(WireError::BadLength("quoted request"));
            }
            request_payload = payload[at..end].to_vec();
            at = 4 + align(request.length as usize);
        }
        let mut attrs = Vec::new();
        if flags & NLM_F_ACK_TLVS != 0 && at < payload.len() {
            for nla in NlaIter::new(&payload[at..]) {
                attrs.push(ErrAttr::parse(&nla?));
            }
        }
        Ok(ErrorMessage {
            code,
            request,
            request_payload,
            attrs,
        })
    }

    /// The offset of the rejected attribute, if the kernel said.
    pub fn offset(&self) -> Option<u32> {
        self.attrs.iter().find_map(|a| match a {
            ErrAttr::Offset(o) => Some(*o),
            _ => None,
        })
    }

    /// The kernel's extended-ACK message, if any.
    pub fn message(&self) -> Option<&str> {
        self.attrs.iter().find_map(|a| match a {
            ErrAttr::Msg(m) => Some(m.as_str()),
            _ => None,
        })
    }
}

impl Emitable for ErrorMessage {
    fn buffer_len(&self) -> usize {
        4 + NLMSG_HDRLEN
            + align(self.request_payload.len())
            + self.attrs.iter().map(Emitable::buffer_len).sum::<usize>()
    }
    fn emit(&self, buffer: &mut [u8]) {
        buffer[..4].copy_from_slice(&self.code.to_ne_bytes());
        self.request.emit(&mut buffer[4..4 + NLMSG_HDRLEN]);
        let mut at = 4 + NLMSG_HDRLEN;
        let n = self.request_payload.len();
        buffer[at..at + n].copy_from_slice(&self.request_payload);
        buffer[at + n..at + align(n)].fill(0);
        at += align(n);
        for a in &self.attrs {
            let len = a.buffer_len();
            a.emit(&mut buffer[at..at + len]);
            at += len;
        }
    }
}
