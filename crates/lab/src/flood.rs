//! The lab's flood generator: SYN and UDP floods written to raw sockets
//! (spoofed sources from the documentation ranges only), connection floods
//! that hold real TCP connections open, and HTTP floods of real GETs, each
//! paced to a rate and bounded in packets and time.
//!
//! ```text
//!  FloodSpec ──check()──▶ (in a rampart-lab-* namespace only: lab_namespace())
//!     │ syn / udp:  Pacer + SpoofPool ──▶ packet::Datagram ──▶ raw socket (IPPROTO_RAW)
//!     │ connect:    Pacer ──▶ non-blocking connect(), sockets held until the end
//!     │ http:       http::http_load (workers, real GETs)
//!     ▼
//!  FloodReport (sent, errors, rate achieved, sources, connections / HTTP results)
//! ```
//!
//! # Safety rails
//!
//! * [`lab_namespace`] refuses to run unless the calling thread is in a
//!   network namespace registered as `/run/netns/<lab prefix>-*` (compared
//!   by namespace identity, device and inode), and never in the machine's
//!   own (that of pid 1): a flood cannot leave the lab by mistake.
//! * Destinations and spoofed sources must be documentation addresses
//!   (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
//! * Every flood is bounded: [`MAX_RATE`], [`MAX_DURATION`], [`MAX_PACKETS`],
//!   [`MAX_CONNECTIONS`], [`MAX_SOURCES`].
//!
//! DoS warning: this module exists to overload the lab's server; the caps
//! above are what keeps it from overloading the machine running the lab.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use rampart_prefix::Prefix;
use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::addr::{check_documentation, is_documentation};
use crate::cmd::{invalid, NETNS_DIR};
use crate::http::{http_load, HttpLoad, HttpReport};
use crate::packet::{tcp_flags, Datagram, TcpRepr, Transport, UdpRepr};

/// Highest rate, packets (or connections, or requests) per second: more than
/// a veth pair in a namespace carries on a small machine, so the generator is
/// never the limit, yet a typo cannot ask for a billion.
pub const MAX_RATE: u64 = 2_000_000;
/// Longest flood.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Most packets (or requests) in one flood: 10 minutes at 100 000/s.
pub const MAX_PACKETS: u64 = 60_000_000;
/// Most connections a connect flood holds: below the ~28 000 ephemeral
/// ports of one source address, and a bound on file descriptors.
pub const MAX_CONNECTIONS: u64 = 20_000;
/// Most distinct spoofed sources (the list is built before the flood).
pub const MAX_SOURCES: u64 = 1 << 20;
/// Packets sent between two looks at the clock when the sender is behind.
const BATCH: u64 = 256;
/// `IPPROTO_RAW` (linux/in.h): a raw socket that sends packets whose IP
/// header the caller wrote (`IP_HDRINCL` implied, also for IPv6).
const IPPROTO_RAW: i32 = 255;
/// File descriptors kept free beside a connect flood's sockets.
const SPARE_FDS: u64 = 256;
/// The UDP flood's payload.
const UDP_PAYLOAD: &[u8] = b"rampart lab flood: documentation addresses only";

/// What a flood sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FloodKind {
    /// TCP SYNs from a raw socket (spoofable): half-open connections.
    Syn,
    /// Real TCP connections, opened and held until the flood ends.
    Connect,
    /// UDP datagrams from a raw socket (spoofable).
    Udp,
    /// Real HTTP GETs, one connection each.
    Http,
}

impl FloodKind {
    /// Does this kind write its own packets (and so may spoof sources)?
    pub fn is_raw(self) -> bool {
        matches!(self, FloodKind::Syn | FloodKind::Udp)
    }
}

/// Where spoofed sources come from: documentation prefixes, and how many
/// distinct addresses of them to use (cycled through, packet by packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spoof {
    /// The prefixes (each wholly inside a documentation range). Empty: the
    /// documentation ranges of the destination's family.
    pub prefixes: Vec<Prefix>,
    /// Distinct sources; `None`: as many as the prefixes hold (at most
    /// [`MAX_SOURCES`]).
    pub count: Option<u64>,
}

