//! The simulated host: interfaces with their addresses, routes and the forwarding switch.
//!
//! Routing is the kernel's two-step lookup reduced to what firewall traces need: the local
//! table first (any interface address, 127.0.0.0/8, ::1 → local delivery), then the longest
//! prefix among connected routes (from interface prefixes) and the declared routes. Policy
//! routing (`ip rule`, fwmark tables) is not modelled.
//!
//! The sysctls that decide a packet's fate outside the ruleset are part of the host
//! ([`Sysctls`]): conntrack's TCP pickup (`nf_conntrack_tcp_loose`) and the routing
//! checks that drop martian sources (`rp_filter`, `accept_local`, `route_localnet`;
//! see [`Host::martian`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rampart_prefix::Prefix;
use rampart_ruleset::{AddrTypes, Family};

/// An address configured on an interface, with its prefix length (`192.0.2.1/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    /// The address itself.
    pub addr: IpAddr,
    /// Prefix length of the connected network.
    pub len: u8,
}

impl IfAddr {
    /// The connected network.
    pub fn network(&self) -> Prefix {
        Prefix::new(self.addr, self.len).expect("length checked when built")
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInterface {
    /// Interface name (`eth0`).
    pub name: String,
    /// Addresses in the order declared; the first of a family is the primary one.
    pub addrs: Vec<IfAddr>,
}

/// A route: packets to `dest` leave through `dev`, to `via` when it is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination network.
    pub dest: Prefix,
    /// Output interface.
    pub dev: String,
    /// Next-hop gateway.
    pub via: Option<IpAddr>,
}

/// Where the routing decision sends a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision {
    /// To this host.
    Local,
    /// Out of an interface.
    Out {
        /// The interface.
        dev: String,
        /// The gateway, if not directly connected.
        via: Option<IpAddr>,
    },
    /// No route matches.
    Unreachable,
}

/// The host the ruleset runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Interfaces, `lo` first (always present with 127.0.0.1/8 and ::1/128).
    pub interfaces: Vec<HostInterface>,
    /// Declared routes (connected routes are derived from interface addresses).
    pub routes: Vec<Route>,
    /// `net.ipv4.ip_forward` / `net.ipv6.conf.all.forwarding`.
    pub forwarding: bool,
    /// The other sysctls the simulator reads.
    pub sysctls: Sysctls,
}

/// The sysctls that change what the kernel does with a packet outside the ruleset, with
/// the kernel's defaults. Per-interface IPv4 settings combine `all` and the interface's
/// value as the kernel does: `rp_filter` takes the larger, `accept_local` and
/// `route_localnet` either one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctls {
    /// `net.netfilter.nf_conntrack_tcp_loose` (default 1): a first TCP packet that is a
    /// pure ACK opens a flow (picked up mid-connection); with 0 only a SYN does.
    pub tcp_loose: bool,
    /// `net.netfilter.nf_conntrack_tcp_be_liberal` (default 0): out-of-window segments of a
    /// known flow are not INVALID. Read and shown, but without effect here: simulated
    /// packets carry no sequence numbers, so every segment is taken as in window.
    pub tcp_be_liberal: bool,
    /// `net.ipv4.conf.all.*`.
    pub all: ConfValues,
    /// `net.ipv4.conf.default.*`: applies to declared interfaces without their own value
    /// (as at boot, where `default` is set before the interfaces appear).
    pub default: ConfValues,
    /// `net.ipv4.conf.IFACE.*`, by interface name.
    pub per_iface: Vec<(String, ConfValues)>,
}

/// The `net.ipv4.conf.*` values of one scope; `None` when not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConfValues {
    /// `rp_filter`: 0 off, 1 strict (the route back must leave by the arrival
    /// interface), 2 loose (any route back).
    pub rp_filter: Option<u8>,
    /// `accept_local`: accept packets whose source is one of the host's own addresses.
    pub accept_local: Option<bool>,
    /// `route_localnet`: 127.0.0.0/8 is routable on this interface (not martian).
    pub route_localnet: Option<bool>,
}

impl Default for Sysctls {
    fn default() -> Sysctls {
        Sysctls {
            tcp_loose: true,
            tcp_be_liberal: false,
            all: ConfValues::default(),
            default: ConfValues::default(),
            per_iface: Vec::new(),
        }
    }
}

