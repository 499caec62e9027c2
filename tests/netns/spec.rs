//! Parsers for `examples/NAME.host` and `examples/NAME.probes` (syntax in
//! `examples/README.md`).
#![allow(dead_code)]

use std::net::IpAddr;

use crate::lab::{Fate, Probe, Proto};

/// An address with its prefix length, e.g. `192.0.2.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Cidr {
    /// Parse `ADDR/LEN` (LEN defaults to the full length).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.parse().map_err(|_| format!("bad address {a:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = if l.is_empty() {
            max
        } else {
            l.parse().map_err(|_| format!("bad prefix length {l:?}"))?
        };
        if len > max {
            return Err(format!("prefix length {len} too long"));
        }
        Ok(Cidr { addr, len })
    }

    /// Does this prefix contain `ip`?
    pub fn contains(&self, ip: IpAddr) -> bool {
        let len = u32::from(self.len);
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(a) & m == u128::from(b) & m
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// One `route` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination (`default` becomes `0.0.0.0/0` or `::/0` by the gateway's family).
    pub dst: Cidr,
    /// Gateway, if any.
    pub via: Option<IpAddr>,
    /// Output interface.
    pub dev: String,
}

/// A host description (`NAME.host`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSpec {
    /// Interfaces in order of first mention, with their addresses.
    pub interfaces: Vec<(String, Vec<Cidr>)>,
    /// Routes.
    pub routes: Vec<Route>,
    /// IP forwarding on?
    pub forwarding: bool,
}

impl HostSpec {
    /// Parse a `.host` file.
    pub fn parse(text: &str) -> Result<HostSpec, String> {
        let mut h = HostSpec::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |m: String| format!("line {}: {m}: {raw:?}", i + 1);
            let w: Vec<&str> = line.split_whitespace().collect();
            match w[0] {
                "interface" => {
                    if w.len() < 2 {
                        return Err(err("interface needs a name".into()));
                    }
                    let addrs = w[2..]
                        .iter()
                        .map(|a| Cidr::parse(a))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(err)?;
                    match h.interfaces.iter_mut().find(|(n, _)| n == w[1]) {
                        Some((_, v)) => v.extend(addrs),
                        None => h.interfaces.push((w[1].to_owned(), addrs)),
                    }
                }
                "route" => {
                    // route DST [via GW] dev IF
                    let mut via = None;
                    let mut dev = None;
                    let mut j = 2;
                    while j + 1 < w.len() {
                        match w[j] {
                            "via" => {
                                via = Some(w[j + 1].parse().map_err(|_| err("bad gateway".into()))?)
                            }
                            "dev" => dev = Some(w[j + 1].to_owned()),
                            o => return Err(err(format!("unknown route keyword {o}"))),
                        }
                        j += 2;
                    }
                    if j != w.len() || w.len() < 2 {
                        return Err(err("malformed route".into()));
                    }
                    let dev = dev.ok_or_else(|| err("route needs dev".into()))?;
                    let dst = if w[1] == "default" {
                        match via {
                            Some(IpAddr::V6(_)) => Cidr::parse("::/0"),
                            _ => Cidr::parse("0.0.0.0/0"),
                        }
                        .map_err(err)?
                    } else {
                        Cidr::parse(w[1]).map_err(err)?
                    };
                    h.routes.push(Route { dst, via, dev });
                }
                "forwarding" => {
                    h.forwarding = match w.get(1) {
                        Some(&"yes") => true,
                        Some(&"no") => false,
                        _ => return Err(err("forwarding yes|no".into())),
                    }
                }
                o => return Err(err(format!("unknown keyword {o}"))),
            }
        }
        Ok(h)
    }

    /// The interface whose connected prefix contains `ip` (with that prefix).
    pub fn connected(&self, ip: IpAddr) -> Option<(&str, Cidr)> {
        self.interfaces.iter().find_map(|(n, addrs)| {
            addrs
                .iter()
                .find(|c| c.contains(ip))
                .map(|c| (n.as_str(), *c))
        })
    }

    /// Is `ip` one of the host's own addresses?
    pub fn owns(&self, ip: IpAddr) -> bool {
        self.interfaces
            .iter()
            .any(|(_, a)| a.iter().any(|c| c.addr == ip))
    }

    /// Longest-prefix route (not counting connected prefixes) for `ip`.
    pub fn route_for(&self, ip: IpAddr) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| r.dst.contains(ip))
            .max_by_key(|r| r.dst.len)
    }
}

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
    /// Expected kernel fate.
    pub expect: Fate,
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
            _ => return Err(err("protocol must be tcp, udp or icmp")),
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
            ["delivered"] => Fate::Delivered { seen_src: src },
            ["delivered", "seen", a] => Fate::Delivered {
                seen_src: a.parse().map_err(|_| err("bad seen address"))?,
            },
            ["rejected"] => Fate::Rejected,
            ["dropped"] => Fate::Dropped,
            _ => return Err(err("fate is delivered [seen ADDR] | rejected | dropped")),
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