/// One flood to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodSpec {
    /// What to send.
    pub kind: FloodKind,
    /// Where to.
    pub dst: SocketAddr,
    /// Packets (connections, requests) per second.
    pub rate: u64,
    /// How long to send (and, for connect, to hold the connections).
    pub duration: Duration,
    /// Stop after this many; `None`: rate × duration.
    pub count: Option<u64>,
    /// Spoofed sources (SYN and UDP only); `None`: the sender's own address.
    pub spoof: Option<Spoof>,
    /// Seed of the ports and sequence numbers (same seed, same packets).
    pub seed: u64,
}

/// Connections of a connect flood, at its end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConnectStats {
    /// Connections attempted.
    pub opened: u64,
    /// Established and still open when the flood ended (held that long).
    pub established: u64,
    /// Refused (RST) or unreachable.
    pub refused: u64,
    /// Still connecting (no answer, e.g. dropped SYNs).
    pub pending: u64,
}

/// What a flood sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodReport {
    /// What was sent.
    pub kind: FloodKind,
    /// Where to.
    pub target: SocketAddr,
    /// The rate asked for, per second.
    pub rate_requested: u64,
    /// Packets (connections, requests) handed to the kernel.
    pub sent: u64,
    /// Sends (connects, requests) that failed.
    pub errors: u64,
    /// The first error, as the OS said it.
    pub first_error: Option<String>,
    /// Seconds from the first send to the last.
    pub elapsed_secs: f64,
    /// `sent / elapsed_secs`.
    pub rate_achieved: f64,
    /// Distinct source addresses used.
    pub sources: u64,
    /// Were the sources spoofed?
    pub spoofed: bool,
    /// For a connect flood.
    pub connections: Option<ConnectStats>,
    /// For an HTTP flood.
    pub http: Option<HttpReport>,
}

/// When each packet of a paced flood is due: packet `i` at `i / rate`
/// seconds after the start. Pure, so pacing is tested without a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacer {
    rate: u64,
    total: u64,
}

impl Pacer {
    /// `total` packets at `rate` per second (`rate` ≥ 1).
    pub fn new(rate: u64, total: u64) -> Pacer {
        Pacer {
            rate: rate.max(1),
            total,
        }
    }

    /// How many packets are due `elapsed` after the start (the first is due at once).
    pub fn due(&self, elapsed: Duration) -> u64 {
        let n = elapsed.as_nanos() * u128::from(self.rate) / 1_000_000_000 + 1;
        u64::try_from(n).unwrap_or(u64::MAX).min(self.total)
    }

