//! The lab of `rampart lab`: a server, legit clients and attackers, each in
//! its own namespace, joined by veth pairs to one bridge inside a `switch`
//! namespace (never in the machine's own namespace):
//!
//! ```text
//!   server 203.0.113.10      client1 198.51.100.21   attacker1 192.0.2.31
//!     eth0                     eth0                    eth0
//!      |                        |                       |       (+ client2, attacker2)
//!   v-server ------------- br0 (switch) ------------ v-attacker1
//! ```
//!
//! Every host also has an IPv6 address in 2001:db8::/32. All hosts share one
//! link; each reaches the other documentation /24s through on-link routes,
//! so clients and attackers come from their own ranges, as on the Internet,
//! without a router. No namespace has a route to anything else.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::lab::{live_namespaces, IfAddr, Lab};

/// Name prefix of the `rampart lab` namespaces: `rampart-lab-server`, …
pub const LAB_PREFIX: &str = "rampart-lab";

/// Role of the namespace holding the bridge.
pub const SWITCH: &str = "switch";

/// The bridge device inside [`SWITCH`].
const BRIDGE: &str = "br0";

/// Interface of every host on the lab link.
pub const HOST_IF: &str = "eth0";

/// What a namespace is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Kind {
    /// The server under protection.
    Server,
    /// A legitimate client.
    Client,
    /// An attacker.
    Attacker,
    /// The namespace holding the bridge.
    Switch,
}

/// One host of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// Role name (namespace `rampart-lab-<role>`).
    pub role: &'static str,
    /// What it is for.
    pub kind: Kind,
    /// IPv4 address (prefix length 24).
    pub v4: Ipv4Addr,
    /// IPv6 address (prefix length 64).
    pub v6: Ipv6Addr,
}

impl Host {
    /// The IPv4 address as an [`IpAddr`].
    pub fn ip4(&self) -> IpAddr {
        IpAddr::V4(self.v4)
    }

    /// The IPv6 address as an [`IpAddr`].
    pub fn ip6(&self) -> IpAddr {
        IpAddr::V6(self.v6)
    }
}

const fn v6(net: u16, host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, net, 0, 0, 0, host)
}

/// The hosts of the lab, the server first.
pub const HOSTS: &[Host] = &[
    Host {
        role: "server",
        kind: Kind::Server,
        v4: Ipv4Addr::new(203, 0, 113, 10),
        v6: v6(0x113, 0x10),
    },
    Host {
        role: "client1",
        kind: Kind::Client,
        v4: Ipv4Addr::new(198, 51, 100, 21),
        v6: v6(0x100, 0x21),
    },
    Host {
        role: "client2",
        kind: Kind::Client,
        v4: Ipv4Addr::new(198, 51, 100, 22),
        v6: v6(0x100, 0x22),
    },
    Host {
        role: "attacker1",
        kind: Kind::Attacker,
        v4: Ipv4Addr::new(192, 0, 2, 31),
        v6: v6(0x2, 0x31),
    },
    Host {
        role: "attacker2",
        kind: Kind::Attacker,
        v4: Ipv4Addr::new(192, 0, 2, 32),
        v6: v6(0x2, 0x32),
    },
];

/// The documentation /24s the hosts live in, reached on-link.
const V4_NETS: [&str; 3] = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"];

/// The host playing `role`.
pub fn host(role: &str) -> Option<&'static Host> {
    HOSTS.iter().find(|h| h.role == role)
}

/// Every role of the lab: the switch, then the hosts.
pub fn roles() -> impl Iterator<Item = &'static str> {
    std::iter::once(SWITCH).chain(HOSTS.iter().map(|h| h.role))
}

/// Build the lab under `prefix` (normally [`LAB_PREFIX`]). Fails with
/// [`io::ErrorKind::AlreadyExists`] if any `<prefix>-*` namespace exists.
/// The returned lab removes its namespaces when dropped unless
/// [`Lab::keep`] is called, so a failure half-way leaves nothing behind.
pub fn up(prefix: &str) -> io::Result<Lab> {
    build(prefix, HOSTS)
}

