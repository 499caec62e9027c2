//! The parser for `examples/NAME.probes` (syntax in `examples/README.md`).
//! `examples/NAME.host` files are read by `rampart_sim::Host::parse`.

use std::net::IpAddr;

use crate::lab::{Fate, Probe, Proto};

/// Where a probe is sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// From a peer on this interface of the host (incoming or forwarded traffic).
    In(String),
    /// From the host itself (locally generated traffic).
    Local,
}

/// One line of a `.probes` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Line number (1-based) for messages.
    pub line: usize,
    /// The line's text.
    pub text: String,
    /// The probe.
    pub probe: Probe,
    /// Where it is sent from.
    pub origin: Origin,
    /// Expected kernel fate; `None` (`=> kernel`) when whatever the kernel does is the
    /// reference (the corpus dumps, whose fates the tools decide).
    pub expect: Option<Fate>,
}

/// Parse a `.probes` file.
pub fn parse_probes(text: &str) -> Result<Vec<ProbeSpec>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |m: &str| format!("line {}: {m}: {raw:?}", i + 1);
        let (lhs, rhs) = line.split_once("=>").ok_or_else(|| err("missing =>"))?;
        let w: Vec<&str> = lhs.split_whitespace().collect();
        let proto = match w.first() {
            Some(&"tcp") => Proto::Tcp,
            Some(&"udp") => Proto::Udp,
            Some(&"icmp") => Proto::Icmp,
            Some(&"udp/raw") => Proto::RawUdp,
            Some(&"udp/hop") => Proto::RawUdpExt(0),
            Some(&"udp/dst") => Proto::RawUdpExt(60),
            Some(&"udp/route0") => Proto::RawUdpExt(43),
            Some(flags) if flags.starts_with("tcp/") => {
                Proto::Segment(tcp_flags(&flags[4..]).ok_or_else(|| {
                    err("tcp/FLAGS takes FLAGS from FIN,SYN,RST,PSH,ACK,URG or NONE")
                })?)
            }
            _ => {
                return Err(err(
                    "protocol must be tcp, udp, icmp, tcp/FLAGS, udp/raw or (IPv6) udp/hop, \
                     udp/dst, udp/route0",
                ))
            }
        };
        let target = *w.get(1).ok_or_else(|| err("missing destination"))?;
        let (dst, port) = if proto == Proto::Icmp {
            (
                target
                    .parse::<IpAddr>()
                    .map_err(|_| err("icmp destination is a bare address"))?,
                0,
            )
        } else {
            let sa: std::net::SocketAddr = target
                .parse()
                .map_err(|_| err("destination is ADDR:PORT or [ADDR6]:PORT"))?;
            (sa.ip(), sa.port())
        };
        if w.get(2) != Some(&"from") {
            return Err(err("expected `from SRC`"));
        }
        let src: IpAddr = w
            .get(3)
            .ok_or_else(|| err("missing source"))?
            .parse()
            .map_err(|_| err("bad source address"))?;
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(err("source and destination families differ"));
        }
        let origin = match (w.get(4), w.get(5), w.len()) {
            (Some(&"in"), Some(i), 6) => Origin::In((*i).to_owned()),
            (Some(&"local"), None, 5) => Origin::Local,
            _ => return Err(err("expected `in IFACE` or `local`")),
        };
        let f: Vec<&str> = rhs.split_whitespace().collect();
        let expect = match f.as_slice() {
            ["delivered"] => Some(Fate::Delivered { seen_src: src }),
            ["delivered", "seen", a] => Some(Fate::Delivered {
                seen_src: a.parse().map_err(|_| err("bad seen address"))?,
            }),
            ["rejected"] => Some(Fate::Rejected),
            ["dropped"] => Some(Fate::Dropped),
            ["kernel"] => None,
            _ => {
                return Err(err(
                    "fate is delivered [seen ADDR] | rejected | dropped | kernel",
                ))
            }
        };
        out.push(ProbeSpec {
            line: i + 1,
            text: line.to_owned(),
            probe: Probe {
                proto,
                src,
                dst,
                port,
            },
            origin,
            expect,
        });
    }
    Ok(out)
}

/// `FIN,ACK` → the flag bits; `NONE` → 0.
fn tcp_flags(text: &str) -> Option<u8> {
    if text == "NONE" {
        return Some(0);
    }
    text.split(',').try_fold(0u8, |bits, name| {
        let bit = match name {
            "FIN" => 0x01,
            "SYN" => 0x02,
            "RST" => 0x04,
            "PSH" => 0x08,
            "ACK" => 0x10,
            "URG" => 0x20,
            _ => return None,
        };
        Some(bits | bit)
    })
}
