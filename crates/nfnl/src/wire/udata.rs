//! libnftnl's user data: the TLVs nft stores in `NFTA_RULE_USERDATA` (and the set, chain
//! and element userdata attributes). The kernel keeps these bytes without reading them.
//!
//! ```text
//! +--------+--------+---------------------+--------+-----
//! | type u8| len u8 | value (len bytes)   | type u8| …     no padding, no alignment
//! +--------+--------+---------------------+--------+-----
//! ```
//!
//! For a rule, type `NFTNL_UDATA_RULE_COMMENT` (0) holds the comment as a NUL-terminated
//! string (`len` counts the NUL). The numbers are libnftnl's (`include/libnftnl/udata.h`),
//! not the kernel's.

use super::{Emitable, WireError};

/// `NFTNL_UDATA_RULE_COMMENT`.
const NFTNL_UDATA_RULE_COMMENT: u8 = 0;
// NFTNL_UDATA_RULE_EBTABLES_POLICY (1) is ebtables-nft's; it stays an ordinary `Udata`.

/// One user-data TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udata {
    /// The type byte.
    pub kind: u8,
    /// The value, `len` bytes.
    pub value: Vec<u8>,
}

impl Udata {
    /// Splits user data into its TLVs; an error when a length runs past the end.
    pub fn parse_all(mut bytes: &[u8]) -> Result<Vec<Udata>, WireError> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let [kind, len, rest @ ..] = bytes else {
                return Err(WireError::Truncated("userdata TLV"));
            };
            let len = usize::from(*len);
            if rest.len() < len {
                return Err(WireError::BadLength("userdata TLV"));
            }
            out.push(Udata {
                kind: *kind,
                value: rest[..len].to_vec(),
            });
            bytes = &rest[len..];
        }
        Ok(out)
    }

    /// A rule comment as nft stores it; `None` when it does not fit the one-byte length.
    pub fn rule_comment(text: &str) -> Option<Udata> {
        let mut value = text.as_bytes().to_vec();
        value.push(0);
        (value.len() <= usize::from(u8::MAX)).then_some(Udata {
            kind: NFTNL_UDATA_RULE_COMMENT,
            value,
        })
    }

    /// The comment in a rule's user data, if there is a well-formed one.
    pub fn comment_of_rule(userdata: &[u8]) -> Option<String> {
        let tlvs = Udata::parse_all(userdata).ok()?;
        let v = tlvs
            .iter()
            .find(|t| t.kind == NFTNL_UDATA_RULE_COMMENT)?
            .value
            .as_slice();
        let text = v.strip_suffix(&[0]).unwrap_or(v);
        String::from_utf8(text.to_vec()).ok()
    }
}

impl Emitable for Udata {
    fn buffer_len(&self) -> usize {
        2 + self.value.len()
    }
    /// Panics when the value is longer than 255 bytes.
    fn emit(&self, buffer: &mut [u8]) {
        buffer[0] = self.kind;
        buffer[1] = u8::try_from(self.value.len()).expect("userdata value over 255 bytes");
        buffer[2..2 + self.value.len()].copy_from_slice(&self.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlvs_parse_and_emit_into_junk() {
        let bytes = [
            0x00, 0x04, b's', b's', b'h', 0x00, // NFTNL_UDATA_RULE_COMMENT, len 4, "ssh\0"
            0x01, 0x01, 0x07, // type 1 (ebtables policy), len 1
        ];
        let tlvs = Udata::parse_all(&bytes).unwrap();
        assert_eq!(
            tlvs,
            [
                Udata {
                    kind: 0,
                    value: b"ssh\0".to_vec()
                },
                Udata {
                    kind: 1,
                    value: vec![7]
                }
            ]
        );
        let mut junk = vec![0xa5; 10];
        tlvs[0].emit(&mut junk);
        tlvs[1].emit(&mut junk[tlvs[0].buffer_len()..]);
        assert_eq!(junk[..9], bytes);
        assert_eq!(junk[9], 0xa5);
        assert_eq!(Udata::rule_comment("ssh"), Some(tlvs[0].clone()));
        assert_eq!(Udata::comment_of_rule(&bytes).as_deref(), Some("ssh"));
    }

    #[test]
    fn bad_or_missing_comments_are_none() {
        assert_eq!(Udata::comment_of_rule(&[]), None);
        assert_eq!(Udata::comment_of_rule(&[0x01, 0x01, 0x07]), None);
        // A length past the end.
        assert!(Udata::parse_all(&[0x00, 0x09, b'a']).is_err());
        assert!(Udata::parse_all(&[0x00]).is_err());
        assert_eq!(Udata::comment_of_rule(&[0x00, 0x09, b'a']), None);
        assert_eq!(Udata::rule_comment(&"x".repeat(255)), None);
    }
}