impl Sysctls {
    /// The interface's own values, falling back to `default`.
    fn iface(&self, iface: &str) -> ConfValues {
        let own = self
            .per_iface
            .iter()
            .find(|(n, _)| n == iface)
            .map(|(_, v)| *v)
            .unwrap_or_default();
        ConfValues {
            rp_filter: own.rp_filter.or(self.default.rp_filter),
            accept_local: own.accept_local.or(self.default.accept_local),
            route_localnet: own.route_localnet.or(self.default.route_localnet),
        }
    }

    /// The `rp_filter` mode in force on an interface: the larger of `all` and the
    /// interface's (the kernel's `IN_DEV_RPFILTER`).
    pub fn rp_filter(&self, iface: &str) -> u8 {
        let i = self.iface(iface).rp_filter.unwrap_or(0);
        i.max(self.all.rp_filter.unwrap_or(0))
    }

    /// `accept_local` in force on an interface (`all` or the interface's).
    pub fn accept_local(&self, iface: &str) -> bool {
        self.all.accept_local.unwrap_or(false) || self.iface(iface).accept_local.unwrap_or(false)
    }

    /// `route_localnet` in force on an interface (`all` or the interface's).
    pub fn route_localnet(&self, iface: &str) -> bool {
        self.all.route_localnet.unwrap_or(false)
            || self.iface(iface).route_localnet.unwrap_or(false)
    }

    /// Every setting that differs from the kernel's default, as `(KEY, VALUE)` for
    /// `sysctl -w`, in the order to apply them to a real host: the lab writes these into
    /// its host namespace. (The `net.netfilter` keys exist only once conntrack is loaded.)
    pub fn assignments(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !self.tcp_loose {
            out.push((
                "net.netfilter.nf_conntrack_tcp_loose".to_string(),
                "0".to_string(),
            ));
        }
        if self.tcp_be_liberal {
            out.push((
                "net.netfilter.nf_conntrack_tcp_be_liberal".to_string(),
                "1".to_string(),
            ));
        }
        let scopes = [("all", self.all), ("default", self.default)]
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .chain(self.per_iface.iter().cloned());
        for (scope, v) in scopes {
            let key = |k: &str| format!("net.ipv4.conf.{scope}.{k}");
            if let Some(x) = v.rp_filter {
                out.push((key("rp_filter"), x.to_string()));
            }
            if let Some(x) = v.accept_local {
                out.push((key("accept_local"), u8::from(x).to_string()));
            }
            if let Some(x) = v.route_localnet {
                out.push((key("route_localnet"), u8::from(x).to_string()));
            }
        }
        out
    }

    /// Sets one `KEY VALUE`; `ifaces` are the declared interface names.
    fn set(&mut self, key: &str, value: &str, ifaces: &[&str]) -> Result<(), HostErrorKind> {
        let bad = || HostErrorKind::BadSysctl(format!("`{key} {value}`"));
        let flag = || match value {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(bad()),
        };
        match key {
            "net.netfilter.nf_conntrack_tcp_loose" => self.tcp_loose = flag()?,
            "net.netfilter.nf_conntrack_tcp_be_liberal" => self.tcp_be_liberal = flag()?,
            _ => {
                let Some(rest) = key.strip_prefix("net.ipv4.conf.") else {
                    return Err(HostErrorKind::UnknownSysctl(key.to_string()));
                };
                let Some((scope, name)) = rest.rsplit_once('.') else {
                    return Err(HostErrorKind::UnknownSysctl(key.to_string()));
                };
                let values = match scope {
                    "all" => &mut self.all,
                    "default" => &mut self.default,
                    iface if ifaces.contains(&iface) => {
                        if let Some(i) = self.per_iface.iter().position(|(n, _)| n == iface) {
                            &mut self.per_iface[i].1
                        } else {
                            self.per_iface
                                .push((iface.to_string(), ConfValues::default()));
                            &mut self.per_iface.last_mut().expect("just pushed").1
                        }
                    }
                    other => return Err(HostErrorKind::UnknownDevice(other.to_string())),
                };
                match name {
                    "rp_filter" => {
                        values.rp_filter = Some(match value {
                            "0" | "1" | "2" => value.parse().expect("digit"),
                            _ => return Err(bad()),
                        })
                    }
                    "accept_local" => values.accept_local = Some(flag()?),
                    "route_localnet" => values.route_localnet = Some(flag()?),
                    _ => return Err(HostErrorKind::UnknownSysctl(key.to_string())),
                }
            }
        }
        Ok(())
    }
}