/// A lab of `hosts` (the standard one is [`HOSTS`]; tests build others, such as a
/// fleet of servers beside a database), wired the same way: one bridge in [`SWITCH`],
/// one veth per host, on-link routes between the documentation ranges.
pub fn build(prefix: &str, hosts: &[Host]) -> io::Result<Lab> {
    let mut lab = Lab::named(prefix)?;
    let existing = live_namespaces(&format!("{prefix}-"))?;
    if !existing.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("lab namespaces exist: {}", existing.join(", ")),
        ));
    }
    lab.add_ns(SWITCH)?;
    lab.bridge(SWITCH, BRIDGE)?;
    for h in hosts {
        lab.add_ns(h.role)?;
        let port = format!("v-{}", h.role);
        lab.veth(h.role, HOST_IF, SWITCH, &port)?;
        lab.enslave(SWITCH, &port, BRIDGE)?;
        lab.addr(h.role, HOST_IF, &format!("{}/24", h.v4))?;
        lab.addr(h.role, HOST_IF, &format!("{}/64", h.v6))?;
        let [a, b, c, _] = h.v4.octets();
        let own = format!("{a}.{b}.{c}.0/24");
        for net in V4_NETS.iter().filter(|n| **n != own) {
            lab.route(h.role, &format!("{net} dev {HOST_IF}"))?;
        }
        lab.route(h.role, &format!("2001:db8::/32 dev {HOST_IF}"))?;
    }
    Ok(lab)
}

/// One namespace of a lab, as `rampart lab status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NsStatus {
    /// Role name.
    pub role: String,
    /// Namespace name.
    pub namespace: String,
    /// What it is for; `None` for a namespace this topology does not know.
    pub kind: Option<Kind>,
    /// Its global addresses.
    pub addresses: Vec<IfAddr>,
}

/// State of the lab under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The name prefix.
    pub prefix: String,
    /// Every namespace of the topology exists (and nothing else).
    pub complete: bool,
    /// The namespaces that exist.
    pub namespaces: Vec<NsStatus>,
}

/// Read the lab under `prefix` back from the kernel.
pub fn status(prefix: &str) -> io::Result<Status> {
    let lab = Lab::attach(prefix)?;
    let order: Vec<&str> = roles().collect();
    let mut known = lab.roles();
    // Topology order (switch, server, clients, attackers), strangers last.
    known.sort_by_key(|r| order.iter().position(|o| o == r).unwrap_or(order.len()));
    let namespaces: Vec<NsStatus> = known
        .into_iter()
        .map(|role| {
            let kind = if role == SWITCH {
                Some(Kind::Switch)
            } else {
                host(&role).map(|h| h.kind)
            };
            Ok(NsStatus {
                namespace: lab.ns(&role)?.to_owned(),
                addresses: lab.addresses(&role),
                kind,
                role,
            })
        })
        .collect::<io::Result<_>>()?;
    let mut have: Vec<&str> = namespaces.iter().map(|n| n.role.as_str()).collect();
    have.sort_unstable();
    let mut want: Vec<&str> = roles().collect();
    want.sort_unstable();
    Ok(Status {
        prefix: prefix.to_owned(),
        complete: have == want,
        namespaces,
    })
}

/// Resolve a target written `ROLE:PORT` (`server:80`, the role's IPv4
/// address, or IPv6 with `v6`), `ADDR:PORT` or `[ADDR6]:PORT`; addresses
/// must be documentation addresses.
pub fn target(text: &str, v6: bool) -> io::Result<std::net::SocketAddr> {
    use std::net::SocketAddr;
    let bad = |why: &str| {
        crate::cmd::invalid(format!(
            "--to {:?}: {why} (write ROLE:PORT such as server:80, ADDR:PORT or [ADDR6]:PORT)",
            text.chars().take(80).collect::<String>()
        ))
    };
    if let Ok(sa) = text.parse::<SocketAddr>() {
        crate::check_documentation(sa.ip())?;
        return Ok(sa);
    }
    let (role, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
    let h = host(role).ok_or_else(|| {
        bad(&format!(
            "no role {role:?}; roles are {}",
            HOSTS.iter().map(|h| h.role).collect::<Vec<_>>().join(", ")
        ))
    })?;
    Ok(SocketAddr::new(if v6 { h.ip6() } else { h.ip4() }, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            target("server:80", false).unwrap().to_string(),
            "203.0.113.10:80"
        );
        assert_eq!(
            target("server:443", true).unwrap().to_string(),
            "[2001:db8:0:113::10]:443"
        );
        assert_eq!(
            target("[2001:db8::5]:53", false).unwrap().to_string(),
            "[2001:db8::5]:53"
        );
        assert!(target("10.0.0.1:80", false).is_err());
        for bad in ["server", "server:x", "nobody:80"] {
            let e = target(bad, false).unwrap_err().to_string();
            assert!(e.contains("ROLE:PORT"), "{e}");
        }
    }
}
