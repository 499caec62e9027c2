//! Netlink attributes (`struct nlattr`): the view, the iterator, raw values and the emit
//! helpers every message in this crate is built from.
//!
//! ```text
//!  0               2               4
//! +---------------+---------------+-------------------------------+---------+
//! | nla_len (ne)  | nla_type (ne) | payload (nla_len - 4 bytes)   | pad to 4|
//! +---------------+---------------+-------------------------------+---------+
//!                   bit 15: NLA_F_NESTED, bit 14: NLA_F_NET_BYTEORDER
//! ```
//!
//! `nla_len` counts the header and the payload but not the padding; the next attribute
//! starts at the 4-aligned offset after it.

use super::{Emitable, WireError};

/// Size of `struct nlattr`.
pub(crate) const NLA_HDRLEN: usize = 4;
/// The payload holds attributes (set by libnftnl on every nest, not by the kernel's dumps).
pub(crate) const NLA_F_NESTED: u16 = 1 << 15;
/// The payload is in network byte order (unused by nf_tables, kept in the raw type).
const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// The attribute number without the two flag bits.
pub(crate) const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// Rounds `len` up to the netlink alignment (4 bytes).
pub(crate) const fn align(len: usize) -> usize {
    (len + 3) & !3
}

mod field {
    use std::ops::{Range, RangeFrom};
    pub const LENGTH: Range<usize> = 0..2;
    pub const TYPE: Range<usize> = 2..4;
    pub const VALUE: RangeFrom<usize> = 4..;
}

/// A read-only view of one attribute at the start of a buffer.
#[derive(Debug, Clone, Copy)]
pub struct NlaBuffer<'a> {
    buffer: &'a [u8],
}

impl<'a> NlaBuffer<'a> {
    /// Checks that the buffer holds a header and the whole `nla_len`.
    pub fn new_checked(buffer: &'a [u8]) -> Result<NlaBuffer<'a>, WireError> {
        if buffer.len() < NLA_HDRLEN {
            return Err(WireError::Truncated("attribute header"));
        }
        let view = NlaBuffer { buffer };
        let len = usize::from(view.length());
        if len < NLA_HDRLEN || len > buffer.len() {
            return Err(WireError::BadLength("attribute"));
        }
        Ok(view)
    }

    /// `nla_len`: header plus payload, without padding.
    pub fn length(&self) -> u16 {
        u16::from_ne_bytes([self.buffer[field::LENGTH][0], self.buffer[field::LENGTH][1]])
    }

    /// `nla_type` as sent, flag bits included.
    pub fn raw_kind(&self) -> u16 {
        u16::from_ne_bytes([self.buffer[field::TYPE][0], self.buffer[field::TYPE][1]])
    }

    /// The attribute number without flags.
    pub fn kind(&self) -> u16 {
        self.raw_kind() & NLA_TYPE_MASK
    }

    /// Whether `NLA_F_NESTED` is set.
    pub fn nested_flag(&self) -> bool {
        self.raw_kind() & NLA_F_NESTED != 0
    }

    /// The payload, without padding.
    pub fn value(&self) -> &'a [u8] {
        &self.buffer[field::VALUE][..usize::from(self.length()) - NLA_HDRLEN]
    }
}

/// Iterates over the attributes packed in a buffer; stops at the first malformed one.
#[derive(Debug, Clone)]
pub struct NlaIter<'a> {
    rest: &'a [u8],
}

