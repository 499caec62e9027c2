//! IPv6 extension headers and the modules that test them (`rt`, `frag`, `hbh`, `dst`,
//! `ipv6header`, `srh`, `ah`) and the protocol-bound ones (`mh`, `esp`, `ipcomp`).
//!
//! A packet carries the extension headers it lists ([`Packet::ext_headers`], none unless
//! given: what a plain packet has), so whether a module finds its header is decided: a
//! packet without a routing header never matches `-m rt`, negated options or not, as in
//! the kernel (`ipv6_find_hdr` fails and the match returns false). The details a header
//! does not carry here (segments left, fragment id, option types, SPIs) stay unknown:
//! both outcomes are traced.
//!
//! No rule sees a fragment header: conntrack's defragmentation (`nf_defrag_ipv6`, before
//! the raw table) reassembles fragments and removes it, even from an atomic fragment
//! (kernel 6.18: an atomic UDP fragment counted 53 bytes, without its 8-byte header, in
//! raw PREROUTING, and `-m frag` stayed at 0), and a local packet is fragmented after
//! POSTROUTING. So `-m frag` never matches, as on any host that tracks connections.

use std::fmt;
use std::str::FromStr;

use rampart_ruleset::{Family, Match, OpaqueMatch, Protocol};
use serde::{Deserialize, Serialize};

use crate::matcher::{Atom, Ctx, Env};
use crate::packet::Packet;

/// One IPv6 extension header of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "header")]
pub enum ExtHeader {
    /// Hop-by-hop options (`hop`).
    HopByHop,
    /// Destination options (`dst`).
    DestOpts,
    /// Routing header (`route` or `route:TYPE`); its type, when known (0 the deprecated
    /// source route, 2 Mobile IPv6, 3 RPL, 4 segment routing).
    Routing {
        /// The routing type.
        #[serde(default)]
        ty: Option<u8>,
    },
    /// Fragment header (`frag`).
    Fragment,
    /// Authentication header (`ah`).
    Auth,
}

impl ExtHeader {
    /// The names [`FromStr`] reads, for error messages and help.
    pub const NAMES: &'static str = "hop, dst, route, route:TYPE, frag, ah";

    /// ip6t_ipv6header's bit for this header.
    fn mask(self) -> u8 {
        match self {
            ExtHeader::HopByHop => MASK_HOPOPTS,
            ExtHeader::DestOpts => MASK_DSTOPTS,
            ExtHeader::Routing { .. } => MASK_ROUTING,
            ExtHeader::Fragment => MASK_FRAGMENT,
            ExtHeader::Auth => MASK_AH,
        }
    }

    /// Reads a comma-separated list (`hop,route:0`); the empty text is no header.
    pub fn parse_list(text: &str) -> Result<Vec<ExtHeader>, String> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<ExtHeader> = text
            .split(',')
            .map(|h| h.trim().parse())
            .collect::<Result<_, _>>()?;
        if list.len() > 16 {
            return Err("at most 16 extension headers".to_string());
        }
        Ok(list)
    }
}

impl FromStr for ExtHeader {
    type Err = String;

    fn from_str(text: &str) -> Result<ExtHeader, String> {
        let bad = || {
            let shown: String = text.chars().take(40).collect();
            format!(
                "`{}` is not an IPv6 extension header (write {})",
                shown.escape_debug(),
                ExtHeader::NAMES
            )
        };
        Ok(match text {
            "hop" | "hop-by-hop" => ExtHeader::HopByHop,
            "dst" | "ipv6-opts" => ExtHeader::DestOpts,
            "route" | "ipv6-route" => ExtHeader::Routing { ty: None },
            "frag" | "ipv6-frag" => ExtHeader::Fragment,
            "ah" | "auth" => ExtHeader::Auth,
            _ => match text.split_once(':') {
                Some(("route" | "ipv6-route", ty)) => ExtHeader::Routing {
                    ty: Some(ty.parse().map_err(|_| bad())?),
                },
                _ => return Err(bad()),
            },
        })
    }
}

impl fmt::Display for ExtHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtHeader::HopByHop => f.write_str("hop"),
            ExtHeader::DestOpts => f.write_str("dst"),
            ExtHeader::Routing { ty: None } => f.write_str("route"),
            ExtHeader::Routing { ty: Some(t) } => write!(f, "route:{t}"),
            ExtHeader::Fragment => f.write_str("frag"),
            ExtHeader::Auth => f.write_str("ah"),
        }
    }
}

// ip6t_ipv6header.h.
const MASK_HOPOPTS: u8 = 128;
const MASK_DSTOPTS: u8 = 64;
const MASK_ROUTING: u8 = 32;
const MASK_FRAGMENT: u8 = 16;
const MASK_AH: u8 = 8;
const MASK_ESP: u8 = 4;
const MASK_NONE: u8 = 2;
const MASK_PROTO: u8 = 1;

/// ipv6header's printed names and their bits.
const HEADER_NAMES: [(&str, u8); 8] = [
    ("hop-by-hop", MASK_HOPOPTS),
    ("ipv6-opts", MASK_DSTOPTS),
    ("ipv6-route", MASK_ROUTING),
    ("ipv6-frag", MASK_FRAGMENT),
    ("ah", MASK_AH),
    ("esp", MASK_ESP),
    ("ipv6-nonxt", MASK_NONE),
    ("protocol", MASK_PROTO),
];

/// One option of an opaque module: `!`, name, value.
struct Opt<'m> {
    negated: bool,
    name: &'m str,
    value: Option<&'m str>,
}