impl Default for Host {
    fn default() -> Host {
        Host::new()
    }
}

/// Why a host description line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host description line {line}: {kind}")]
pub struct HostError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, with a hint.
    pub kind: HostErrorKind,
}

/// The kinds of [`HostError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostErrorKind {
    /// The first word is not a known keyword.
    #[error("unknown keyword `{0}` (expected `interface`, `route`, `forwarding` or `sysctl`)")]
    UnknownKeyword(String),
    /// `interface` without a name.
    #[error("`interface` needs a name, e.g. `interface eth0 192.0.2.1/24`")]
    MissingName,
    /// An interface declared twice.
    #[error("interface `{0}` is declared twice (list all its addresses on one line)")]
    DuplicateInterface(String),
    /// An interface address that is not `ADDR/LEN`.
    #[error("`{0}` is not an interface address: write ADDR/LEN such as 192.0.2.1/24")]
    BadAddress(String),
    /// A malformed route line.
    #[error("{0}: write `route DEST|default [via GATEWAY] dev IFACE`")]
    BadRoute(String),
    /// A route through an interface no `interface` line declares.
    #[error("route uses device `{0}`, which no `interface` line declares (declare it first)")]
    UnknownDevice(String),
    /// `forwarding` followed by something other than yes/no.
    #[error("`forwarding {0}`: write `forwarding yes` or `forwarding no`")]
    BadForwarding(String),
    /// A sysctl the simulator does not read.
    #[error(
        "sysctl `{0}` is not read by the simulator (known: net.netfilter.nf_conntrack_tcp_loose, \
         net.netfilter.nf_conntrack_tcp_be_liberal, \
         net.ipv4.conf.{{all,default,IFACE}}.{{rp_filter,accept_local,route_localnet}})"
    )]
    UnknownSysctl(String),
    /// A sysctl line with a bad value or shape.
    #[error("{0}: write `sysctl KEY VALUE`, VALUE 0 or 1 (rp_filter: 0, 1 or 2)")]
    BadSysctl(String),
}

impl Host {
    /// A host with only the loopback interface and forwarding off.
    pub fn new() -> Host {
        Host {
            interfaces: vec![HostInterface {
                name: "lo".to_string(),
                addrs: vec![
                    IfAddr {
                        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
                        len: 8,
                    },
                    IfAddr {
                        addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                        len: 128,
                    },
                ],
            }],
            routes: Vec::new(),
            forwarding: false,
            sysctls: Sysctls::default(),
        }
    }