    /// When packet `i` is due, after the start.
    pub fn at(&self, i: u64) -> Duration {
        let nanos = u128::from(i) * 1_000_000_000 / u128::from(self.rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

impl FloodSpec {
    /// How many packets (connections, requests) the flood sends at most.
    pub fn total(&self) -> u64 {
        let by_time = u128::from(self.rate) * self.duration.as_millis() / 1000;
        let by_time = u64::try_from(by_time).unwrap_or(u64::MAX).max(1);
        self.count.map_or(by_time, |c| c.min(by_time))
    }

    /// Refuse what the generator does not do: rates, durations and counts
    /// beyond the caps, non-documentation destinations or spoofed sources,
    /// spoofing on connect and HTTP floods, mixed families.
    pub fn check(&self) -> io::Result<()> {
        if self.rate == 0 || self.rate > MAX_RATE {
            return Err(invalid(format!(
                "--rate {}: give 1 to {MAX_RATE} per second",
                self.rate
            )));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err(invalid(format!(
                "--duration {:?}: give more than 0 and at most {} seconds",
                self.duration,
                MAX_DURATION.as_secs()
            )));
        }
        let cap = if self.kind == FloodKind::Connect {
            MAX_CONNECTIONS
        } else {
            MAX_PACKETS
        };
        let asked = self.count.unwrap_or_else(|| self.total());
        if asked == 0 || asked > cap {
            return Err(invalid(format!(
                "{asked} {} asked for (--count, or --rate × --duration): give 1 to {cap}",
                if self.kind == FloodKind::Connect {
                    "connections"
                } else {
                    "packets"
                }
            )));
        }
        check_documentation(self.dst.ip())?;
        if let Some(spoof) = &self.spoof {
            if !self.kind.is_raw() {
                return Err(invalid(
                    format!(
                        "a {:?} flood opens real connections, which cannot come from spoofed \
                     sources: use --spoof/--sources with syn or udp",
                        self.kind
                    )
                    .to_lowercase(),
                ));
            }
            for p in &spoof.prefixes {
                if p.is_ipv4() != self.dst.is_ipv4() {
                    return Err(invalid(format!(
                        "--spoof {p}: not the family of the destination {}",
                        self.dst.ip()
                    )));
                }
                if !is_documentation(p.addr()) || !is_documentation(p.last()) {
                    return Err(invalid(format!(
                        "--spoof {p}: spoofed sources must lie inside 192.0.2.0/24, \
                         198.51.100.0/24, 203.0.113.0/24 or 2001:db8::/32"
                    )));
                }
            }
            if spoof.count == Some(0) || spoof.count.is_some_and(|c| c > MAX_SOURCES) {
                return Err(invalid(format!(
                    "--sources {}: give 1 to {MAX_SOURCES}",
                    spoof.count.unwrap_or(0)
                )));
            }
        }
        Ok(())
    }
}

/// The default spoofing ranges of a family: the documentation ranges.
fn default_prefixes(v4: bool) -> Vec<Prefix> {
    let texts: &[&str] = if v4 {
        &["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]
    } else {
        &["2001:db8::/32"]
    };
    texts
        .iter()
        .map(|t| t.parse().expect("documentation prefix"))
        .collect()
}

/// The spoofed sources, in the order packets use them: host addresses of
/// each prefix in turn (IPv4 network and broadcast addresses and the IPv6
/// subnet-router anycast address left out), skipping `exclude` (the lab's
/// real hosts, so their replies do not disturb the hosts under test).
pub fn spoof_sources(spoof: &Spoof, v4: bool, exclude: &[IpAddr]) -> io::Result<Vec<IpAddr>> {
    let prefixes = if spoof.prefixes.is_empty() {
        default_prefixes(v4)
    } else {
        spoof.prefixes.clone()
    };
    let want = spoof.count.unwrap_or(MAX_SOURCES).min(MAX_SOURCES);
    let exclude: HashSet<IpAddr> = exclude.iter().copied().collect();
    let mut out = Vec::new();
    for p in &prefixes {
        let width = if p.is_ipv4() { 32 } else { 128 };
        let hosts = 1u128
            .checked_shl(u32::from(width - p.len()))
            .unwrap_or(u128::MAX);
        // Offsets 1 .. hosts-1 for networks of 4 and more (no network,
        // broadcast or anycast address); the one or two of a /31, /32, /127, /128.
        let (first, end) = if hosts >= 4 {
            (1, hosts - 1)
        } else {
            (0, hosts)
        };
        let base = match p.addr() {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        let mut off = first;
        while off < end && (out.len() as u64) < want {
            let ip = match p.addr() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from((base + off) as u32)),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(base + off)),
            };
            if !exclude.contains(&ip) {
                out.push(ip);
            }
            off += 1;
        }
    }
    if out.is_empty() {
        return Err(invalid(
            "the spoofing prefixes hold no usable source address".into(),
        ));
    }
    if let Some(c) = spoof.count {
        if (out.len() as u64) < c {
            return Err(invalid(format!(
                "--sources {c}: the spoofing prefixes hold only {} usable addresses",
                out.len()
            )));
        }
    }
    Ok(out)
}

/// The lab namespace the calling thread is in, checked by identity: the
/// `/run/netns/<prefix>-*` handle with the same device and inode as
/// `/proc/thread-self/ns/net`. Refuses the machine's own namespace even if
/// someone registered it under a lab name.
pub fn lab_namespace(prefix: &str) -> io::Result<String> {
    crate::lab::check_prefix(prefix)?;
    let me = fs::metadata("/proc/thread-self/ns/net")?;
    let id = (me.dev(), me.ino());
    let refuse = |why: String| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing to flood: {why}; the flood generator runs only inside the lab's \
                 {prefix}-* namespaces (`rampart lab flood --from ROLE`)"
            ),
        )
    };
    if let Ok(init) = fs::metadata("/proc/1/ns/net") {
        if (init.dev(), init.ino()) == id {
            return Err(refuse("this is the machine's own network namespace".into()));
        }
    }
    let head = format!("{prefix}-");
    let entries = match fs::read_dir(NETNS_DIR) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(refuse(format!("{NETNS_DIR} does not exist")))
        }
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&head) {
            continue;
        }
        if let Ok(m) = fs::metadata(Path::new(NETNS_DIR).join(&name)) {
            if (m.dev(), m.ino()) == id {
                return Ok(name);
            }
        }
    }
    Err(refuse(format!(
        "this thread's network namespace (inode {}) is none of {NETNS_DIR}/{head}*",
        id.1
    )))
}