/// The options of an opaque module as written (`! --rt-type 0` → negated `--rt-type`
/// with value `0`).
fn options(o: &OpaqueMatch) -> Vec<Opt<'_>> {
    let mut out: Vec<Opt<'_>> = Vec::new();
    let mut negated = false;
    for arg in &o.args {
        let word = arg.text.as_str();
        if word == "!" && !arg.quoted {
            negated = true;
        } else if word.starts_with("--") && !arg.quoted {
            out.push(Opt {
                negated,
                name: word,
                value: None,
            });
            negated = false;
        } else if let Some(last) = out.last_mut().filter(|l| l.value.is_none()) {
            last.value = Some(word);
        }
    }
    out
}

/// The header ipv6header sees: the packet's extension headers, then ESP or "no next
/// header" (which end the chain) or an upper-layer protocol.
fn header_bits(pkt: &Packet) -> u8 {
    let ext = visible(pkt).fold(0, |bits, h| bits | h.mask());
    ext | match pkt.protocol.0 {
        50 => MASK_ESP,
        59 => MASK_NONE,
        _ => MASK_PROTO,
    }
}

/// The extension headers the rules see: all but the fragment header (see the module
/// doc).
fn visible(pkt: &Packet) -> impl Iterator<Item = &ExtHeader> {
    pkt.ext_headers
        .iter()
        .filter(|h| **h != ExtHeader::Fragment)
}

/// Whether the packet carries a fragment header, which defragmentation removes.
pub(crate) fn defragmented(pkt: &Packet) -> bool {
    pkt.family() == Family::Ipv6 && pkt.ext_headers.contains(&ExtHeader::Fragment)
}

/// Whether a module of this file matches; `None` for another module.
pub(crate) fn match_opaque(o: &OpaqueMatch, m: &Match, ctx: &Ctx, env: &mut Env) -> Option<bool> {
    let pkt = ctx.pkt;
    let v6 = ctx.family == Family::Ipv6;
    let has = |f: &dyn Fn(&ExtHeader) -> bool| v6 && visible(pkt).any(f);
    let opts = options(o);
    // A header found: its details are not in the packet, so any option is unknown.
    let details = |env: &mut Env| opts.is_empty() || unknown(m, env);
    Some(match o.name.as_str() {
        "rt" => {
            let Some(ty) = visible(pkt).find_map(|h| match h {
                ExtHeader::Routing { ty } if v6 => Some(*ty),
                _ => None,
            }) else {
                return Some(false);
            };
            let mut rest = Vec::new();
            for opt in &opts {
                match (opt.name, opt.value.and_then(|v| v.parse::<u8>().ok()), ty) {
                    ("--rt-type", Some(want), Some(got)) => {
                        if (got == want) == opt.negated {
                            return Some(false);
                        }
                    }
                    _ => rest.push(opt.name),
                }
            }
            rest.is_empty() || unknown(m, env)
        }
        "srh" => {
            let Some(ty) = visible(pkt).find_map(|h| match h {
                ExtHeader::Routing { ty } if v6 => Some(*ty),
                _ => None,
            }) else {
                return Some(false);
            };
            match ty {
                // ip6t_srh: a routing header of another type is no SRH.
                Some(t) if t != 4 => false,
                Some(_) => details(env),
                None => unknown(m, env),
            }
        }
        "frag" => has(&|h| *h == ExtHeader::Fragment) && details(env),
        "hbh" => has(&|h| *h == ExtHeader::HopByHop) && details(env),
        "dst" => has(&|h| *h == ExtHeader::DestOpts) && details(env),
        "ah" if v6 => has(&|h| *h == ExtHeader::Auth) && details(env),
        // IPv4 AH, ESP, IPComp and Mobility: the protocol itself, which the rule's `-p`
        // already requires; the SPI or type is not in the packet.
        "ah" => pkt.protocol == Protocol(51) && details(env),
        "esp" => pkt.protocol == Protocol(50) && details(env),
        "ipcomp" => pkt.protocol == Protocol(108) && details(env),
        "mh" => pkt.protocol == Protocol(135) && details(env),
        "ipv6header" => {
            if !v6 {
                return Some(false);
            }
            let soft = opts.iter().any(|o| o.name == "--soft");
            let Some(header) = opts.iter().find(|o| o.name == "--header") else {
                return Some(unknown(m, env));
            };
            let mut want = 0u8;
            for name in header.value.unwrap_or_default().split(',') {
                match HEADER_NAMES.iter().find(|(n, _)| *n == name) {
                    Some((_, bit)) => want |= bit,
                    None => return Some(unknown(m, env)),
                }
            }
            let inv = if header.negated { 0xff } else { 0 };
            let got = header_bits(pkt);
            // ipv6header_mt6.
            if soft {
                (got ^ want ^ inv) & want == 0
            } else if header.negated {
                got != want
            } else {
                got == want
            }
        }
        _ => return None,
    })
}

fn unknown(m: &Match, env: &mut Env) -> bool {
    let text = rampart_ruleset::rule_args(&rampart_ruleset::RuleSpec {
        matches: vec![m.clone()],
        ..Default::default()
    });
    env.decide.unknown(Atom::Other(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lists_read_and_print() {
        let list = ExtHeader::parse_list("hop,route:0,frag").unwrap();
        assert_eq!(
            list,
            vec![
                ExtHeader::HopByHop,
                ExtHeader::Routing { ty: Some(0) },
                ExtHeader::Fragment
            ]
        );
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown.join(","), "hop,route:0,frag");
        assert_eq!(ExtHeader::parse_list("").unwrap(), vec![]);
        let err = ExtHeader::parse_list("hop,esp").unwrap_err();
        assert!(
            err.contains("`esp` is not an IPv6 extension header"),
            "{err}"
        );
        assert!(ExtHeader::parse_list("route:256").is_err());
    }
}