    /// Reads the line format:
    ///
    /// ```text
    /// # comments
    /// interface eth0 192.0.2.1/24 2001:db8:1::1/64
    /// route default via 203.0.113.1 dev ppp0
    /// route 198.51.100.0/24 dev eth1
    /// forwarding yes
    /// sysctl net.ipv4.conf.all.rp_filter 1
    /// sysctl net.netfilter.nf_conntrack_tcp_loose 0
    /// ```
    ///
    /// `default` is the IPv4 default route unless the gateway is IPv6 (or write `::/0`).
    pub fn parse(text: &str) -> Result<Host, HostError> {
        let mut host = Host::new();
        let mut routes = Vec::new();
        let mut sysctls = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |kind| HostError { line, kind };
            let content = raw.split('#').next().unwrap_or("");
            let words: Vec<&str> = content.split_whitespace().collect();
            let Some((&keyword, rest)) = words.split_first() else {
                continue;
            };
            match keyword {
                "interface" => {
                    let Some((&name, addrs)) = rest.split_first() else {
                        return Err(err(HostErrorKind::MissingName));
                    };
                    let addrs = addrs
                        .iter()
                        .map(|a| {
                            parse_ifaddr(a)
                                .ok_or_else(|| err(HostErrorKind::BadAddress(a.to_string())))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    match host.interface_mut(name) {
                        Some(lo) if name == "lo" => lo.addrs.extend(addrs),
                        Some(_) => {
                            return Err(err(HostErrorKind::DuplicateInterface(name.to_string())))
                        }
                        None => host.interfaces.push(HostInterface {
                            name: name.to_string(),
                            addrs,
                        }),
                    }
                }
                "route" => routes.push((line, parse_route(rest).map_err(err)?)),
                "sysctl" => {
                    let (key, value) = match rest {
                        [kv] => kv.split_once('=').ok_or_else(|| {
                            err(HostErrorKind::BadSysctl(format!("`{kv}` has no value")))
                        })?,
                        [k, v] => (*k, *v),
                        [k, "=", v] => (*k, *v),
                        _ => return Err(err(HostErrorKind::BadSysctl(rest.join(" ")))),
                    };
                    sysctls.push((line, key.to_string(), value.to_string()));
                }
                "forwarding" => {
                    host.forwarding = match rest {
                        ["yes" | "on" | "1" | "true"] => true,
                        ["no" | "off" | "0" | "false"] => false,
                        _ => return Err(err(HostErrorKind::BadForwarding(rest.join(" ")))),
                    }
                }
                other => return Err(err(HostErrorKind::UnknownKeyword(other.to_string()))),
            }
        }
        // Devices are checked after the whole text so routes may precede their interface.
        for (line, route) in routes {
            if host.interface(&route.dev).is_none() {
                return Err(HostError {
                    line,
                    kind: HostErrorKind::UnknownDevice(route.dev),
                });
            }
            host.routes.push(route);
        }
        let names: Vec<&str> = host.interfaces.iter().map(|i| i.name.as_str()).collect();
        let mut values = Sysctls::default();
        for (line, key, value) in sysctls {
            values
                .set(&key, &value, &names)
                .map_err(|kind| HostError { line, kind })?;
        }
        host.sysctls = values;
        Ok(host)
    }

    /// The interface with this name.
    pub fn interface(&self, name: &str) -> Option<&HostInterface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    fn interface_mut(&mut self, name: &str) -> Option<&mut HostInterface> {
        self.interfaces.iter_mut().find(|i| i.name == name)
    }

    /// The interface whose connected network holds `addr`, with the interface address
    /// that makes it connected (the longest such prefix, as [`Host::route`] picks).
    ///
    /// ```
    /// # use rampart_sim::Host;
    /// let host = Host::parse("interface eth0 192.0.2.1/24\ninterface ppp0 203.0.113.2/30\n")?;
    /// let (iface, ifaddr) = host.connected("192.0.2.77".parse().unwrap()).unwrap();
    /// assert_eq!((iface.name.as_str(), ifaddr.to_string().as_str()), ("eth0", "192.0.2.1/24"));
    /// assert!(host.connected("198.51.100.1".parse().unwrap()).is_none());
    /// # Ok::<(), rampart_sim::HostError>(())
    /// ```
    pub fn connected(&self, addr: IpAddr) -> Option<(&HostInterface, IfAddr)> {
        self.interfaces
            .iter()
            .flat_map(|i| i.addrs.iter().map(move |a| (i, *a)))
            .filter(|(_, a)| a.network().contains(addr))
            .max_by_key(|(_, a)| a.len)
    }

    /// The first address of `family` on an interface: what MASQUERADE and REDIRECT use.
    pub fn primary_addr(&self, iface: &str, family: Family) -> Option<IpAddr> {
        self.interface(iface)?
            .addrs
            .iter()
            .map(|a| a.addr)
            .find(|a| Family::of(*a) == family)
    }

    /// Whether the address belongs to this host (any interface, 127/8, ::1).
    pub fn is_local(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) if a.is_loopback() => true,
            IpAddr::V6(a) if a.is_loopback() => true,
            _ => self
                .interfaces
                .iter()
                .any(|i| i.addrs.iter().any(|a| a.addr == addr)),
        }
    }

    /// Whether the address is a broadcast address of a connected IPv4 network (or the
    /// limited broadcast 255.255.255.255).
    pub fn is_broadcast(&self, addr: IpAddr) -> bool {
        let IpAddr::V4(a) = addr else { return false };
        a.is_broadcast()
            || self.interfaces.iter().flat_map(|i| &i.addrs).any(|ifa| {
                let (IpAddr::V4(own), true) = (ifa.addr, ifa.len < 31) else {
                    return false;
                };
                let host_bits = u32::MAX >> ifa.len;
                u32::from(own) | host_bits == u32::from(a)
            })
    }

    /// The prefix length of the route to `dst` (connected or declared, the longest that
    /// holds it); `None` without one.
    pub(crate) fn route_len(&self, dst: IpAddr) -> Option<u8> {
        let connected = self
            .interfaces
            .iter()
            .flat_map(|i| &i.addrs)
            .map(|a| a.network());
        let declared = self.routes.iter().map(|r| r.dest);
        connected
            .chain(declared)
            .filter(|p| p.contains(dst))
            .map(|p| p.len())
            .max()
    }

    /// The routing decision for a destination.
    ///
    /// Broadcast and multicast destinations are delivered locally, as the kernel does for a
    /// host that is a member of the group; multicast forwarding is not modelled.
    pub fn route(&self, dst: IpAddr) -> RouteDecision {
        if self.is_local(dst) || self.is_broadcast(dst) || dst.is_multicast() {
            return RouteDecision::Local;
        }
        let connected = self.interfaces.iter().flat_map(|i| {
            i.addrs
                .iter()
                .map(move |a| (a.network(), i.name.as_str(), None))
        });
        let declared = self.routes.iter().map(|r| (r.dest, r.dev.as_str(), r.via));
        let mut best: Option<(Prefix, &str, Option<IpAddr>)> = None;
        for (dest, dev, via) in connected.chain(declared) {
            if dest.contains(dst) && best.is_none_or(|(b, _, _)| dest.len() > b.len()) {
                best = Some((dest, dev, via));
            }
        }
        match best {
            Some((_, dev, via)) => RouteDecision::Out {
                dev: dev.to_string(),
                via,
            },
            None => RouteDecision::Unreachable,
        }
    }

    /// Why the IPv6 receive path drops a packet arriving on `iface` before PREROUTING
    /// (`ip6_rcv_core`), if it does: a multicast or IPv4-mapped source, a loopback source
    /// or destination from outside `lo`, an interface-local multicast destination.
    pub fn ipv6_receive_drop(&self, src: IpAddr, dst: IpAddr, iface: &str) -> Option<String> {
        let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) else {
            return None;
        };
        if iface == "lo" {
            return None;
        }
        if s.is_multicast() {
            Some(format!("source {s} is multicast"))
        } else if s.to_ipv4_mapped().is_some() {
            Some(format!("source {s} is IPv4-mapped"))
        } else if s.is_loopback() || d.is_loopback() {
            Some("loopback address from outside lo".to_string())
        } else if d.is_multicast() && d.segments()[0] & 0x000f <= 1 {
            Some(format!(
                "destination {d} is multicast of scope 0 or interface-local"
            ))
        } else {
            None
        }
    }

    /// Why IPv4 routing drops a packet arriving on `iface` from `src` to `dst` (after
    /// PREROUTING, so after DNAT) as a martian, if it does: the checks of the kernel's
    /// `ip_route_input_slow` / `ip_route_input_mc` and `fib_validate_source`, with
    /// `rp_filter`, `accept_local` and `route_localnet` as [`Sysctls`] sets them.
    /// `igmp` says the packet is IGMP (which may come from 0.0.0.0). Packets that routing
    /// refuses for other reasons (no route, forwarding off) are not martians.
    pub fn martian(&self, src: IpAddr, dst: IpAddr, iface: &str, igmp: bool) -> Option<String> {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
            return None;
        };
        if iface == "lo" {
            return None;
        }
        let localnet = self.sysctls.route_localnet(iface);
        // `ipv4_is_zeronet` is 0.0.0.0 alone since Linux 5.3, which made the rest of
        // 0.0.0.0/8 ordinary unicast (the IPv4 unicast extensions).
        let zeronet = |a: Ipv4Addr| a.is_unspecified();
        let source = |why: &str| Some(format!("martian source {s} ({why})"));
        if d.is_multicast() {
            if s.is_multicast() || s.is_broadcast() {
                return source("multicast or broadcast source");
            }
            if s.is_loopback() && !localnet {
                return source("loopback source from outside, route_localnet=0");
            }
            if zeronet(s) {
                let link_local = d.octets()[..3] == [224, 0, 0];
                return (!link_local && !igmp)
                    .then(|| format!("martian source {s} (0.0.0.0 to a routed group)"));
            }
            return self.validate_source(src, iface);
        }
        if s.is_multicast() || s.is_broadcast() {
            return source("multicast or broadcast source");
        }
        if d.is_broadcast() || (s.is_unspecified() && d.is_unspecified()) {
            return if zeronet(s) {
                None
            } else {
                self.validate_source(src, iface)
            };
        }
        if zeronet(s) {
            return source("0.0.0.0 outside a broadcast");
        }
        if zeronet(d) {
            return Some(format!("martian destination {d} (0.0.0.0)"));
        }
        if d.is_loopback() {
            if !localnet {
                return Some(format!(
                    "martian destination {d} (loopback from outside, route_localnet=0)"
                ));
            }
        } else if s.is_loopback() && !localnet {
            return source("loopback source from outside, route_localnet=0");
        }
        match self.route(dst) {
            RouteDecision::Local => self.validate_source(src, iface),
            RouteDecision::Out { .. } if self.forwarding => self.validate_source(src, iface),
            _ => None,
        }
    }

    /// The kernel's `fib_validate_source` for an arriving packet: without rp_filter only
    /// a source that is one of the host's own addresses fails (unless `accept_local`);
    /// with it, the route back to the source must exist and be unicast (or local with
    /// `accept_local`), and in strict mode (1) leave by the arrival interface.
    fn validate_source(&self, src: IpAddr, iface: &str) -> Option<String> {
        let rpf = self.sysctls.rp_filter(iface);
        let accept_local = self.sysctls.accept_local(iface);
        let own = self.is_local(src);
        if rpf == 0 {
            return (own && !accept_local).then(|| {
                format!("martian source {src} (one of this host's addresses, accept_local=0)")
            });
        }
        if own {
            return (!accept_local).then(|| {
                format!("martian source {src} (one of this host's addresses, accept_local=0)")
            });
        }
        if self.is_broadcast(src) {
            return Some(format!(
                "martian source {src} (a broadcast address; rp_filter={rpf})"
            ));
        }
        match self.route(src) {
            RouteDecision::Out { dev, .. } if dev == iface => None,
            RouteDecision::Out { dev, .. } if rpf == 1 => Some(format!(
                "martian source {src} (rp_filter=1: the route back leaves by {dev}, not {iface})"
            )),
            RouteDecision::Out { .. } | RouteDecision::Local => None,
            RouteDecision::Unreachable => Some(format!(
                "martian source {src} (rp_filter={rpf}: no route back to it)"
            )),
        }
    }

    /// The `-m addrtype` type bits of an address, seen from this host.
    ///
    /// With `iface` set (`--limit-iface-in/out`), LOCAL only counts addresses of that
    /// interface.
    pub fn addr_type(&self, addr: IpAddr, iface: Option<&str>) -> u16 {
        let bit = |name| AddrTypes::bit(name).expect("kernel type name");
        if addr.is_unspecified() {
            return bit("UNSPEC");
        }
        let local = match iface {
            Some(name) => self
                .interface(name)
                .is_some_and(|i| i.addrs.iter().any(|a| a.addr == addr)),
            None => self.is_local(addr),
        };
        if local {
            bit("LOCAL")
        } else if self.is_broadcast(addr) {
            bit("BROADCAST")
        } else if addr.is_multicast() {
            bit("MULTICAST")
        } else {
            bit("UNICAST")
        }
    }
}