/// Send `spec` from the calling thread's network namespace, which must be
/// one of the lab `prefix`'s ([`lab_namespace`]). Spoofed sources skip
/// `exclude`. Blocks for the flood's duration at most (plus, for HTTP, one
/// request timeout).
pub fn flood_here(prefix: &str, spec: &FloodSpec, exclude: &[IpAddr]) -> io::Result<FloodReport> {
    spec.check()?;
    lab_namespace(prefix)?;
    match spec.kind {
        FloodKind::Syn | FloodKind::Udp => raw_flood(spec, exclude),
        FloodKind::Connect => connect_flood(spec),
        FloodKind::Http => {
            let load = HttpLoad {
                dst: spec.dst,
                rate: spec.rate,
                duration: spec.duration,
                count: spec.count,
                timeout: crate::http::DEFAULT_TIMEOUT,
            };
            let r = http_load(&load)?;
            Ok(FloodReport {
                kind: spec.kind,
                target: spec.dst,
                rate_requested: spec.rate,
                sent: r.requests,
                errors: r.failed,
                first_error: r.failures.keys().next().cloned(),
                elapsed_secs: r.elapsed_secs,
                rate_achieved: r.rate_achieved,
                sources: 1,
                spoofed: false,
                connections: None,
                http: Some(r),
            })
        }
    }
}

/// xorshift64*: ports and sequence numbers that look random, reproducibly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The address this namespace would send from to reach `dst` (a routing
/// lookup through a connected UDP socket; nothing is sent).
fn own_source(dst: SocketAddr) -> io::Result<IpAddr> {
    let any: SocketAddr = if dst.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any)?;
    s.connect(dst)
        .map_err(|e| io::Error::new(e.kind(), format!("no route to {dst}: {e}")))?;
    Ok(s.local_addr()?.ip())
}

