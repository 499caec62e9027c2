//! The netlink message header (`struct nlmsghdr`) and the nfnetlink header
//! (`struct nfgenmsg`) that follows it in every nf_tables message.
//!
//! ```text
//!  0               4       6       8               12              16
//! +---------------+-------+-------+---------------+---------------+
//! | nlmsg_len     | type  | flags | nlmsg_seq     | nlmsg_pid     |   native endian
//! +---------------+-------+-------+---------------+---------------+
//! | family| vers. | res_id (BE)   |                                   struct nfgenmsg
//! +-------+-------+---------------+
//! ```
//!
//! For nf_tables messages `type` is `NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_*`; `res_id` is
//! `NFNL_SUBSYS_NFTABLES` in batch begin/end messages, 0 in requests and the ruleset
//! generation in the kernel's dump replies.

use super::{Emitable, WireError};

/// Size of `struct nlmsghdr`.
pub(crate) const NLMSG_HDRLEN: usize = 16;
/// Size of `struct nfgenmsg`.
pub(crate) const NFGENMSG_LEN: usize = 4;
/// `NFNETLINK_V0`, the only version.
pub(crate) const NFNETLINK_V0: u8 = 0;

mod field {
    use std::ops::Range;
    pub const LENGTH: Range<usize> = 0..4;
    pub const TYPE: Range<usize> = 4..6;
    pub const FLAGS: Range<usize> = 6..8;
    pub const SEQ: Range<usize> = 8..12;
    pub const PID: Range<usize> = 12..16;
    pub const FAMILY: usize = 0;
    pub const VERSION: usize = 1;
    pub const RES_ID: Range<usize> = 2..4;
}

/// A view of a `nlmsghdr` at the start of a buffer.
#[derive(Debug, Clone, Copy)]
pub struct NlmsgBuffer<'a> {
    buffer: &'a [u8],
}

impl<'a> NlmsgBuffer<'a> {
    /// Checks that the header and the whole `nlmsg_len` are present.
    pub fn new_checked(buffer: &'a [u8]) -> Result<NlmsgBuffer<'a>, WireError> {
        if buffer.len() < NLMSG_HDRLEN {
            return Err(WireError::Truncated("nlmsghdr"));
        }
        let view = NlmsgBuffer { buffer };
        let len = view.length() as usize;
        if len < NLMSG_HDRLEN || len > buffer.len() {
            return Err(WireError::BadLength("netlink message"));
        }
        Ok(view)
    }

    fn u32_at(&self, r: std::ops::Range<usize>) -> u32 {
        u32::from_ne_bytes(self.buffer[r].try_into().expect("4-byte field"))
    }
    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        u16::from_ne_bytes(self.buffer[r].try_into().expect("2-byte field"))
    }

    /// `nlmsg_len`: header and payload.
    pub fn length(&self) -> u32 {
        self.u32_at(field::LENGTH)
    }
    /// `nlmsg_type`.
    pub fn kind(&self) -> u16 {
        self.u16_at(field::TYPE)
    }
    /// `nlmsg_flags`.
    pub fn flags(&self) -> u16 {
        self.u16_at(field::FLAGS)
    }
    /// `nlmsg_seq`.
    pub fn seq(&self) -> u32 {
        self.u32_at(field::SEQ)
    }
    /// `nlmsg_pid`.
    pub fn pid(&self) -> u32 {
        self.u32_at(field::PID)
    }
    /// The payload after the header, up to `nlmsg_len`.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer[NLMSG_HDRLEN..self.length() as usize]
    }
}

/// The fields of a `nlmsghdr`. `length` is what was received; [`Emitable::emit`] on a
/// whole [`Message`](super::Message) writes the length it computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetlinkHeader {
    /// `nlmsg_len`.
    pub length: u32,
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags` (`NLM_F_*`).
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`: 0 towards the kernel.
    pub pid: u32,
}

impl NetlinkHeader {
    /// Reads the header fields from a checked view.
    pub fn parse(view: &NlmsgBuffer<'_>) -> NetlinkHeader {
        NetlinkHeader {
            length: view.length(),
            kind: view.kind(),
            flags: view.flags(),
            seq: view.seq(),
            pid: view.pid(),
        }
    }

    /// Reads a bare header (as quoted inside an `NLMSG_ERROR`), without checking its length
    /// against the buffer.
    pub(crate) fn parse_quoted(buffer: &[u8]) -> Result<NetlinkHeader, WireError> {
        if buffer.len() < NLMSG_HDRLEN {
            return Err(WireError::Truncated("quoted nlmsghdr"));
        }
        Ok(NetlinkHeader::parse(&NlmsgBuffer { buffer }))
    }
}

impl Emitable for NetlinkHeader {
    fn buffer_len(&self) -> usize {
        NLMSG_HDRLEN
    }
    fn emit(&self, buffer: &mut [u8]) {
        buffer[field::LENGTH].copy_from_slice(&self.length.to_ne_bytes());
        buffer[field::TYPE].copy_from_slice(&self.kind.to_ne_bytes());
        buffer[field::FLAGS].copy_from_slice(&self.flags.to_ne_bytes());
        buffer[field::SEQ].copy_from_slice(&self.seq.to_ne_bytes());
        buffer[field::PID].copy_from_slice(&self.pid.to_ne_bytes());
    }
}

/// `struct nfgenmsg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NfGenMsg {
    /// `nfgen_family`: `NFPROTO_*` ([`Family`](crate::Family) as a number).
    pub family: u8,
    /// `version`: `NFNETLINK_V0`.
    pub version: u8,
    /// `res_id`, big-endian on the wire.
    pub res_id: u16,
}

impl NfGenMsg {
    /// A request header for `family` (version 0, res_id 0).
    pub fn new(family: u8) -> NfGenMsg {
        NfGenMsg {
            family,
            version: NFNETLINK_V0,
            res_id: 0,
        }
    }

    /// Reads the first four bytes of a payload.
    pub fn parse(buffer: &[u8]) -> Result<NfGenMsg, WireError> {
        if buffer.len() < NFGENMSG_LEN {
            return Err(WireError::Truncated("nfgenmsg"));
        }
        Ok(NfGenMsg {
            family: buffer[field::FAMILY],
            version: buffer[field::VERSION],
            res_id: u16::from_be_bytes([buffer[field::RES_ID][0], buffer[field::RES_ID][1]]),
        })
    }
}

impl Emitable for NfGenMsg {
    fn buffer_len(&self) -> usize {
        NFGENMSG_LEN
    }
    fn emit(&self, buffer: &mut [u8]) {
        buffer[field::FAMILY] = self.family;
        buffer[field::VERSION] = self.version;
        buffer[field::RES_ID].copy_from_slice(&self.res_id.to_be_bytes());
    }
}