fn parse_ifaddr(text: &str) -> Option<IfAddr> {
    let (addr, len) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    Prefix::new(addr, len)?;
    Some(IfAddr { addr, len })
}

fn parse_route(words: &[&str]) -> Result<Route, HostErrorKind> {
    let bad = |why: &str| HostErrorKind::BadRoute(why.to_string());
    let Some((&dest, mut rest)) = words.split_first() else {
        return Err(bad("missing destination"));
    };
    let (mut dev, mut via) = (None, None);
    while let [key, value, tail @ ..] = rest {
        match *key {
            "dev" => dev = Some(value.to_string()),
            "via" => {
                via = Some(
                    value
                        .parse::<IpAddr>()
                        .map_err(|_| bad(&format!("gateway `{value}` is not an address")))?,
                )
            }
            other => return Err(bad(&format!("unexpected `{other}`"))),
        }
        rest = tail;
    }
    if let [extra] = rest {
        return Err(bad(&format!("`{extra}` needs a value")));
    }
    let dev = dev.ok_or_else(|| bad("missing `dev IFACE`"))?;
    let dest = if dest == "default" {
        let any = match via {
            Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        Prefix::new(any, 0).expect("zero length")
    } else {
        dest.parse::<Prefix>()
            .map_err(|e| bad(&format!("destination: {e}")))?
    };
    if via.is_some_and(|v| v.is_ipv4() != dest.is_ipv4()) {
        return Err(bad("gateway and destination are of different families"));
    }
    Ok(Route { dest, dev, via })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTER: &str = "\
# a small router
interface eth0 192.0.2.1/24 2001:db8:1::1/64
interface ppp0 203.0.113.2/24
interface eth1
route default via 203.0.113.1 dev ppp0
route 198.51.100.0/24 dev eth1
forwarding yes
";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_routes_by_longest_prefix() {
        let host = Host::parse(ROUTER).unwrap();
        assert!(host.forwarding);
        assert_eq!(host.route(ip("192.0.2.1")), RouteDecision::Local);
        assert_eq!(host.route(ip("127.0.0.5")), RouteDecision::Local);
        assert_eq!(host.route(ip("::1")), RouteDecision::Local);
        let out = |dev: &str, via: Option<&str>| RouteDecision::Out {
            dev: dev.to_string(),
            via: via.map(ip),
        };
        assert_eq!(host.route(ip("192.0.2.77")), out("eth0", None));
        assert_eq!(host.route(ip("198.51.100.7")), out("eth1", None));
        assert_eq!(host.route(ip("8.8.8.8")), out("ppp0", Some("203.0.113.1")));
        assert_eq!(host.route(ip("2001:db8:1::9")), out("eth0", None));
        assert_eq!(host.route(ip("2001:db8:9::9")), RouteDecision::Unreachable);
        assert_eq!(
            host.primary_addr("ppp0", Family::Ipv4),
            Some(ip("203.0.113.2"))
        );
    }

    #[test]
    fn address_types() {
        let host = Host::parse(ROUTER).unwrap();
        let bit = |n| AddrTypes::bit(n).unwrap();
        assert_eq!(host.addr_type(ip("192.0.2.1"), None), bit("LOCAL"));
        assert_eq!(host.addr_type(ip("192.0.2.255"), None), bit("BROADCAST"));
        assert_eq!(host.addr_type(ip("224.0.0.1"), None), bit("MULTICAST"));
        assert_eq!(host.addr_type(ip("8.8.8.8"), None), bit("UNICAST"));
        assert_eq!(
            host.addr_type(ip("192.0.2.1"), Some("ppp0")),
            bit("UNICAST")
        );
    }

    #[test]
    fn errors_name_the_line_and_hint() {
        let e = Host::parse("interface eth0 192.0.2.1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "host description line 1: `192.0.2.1` is not an interface address: write ADDR/LEN such as 192.0.2.1/24"
        );
        let e = Host::parse("# x\nroute default via 192.0.2.254 dev eth9\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.kind, HostErrorKind::UnknownDevice("eth9".into()));
        let e = Host::parse("forwarding maybe").unwrap_err();
        assert!(matches!(e.kind, HostErrorKind::BadForwarding(_)));
        let e = Host::parse("bridge br0").unwrap_err();
        assert!(matches!(e.kind, HostErrorKind::UnknownKeyword(_)));
        let e = Host::parse("interface eth0\nroute 10.0.0.0/8 eth0").unwrap_err();
        assert!(matches!(e.kind, HostErrorKind::BadRoute(_)));
    }
}