impl<'a> NlaIter<'a> {
    /// Iterates over `buffer`, which holds zero or more aligned attributes.
    pub fn new(buffer: &'a [u8]) -> NlaIter<'a> {
        NlaIter { rest: buffer }
    }
}

impl<'a> Iterator for NlaIter<'a> {
    type Item = Result<NlaBuffer<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match NlaBuffer::new_checked(self.rest) {
            Ok(nla) => {
                let step = align(usize::from(nla.length())).min(self.rest.len());
                self.rest = &self.rest[step..];
                Some(Ok(nla))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// An attribute this crate does not interpret, kept byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAttr {
    /// `nla_type` as received, flag bits included.
    pub kind: u16,
    /// The payload, without padding.
    pub value: Vec<u8>,
}

impl RawAttr {
    pub(crate) fn from_nla(nla: &NlaBuffer<'_>) -> RawAttr {
        RawAttr {
            kind: nla.raw_kind(),
            value: nla.value().to_vec(),
        }
    }
}

impl Emitable for RawAttr {
    fn buffer_len(&self) -> usize {
        align(NLA_HDRLEN + self.value.len())
    }
    fn emit(&self, buffer: &mut [u8]) {
        emit_nla(buffer, self.kind, self.value.len(), |b| {
            b.copy_from_slice(&self.value)
        });
    }
}

/// Writes one attribute header, lets `fill` write exactly `payload_len` bytes, zeroes the
/// padding and returns the aligned length.
///
/// Panics when `buffer` is shorter than the aligned length, or when the attribute is longer
/// than `nla_len` can say (64 KiB): callers size their buffers with `buffer_len` and split
/// element lists before that limit.
pub(crate) fn emit_nla(
    buffer: &mut [u8],
    raw_kind: u16,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> usize {
    let len = NLA_HDRLEN + payload_len;
    let nla_len = u16::try_from(len).expect("attribute longer than 64 KiB");
    buffer[field::LENGTH].copy_from_slice(&nla_len.to_ne_bytes());
    buffer[field::TYPE].copy_from_slice(&raw_kind.to_ne_bytes());
    fill(&mut buffer[NLA_HDRLEN..len]);
    let aligned = align(len);
    buffer[len..aligned].fill(0);
    aligned
}

/// Emits a list of attributes back to back; returns the length written.
pub(crate) fn emit_all<T: Emitable>(items: &[T], buffer: &mut [u8]) -> usize {
    let mut at = 0;
    for item in items {
        let len = item.buffer_len();
        item.emit(&mut buffer[at..at + len]);
        at += len;
    }
    at
}

/// Total length of a list of attributes.
pub(crate) fn len_all<T: Emitable>(items: &[T]) -> usize {
    items.iter().map(Emitable::buffer_len).sum()
}

/// Emits a nest whose payload is `items`.
pub(crate) fn emit_nest<T: Emitable>(buffer: &mut [u8], raw_kind: u16, items: &[T]) -> usize {
    emit_nla(buffer, raw_kind, len_all(items), |b| {
        emit_all(items, b);
    })
}

/// A NUL-terminated string payload, or `None` when the bytes are not exactly that (then
/// the caller keeps the attribute raw so that nothing is lost).
pub(crate) fn parse_string(value: &[u8]) -> Option<String> {
    let (last, body) = value.split_last()?;
    if *last != 0 || body.contains(&0) {
        return None;
    }
    String::from_utf8(body.to_vec()).ok()
}

/// Emits a string attribute with its NUL terminator.
pub(crate) fn emit_string(buffer: &mut [u8], raw_kind: u16, text: &str) -> usize {
    emit_nla(buffer, raw_kind, text.len() + 1, |b| {
        b[..text.len()].copy_from_slice(text.as_bytes());
        b[text.len()] = 0;
    })
}

/// Length of a string attribute.
pub(crate) fn string_len(text: &str) -> usize {
    align(NLA_HDRLEN + text.len() + 1)
}

/// A big-endian u32 payload, or `None` when the length is wrong.
pub(crate) fn parse_be32(value: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(value.try_into().ok()?))
}

/// A big-endian u64 payload, or `None` when the length is wrong.
pub(crate) fn parse_be64(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_reads_fields_and_skips_padding() {
        let bytes = [
            0x0a, 0x00, // nla_len 10: header + "cidr4\0"
            0x02, 0x00, // nla_type 2
            b'c', b'i', b'd', b'r', b'4', 0, // payload
            0, 0, // padding
            0x08, 0x00, // nla_len 8
            0x03, 0x80, // NLA_F_NESTED | 3
            1, 2, 3, 4,
        ];
        let attrs: Vec<_> = NlaIter::new(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[0].kind(), 2);
        assert_eq!(parse_string(attrs[0].value()).as_deref(), Some("cidr4"));
        assert!(attrs[1].nested_flag());
        assert_eq!(attrs[1].kind(), 3);
        assert_eq!(attrs[1].value(), &[1, 2, 3, 4]);
    }

    #[test]
    fn truncated_attribute_is_an_error() {
        let bytes = [0x10, 0x00, 0x01, 0x00, 0, 0];
        assert!(NlaIter::new(&bytes).next().unwrap().is_err());
        assert!(NlaBuffer::new_checked(&[1, 0]).is_err());
    }

    #[test]
    fn raw_attr_round_trips_into_junk() {
        let raw = RawAttr {
            kind: 0x4007,
            value: vec![9, 8, 7],
        };
        let mut buf = vec![0xa5; raw.buffer_len()];
        raw.emit(&mut buf);
        assert_eq!(buf, [7, 0, 0x07, 0x40, 9, 8, 7, 0]);
        let back = RawAttr::from_nla(&NlaBuffer::new_checked(&buf).unwrap());
        assert_eq!(back, raw);
    }
}