/// Call `send(i)` for packet `i = 0, 1, …` when the pacer says it is due,
/// until every packet is sent or `duration` is over. When a sleep overshoots
/// the end by a little, the packets due before it are still sent (at most
/// [`BATCH`]), so a flood below the sender's top speed sends exactly rate ×
/// duration. Returns how many were sent and the time from the first to the last.
fn paced(
    pacer: &Pacer,
    duration: Duration,
    mut send: impl FnMut(u64) -> io::Result<()>,
) -> io::Result<(u64, Duration)> {
    let in_time = pacer.due(duration.saturating_sub(Duration::from_nanos(1)));
    let start = Instant::now();
    let mut last = start;
    let mut i = 0u64;
    while i < in_time {
        let elapsed = Instant::now() - start;
        let due = if elapsed >= duration {
            if in_time - i > BATCH {
                break; // behind schedule: the time is up
            }
            in_time
        } else {
            pacer.due(elapsed)
        };
        if i >= due {
            std::thread::sleep(pacer.at(i).saturating_sub(elapsed));
            continue;
        }
        for _ in 0..(due - i).min(BATCH) {
            send(i)?;
            i += 1;
        }
        last = Instant::now();
    }
    Ok((i, last - start))
}

fn raw_flood(spec: &FloodSpec, exclude: &[IpAddr]) -> io::Result<FloodReport> {
    let dst_ip = spec.dst.ip();
    let sources = match &spec.spoof {
        Some(s) => {
            let mut ex = exclude.to_vec();
            ex.push(dst_ip);
            spoof_sources(s, dst_ip.is_ipv4(), &ex)?
        }
        None => vec![own_source(spec.dst)?],
    };
    let domain = if dst_ip.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_RAW)))
        .map_err(|e| io::Error::new(e.kind(), format!("raw socket (needs root): {e}")))?;
    // The kernel ignores the port of a raw socket's destination.
    let to = SockAddr::from(SocketAddr::new(dst_ip, 0));
    let total = spec.total();
    let pacer = Pacer::new(spec.rate, total);
    let mut rng = Rng(spec.seed | 1);
    let mut buf = [0u8; crate::packet::MAX_DATAGRAM];
    let (mut sent, mut errors, mut first_error) = (0u64, 0u64, None);
    let (i, elapsed) = paced(&pacer, spec.duration, |i| {
        let r = rng.next();
        let src = sources[(i % sources.len() as u64) as usize];
        let sport = 1024 + (r % 64_512) as u16;
        let transport = match spec.kind {
            FloodKind::Syn => Transport::Tcp(TcpRepr {
                sport,
                dport: spec.dst.port(),
                seq: (r >> 32) as u32,
                ack: 0,
                flags: tcp_flags::SYN,
                window: 64_240,
                mss: Some(1460),
            }),
            _ => Transport::Udp(UdpRepr {
                sport,
                dport: spec.dst.port(),
                payload: UDP_PAYLOAD.to_vec(),
            }),
        };
        let d = Datagram {
            src,
            dst: dst_ip,
            ttl: 64,
            ident: (r >> 16) as u16,
            transport,
        };
        let n = d
            .emit(&mut buf)
            .map_err(|e| io::Error::other(format!("building a packet: {e}")))?;
        match sock.send_to(&buf[..n], &to) {
            Ok(_) => sent += 1,
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
        Ok(())
    })?;
    Ok(FloodReport {
        kind: spec.kind,
        target: spec.dst,
        rate_requested: spec.rate,
        sent,
        errors,
        first_error,
        elapsed_secs: elapsed.as_secs_f64(),
        rate_achieved: rate(sent, elapsed.as_secs_f64()),
        sources: sources.len().min(usize::try_from(i).unwrap_or(usize::MAX)) as u64,
        spoofed: spec.spoof.is_some(),
        connections: None,
        http: None,
    })
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        n as f64
    }
}

/// Let this process hold `n` more descriptors (soft limit up to the hard one).
fn raise_fd_limit(n: u64) -> io::Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let want = n + SPARE_FDS;
    if soft >= want {
        return Ok(());
    }
    if hard < want {
        return Err(invalid(format!(
            "{n} connections need {want} file descriptors; the hard limit is {hard} \
             (raise it with `ulimit -Hn`, or ask for fewer with --count)"
        )));
    }
    setrlimit(Resource::RLIMIT_NOFILE, want, hard)?;
    Ok(())
}

fn connect_flood(spec: &FloodSpec) -> io::Result<FloodReport> {
    let total = spec.total();
    raise_fd_limit(total)?;
    let pacer = Pacer::new(spec.rate, total);
    let to = SockAddr::from(spec.dst);
    let domain = Domain::for_address(spec.dst);
    let mut sockets = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let (mut errors, mut first_error) = (0u64, None);
    let start = Instant::now();
    let deadline = start + spec.duration;
    let (i, elapsed) = paced(&pacer, spec.duration, |_| {
        let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
            .and_then(|s| s.set_nonblocking(true).map(|()| s));
        let r = s.and_then(|s| match s.connect(&to) {
            Ok(()) => Ok(s),
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => Ok(s),
            Err(e) => Err(e),
        });
        match r {
            Ok(s) => sockets.push(s),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
        Ok(())
    })?;
    // Hold every connection until the flood's time is up.
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    let mut stats = ConnectStats {
        opened: i,
        ..ConnectStats::default()
    };
    for s in &sockets {
        match s.take_error() {
            Ok(Some(e)) => {
                stats.refused += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            _ if s.peer_addr().is_ok() => stats.established += 1,
            _ => stats.pending += 1,
        }
    }
    drop(sockets);
    let elapsed = elapsed.as_secs_f64();
    let sent = i - errors;
    Ok(FloodReport {
        kind: spec.kind,
        target: spec.dst,
        rate_requested: spec.rate,
        sent,
        errors: errors + stats.refused,
        first_error,
        elapsed_secs: elapsed,
        rate_achieved: rate(sent, elapsed),
        sources: 1,
        spoofed: false,
        connections: Some(stats),
        http: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: FloodKind) -> FloodSpec {
        FloodSpec {
            kind,
            dst: "203.0.113.10:80".parse().unwrap(),
            rate: 1000,
            duration: Duration::from_secs(2),
            count: None,
            spoof: None,
            seed: 1,
        }
    }

    #[test]
    fn pacer_spreads_packets_evenly() {
        let p = Pacer::new(1000, 2000);
        assert_eq!(p.due(Duration::ZERO), 1);
        assert_eq!(p.due(Duration::from_micros(999)), 1);
        assert_eq!(p.due(Duration::from_millis(1)), 2);
        assert_eq!(p.due(Duration::from_millis(500)), 501);
        assert_eq!(
            p.due(Duration::from_secs(60)),
            2000,
            "never more than the total"
        );
        assert_eq!(p.at(0), Duration::ZERO);
        assert_eq!(p.at(1500), Duration::from_millis(1500));
        let fast = Pacer::new(MAX_RATE, MAX_PACKETS);
        assert_eq!(fast.due(MAX_DURATION), MAX_PACKETS);
    }

    /// The pacing loop itself, on the real clock, at a rate it keeps easily:
    /// exactly rate × duration, each packet not before its time.
    #[test]
    fn paced_sends_exactly_what_is_due() {
        let pacer = Pacer::new(2000, u64::MAX);
        let start = Instant::now();
        let mut late = Vec::new();
        let (n, _) = paced(&pacer, Duration::from_millis(100), |i| {
            late.push(start.elapsed() >= pacer.at(i));
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 200);
        assert!(
            late.iter().all(|ok| *ok),
            "a packet went out before its time"
        );
        let (n, _) = paced(&Pacer::new(2000, 7), Duration::from_secs(10), |_| Ok(())).unwrap();
        assert_eq!(n, 7, "the total bounds it");
        let e = paced(&pacer, Duration::from_secs(1), |i| {
            if i == 3 {
                Err(io::Error::other("boom"))
            } else {
                Ok(())
            }
        });
        assert!(e.is_err(), "a send error stops the flood");
    }

    #[test]
    fn totals_come_from_count_or_rate_times_duration() {
        let mut s = spec(FloodKind::Syn);
        assert_eq!(s.total(), 2000);
        s.count = Some(50);
        assert_eq!(s.total(), 50);
        s.count = Some(5000);
        assert_eq!(s.total(), 2000, "the duration still bounds a count");
    }

    #[test]
    fn caps_and_ranges_are_enforced() {
        let ok = spec(FloodKind::Syn);
        assert!(ok.check().is_ok());
        let bad = |f: &dyn Fn(&mut FloodSpec)| {
            let mut s = spec(FloodKind::Syn);
            f(&mut s);
            s.check().unwrap_err().to_string()
        };
        assert!(bad(&|s| s.rate = 0).contains("--rate 0"));
        assert!(bad(&|s| s.rate = MAX_RATE + 1).contains("--rate"));
        assert!(bad(&|s| s.duration = Duration::from_secs(601)).contains("--duration"));
        assert!(bad(&|s| s.dst = "10.0.0.1:80".parse().unwrap()).contains("not a documentation"));
        assert!(bad(&|s| {
            s.spoof = Some(Spoof {
                prefixes: vec!["10.0.0.0/8".parse().unwrap()],
                count: None,
            })
        })
        .contains("must lie inside"));
        assert!(bad(&|s| {
            s.spoof = Some(Spoof {
                prefixes: vec!["192.0.2.0/23".parse().unwrap()],
                count: None,
            })
        })
        .contains("must lie inside"));
        assert!(bad(&|s| {
            s.spoof = Some(Spoof {
                prefixes: vec!["2001:db8::/64".parse().unwrap()],
                count: None,
            })
        })
        .contains("not the family"));
        let mut c = spec(FloodKind::Connect);
        c.spoof = Some(Spoof {
            prefixes: vec![],
            count: Some(3),
        });
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("cannot come from spoofed"));
        c.spoof = None;
        c.count = Some(MAX_CONNECTIONS + 1);
        c.rate = 100_000;
        c.duration = Duration::from_secs(10);
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("connections asked for"));
    }

    #[test]
    fn spoofed_sources_stay_in_their_prefixes() {
        let s = Spoof {
            prefixes: vec!["198.51.100.0/24".parse().unwrap()],
            count: None,
        };
        let exclude = ["198.51.100.21".parse().unwrap()];
        let v = spoof_sources(&s, true, &exclude).unwrap();
        assert_eq!(v.len(), 253, "254 hosts less one excluded");
        assert_eq!(v[0], "198.51.100.1".parse::<IpAddr>().unwrap());
        assert!(!v.contains(&exclude[0]));
        assert!(v.iter().all(|ip| s.prefixes[0].contains(*ip)));

        let few = Spoof {
            prefixes: vec![],
            count: Some(300),
        };
        let v = spoof_sources(&few, true, &[]).unwrap();
        assert_eq!(v.len(), 300);
        assert!(v.iter().all(|ip| is_documentation(*ip)));
        assert_eq!(v[254], "198.51.100.1".parse::<IpAddr>().unwrap());

        let v6 = spoof_sources(&few, false, &[]).unwrap();
        assert_eq!(v6[0], "2001:db8::1".parse::<IpAddr>().unwrap());
        assert!(v6.iter().all(|ip| is_documentation(*ip)));

        let too_many = Spoof {
            prefixes: vec!["192.0.2.0/30".parse().unwrap()],
            count: Some(3),
        };
        let e = spoof_sources(&too_many, true, &[]).unwrap_err();
        assert!(e.to_string().contains("only 2 usable"), "{e}");
        let host = Spoof {
            prefixes: vec!["192.0.2.7/32".parse().unwrap()],
            count: None,
        };
        assert_eq!(spoof_sources(&host, true, &[]).unwrap().len(), 1);
    }

    /// The test process runs in the machine's namespace (or a test
    /// namespace that is no lab's): refused before any socket is opened.
    #[test]
    fn refuses_outside_a_lab_namespace() {
        let e = flood_here("rampart-nolab", &spec(FloodKind::Syn), &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("refusing to flood"), "{e}");
    }
}
