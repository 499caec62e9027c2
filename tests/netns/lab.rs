//! A network-namespace lab: real kernels, real packets, observed fates.
//!
//! Every namespace the lab creates is named `rampart-t<pid>-<n>-<role>` and
//! is removed when the [`Lab`] is dropped. Namespaces left behind by dead
//! test processes (a `rampart-t<pid>-…` whose pid no longer exists) are
//! removed the first time a lab is created in a process. The machine's own
//! network namespace is never touched: `ip` runs with `-n NS`, everything
//! else runs with `ip netns exec NS`, and probes run on threads that entered
//! the namespace with `setns(2)`.
//!
//! Fates, as observed by [`Lab::probe`]:
//!
//! * [`Fate::Delivered`]: a listener in the destination namespace got the
//!   probe and saw `seen_src` as its source (a different address than the
//!   probe's source means NAT happened on the way). For TCP, delivered means
//!   the listener *accepted* the connection, i.e. the full three-way
//!   handshake completed (so the replies came back too). For UDP and ICMP
//!   echo it means the datagram / echo request reached the destination
//!   socket (a raw ICMP socket for echo), whether or not the answer made it
//!   back.
//! * [`Fate::Rejected`]: not delivered, and the sender got an error back
//!   (TCP RST or ICMP unreachable: `ECONNREFUSED`, `EHOSTUNREACH`,
//!   `ENETUNREACH`, or an ICMP destination-unreachable quoting our echo).
//! * [`Fate::Dropped`]: nothing came back within the timeout.
#![allow(dead_code)]

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{
    bind, recvfrom, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
    SockaddrIn, SockaddrIn6, SockaddrStorage,
};

/// Prefix of every namespace name a lab creates.
pub const NS_PREFIX: &str = "rampart-t";

/// Upper bound on any external command (`ip`, `iptables-restore`, scripts).
const COMMAND_TIMEOUT: &str = "10";

static LAB_COUNTER: AtomicUsize = AtomicUsize::new(0);
static ECHO_ID: AtomicU16 = AtomicU16::new(0);
static CLEAN_LEFTOVERS: Once = Once::new();

/// Transport of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP connect to `dst:port`.
    Tcp,
    /// One UDP datagram to `dst:port`.
    Udp,
    /// ICMP (v4) or ICMPv6 echo request to `dst`, by the family of `dst`.
    Icmp,
}

/// One packet (or connection) to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Transport.
    pub proto: Proto,
    /// Source address the sender binds to (must be configured in the sending namespace).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port (ignored for ICMP).
    pub port: u16,
}

/// What happened to a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The listener got it and saw this source address.
    Delivered {
        /// Source address as seen by the receiver (differs from the probe's when NATed).
        seen_src: IpAddr,
    },
    /// The sender got a RST or an ICMP error.
    Rejected,
    /// Nothing came back before the timeout.
    Dropped,
}

/// What the sending side observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Handshake completed / reply received.
    Answered,
    /// RST or ICMP error.
    Refused,
    /// Timeout.
    Silent,
}

/// A set of network namespaces, removed on drop.
#[derive(Debug)]
pub struct Lab {
    id: String,
    /// (role, namespace name)
    namespaces: Vec<(String, String)>,
    /// (role, address) for every address the lab configured.
    addresses: Vec<(String, IpAddr)>,
}

impl Lab {
    /// Create an empty lab (removing leftovers of dead test processes first).
    pub fn new() -> io::Result<Lab> {
        CLEAN_LEFTOVERS.call_once(clean_leftovers);
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        Ok(Lab {
            id: format!("{NS_PREFIX}{}-{n}", std::process::id()),
            namespaces: Vec::new(),
            addresses: Vec::new(),
        })
    }

    /// The common prefix of this lab's namespace names (`rampart-t<pid>-<n>`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Create the namespace for `role`, with `lo` up, rp_filter off, no
    /// DAD, forwarding off. Returns the namespace name.
    pub fn add_ns(&mut self, role: &str) -> io::Result<String> {
        if self.namespaces.iter().any(|(r, _)| r == role) {
            return Err(invalid(format!("role {role} already exists")));
        }
        let name = format!("{}-{role}", self.id);
        run(&["ip", "netns", "add", &name])?;
        self.namespaces.push((role.to_owned(), name.clone()));
        run(&["ip", "-n", &name, "link", "set", "lo", "up"])?;
        self.sysctls(
            role,
            &[
                ("net.ipv4.ip_forward", "0"),
                ("net.ipv6.conf.all.forwarding", "0"),
                ("net.ipv4.conf.all.rp_filter", "0"),
                ("net.ipv4.conf.default.rp_filter", "0"),
                ("net.ipv6.conf.all.accept_dad", "0"),
                ("net.ipv6.conf.default.accept_dad", "0"),
            ],
        )?;
        Ok(name)
    }

    /// The namespace name of `role`.
    pub fn ns(&self, role: &str) -> io::Result<&str> {
        self.namespaces
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, n)| n.as_str())
            .ok_or_else(|| invalid(format!("no role {role} in the lab")))
    }

    /// Names of all namespaces of this lab.
    pub fn namespaces(&self) -> Vec<String> {
        self.namespaces.iter().map(|(_, n)| n.clone()).collect()
    }

    /// Connect `a` and `b` with a veth pair; the ends are named `a_if` (in
    /// `a`) and `b_if` (in `b`), created directly inside the namespaces and
    /// brought up.
    pub fn veth(&mut self, a: &str, a_if: &str, b: &str, b_if: &str) -> io::Result<()> {
        let (na, nb) = (self.ns(a)?.to_owned(), self.ns(b)?.to_owned());
        run(&[
            "ip", "-n", &na, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns",
            &nb,
        ])?;
        run(&["ip", "-n", &na, "link", "set", a_if, "up"])?;
        run(&["ip", "-n", &nb, "link", "set", b_if, "up"])?;
        Ok(())
    }

    /// Add `cidr` (e.g. `192.0.2.1/24`, `2001:db8::1/64`) to `ifname` in
    /// `role` (IPv6 with `nodad`). Use `lo` for addresses "behind" a host.
    pub fn addr(&mut self, role: &str, ifname: &str, cidr: &str) -> io::Result<()> {
        let ip: IpAddr = cidr
            .split('/')
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|_| invalid(format!("bad address {cidr}")))?;
        check_documentation(ip)?;
        let ns = self.ns(role)?.to_owned();
        let mut args = vec!["ip", "-n", &ns, "addr", "add", cidr, "dev", ifname];
        if ip.is_ipv6() {
            args.push("nodad");
        }
        run(&args)?;
        self.addresses.push((role.to_owned(), ip));
        Ok(())
    }

    /// `ip route add ROUTE` in `role`, e.g. `default via 203.0.113.1 dev ppp0`
    /// (IPv6 when the route mentions an IPv6 address).
    pub fn route(&self, role: &str, route: &str) -> io::Result<()> {
        let ns = self.ns(role)?;
        let mut args = vec!["ip", "-n", ns];
        if route.contains(':') {
            args.push("-6");
        }
        args.extend(["route", "add"]);
        args.extend(route.split_whitespace());
        run(&args).map(drop)
    }

    /// Turn IPv4 and IPv6 forwarding on or off in `role` only.
    pub fn set_forwarding(&self, role: &str, on: bool) -> io::Result<()> {
        let v = if on { "1" } else { "0" };
        self.sysctls(
            role,
            &[
                ("net.ipv4.ip_forward", v),
                ("net.ipv6.conf.all.forwarding", v),
            ],
        )
    }

    /// `sysctl -w` inside `role`'s namespace.
    pub fn sysctls(&self, role: &str, settings: &[(&str, &str)]) -> io::Result<()> {
        let kv: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["sysctl", "-q", "-w"];
        args.extend(kv.iter().map(String::as_str));
        self.exec(role, &args).map(drop)
    }

    /// Run a command inside `role` (`ip netns exec NS ...`), returning stdout.
    pub fn exec(&self, role: &str, args: &[&str]) -> io::Result<String> {
        let ns = self.ns(role)?;
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Run an iptables shell script inside `role` (`ip netns exec NS sh SCRIPT`).
    pub fn load_iptables_script(&self, role: &str, path: &Path) -> io::Result<()> {
        let p = path
            .to_str()
            .ok_or_else(|| invalid("script path not UTF-8".into()))?;
        self.exec(role, &["sh", "-e", p]).map(drop)
    }

    /// Load an `iptables-save` text with `iptables-restore` inside `role`.
    pub fn load_save(&self, role: &str, text: &str) -> io::Result<()> {
        self.restore(role, "iptables-restore", text)
    }

    /// Load an `ip6tables-save` text with `ip6tables-restore` inside `role`.
    pub fn load_save6(&self, role: &str, text: &str) -> io::Result<()> {
        self.restore(role, "ip6tables-restore", text)
    }

    fn restore(&self, role: &str, tool: &str, text: &str) -> io::Result<()> {
        use std::io::Write;
        let ns = self.ns(role)?;
        let mut child = Command::new("timeout")
            .args([COMMAND_TIMEOUT, "ip", "netns", "exec", ns, tool])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .ok_or_else(|| invalid("no stdin".into()))?
            .write_all(text.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "{tool} in {ns} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// `iptables-save -c` inside `role`: the rules with packet/byte counters.
    pub fn rule_counters(&self, role: &str) -> io::Result<String> {
        self.exec(role, &["iptables-save", "-c"])
    }

    /// `ip6tables-save -c` inside `role`.
    pub fn rule_counters6(&self, role: &str) -> io::Result<String> {
        self.exec(role, &["ip6tables-save", "-c"])
    }

    /// The role that owns `ip` (the lab configured it there), if any.
    pub fn owner_of(&self, ip: IpAddr) -> Option<&str> {
        self.addresses
            .iter()
            .find(|(_, a)| *a == ip)
            .map(|(r, _)| r.as_str())
    }

    /// Send `probe` from `from` (a role) and observe its fate. A listener is
    /// started in the namespace owning `probe.dst` (if any), bound to the
    /// unspecified address of the family on `probe.port`. `timeout` bounds
    /// the wait for an answer (use 300–500 ms; at most 1 s).
    pub fn probe(&self, from: &str, probe: &Probe, timeout: Duration) -> io::Result<Fate> {
        if timeout > Duration::from_secs(1) {
            return Err(invalid("probe timeouts are at most 1 s".into()));
        }
        check_documentation(probe.dst)?;
        let src_ns = self.ns(from)?.to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let echo_id = ECHO_ID
            .fetch_add(1, Ordering::SeqCst)
            .wrapping_add(std::process::id() as u16);
        let listener = match self.owner_of(probe.dst) {
            Some(role) => {
                let ns = self.ns(role)?.to_owned();
                let (ready_tx, ready_rx) = mpsc::channel();
                let p = *probe;
                let stop_l = stop.clone();
                // The listener lives a little longer than the client waits,
                // so a late delivery is still seen; it is always bounded.
                let deadline = timeout + Duration::from_millis(200);
                let h = in_ns(ns, move || listen(&p, echo_id, deadline, &stop_l, ready_tx));
                match ready_rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(()) => {}
                    Err(_) => {
                        stop.store(true, Ordering::SeqCst);
                        return Err(h
                            .join()
                            .map_err(|_| io::Error::other("listener panicked"))?
                            .err()
                            .unwrap_or_else(|| io::Error::other("listener never got ready")));
                    }
                }
                Some(h)
            }
            None => None,
        };
        let p = *probe;
        let outcome = in_ns(src_ns, move || send(&p, echo_id, timeout))
            .join()
            .map_err(|_| io::Error::other("sender panicked"));
        if !matches!(outcome, Ok(Ok(Outcome::Answered))) {
            stop.store(true, Ordering::SeqCst);
        }
        let seen = match listener {
            Some(h) => h
                .join()
                .map_err(|_| io::Error::other("listener panicked"))??,
            None => None,
        };
        let outcome = outcome??;
        Ok(match (seen, outcome) {
            (Some(seen_src), _) => Fate::Delivered { seen_src },
            (None, Outcome::Refused) => Fate::Rejected,
            (None, Outcome::Silent) => Fate::Dropped,
            (None, Outcome::Answered) => {
                return Err(io::Error::other(format!(
                    "{probe:?} was answered but the listener saw nothing"
                )))
            }
        })
    }
}

impl Lab {
    /// Send `n` TCP SYNs from `from` (a role) as fast as possible: `n`
    /// non-blocking connects from `src` to `dst`, each from its own
    /// ephemeral port. Returns, per SYN, when its `connect` was called.
    /// The sockets are closed after `hold` (which
    /// must stay below the 1 s initial retransmission timeout, so no SYN is
    /// sent twice); closing a connecting socket sends nothing.
    pub fn syn_burst(
        &self,
        from: &str,
        src: IpAddr,
        dst: SocketAddr,
        n: usize,
        hold: Duration,
    ) -> io::Result<Vec<Instant>> {
        use socket2::{Domain, Protocol, Socket, Type};
        if hold >= Duration::from_millis(900) {
            return Err(invalid("hold a SYN burst for less than 900 ms".into()));
        }
        check_documentation(dst.ip())?;
        let ns = self.ns(from)?.to_owned();
        in_ns(ns, move || {
            let mut sockets = Vec::with_capacity(n);
            for _ in 0..n {
                let s = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
                s.set_nonblocking(true)?;
                s.bind(&SocketAddr::new(src, 0).into())?;
                sockets.push(s);
            }
            let mut sent = Vec::with_capacity(n);
            let start = Instant::now();
            for s in &sockets {
                sent.push(Instant::now());
                match s.connect(&dst.into()) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {}
                    Err(e) => return Err(e),
                }
            }
            thread::sleep(hold.saturating_sub(start.elapsed()));
            drop(sockets);
            Ok(sent)
        })
        .join()
        .map_err(|_| io::Error::other("SYN sender panicked"))?
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, ns) in self.namespaces.drain(..).rev() {
            if let Err(e) = run(&["ip", "netns", "del", &ns]) {
                eprintln!("lab: could not remove namespace {ns}: {e}");
            }
        }
    }
}

/// Names of existing namespaces starting with `prefix`.
pub fn live_namespaces(prefix: &str) -> io::Result<Vec<String>> {
    let out = run(&["ip", "netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect())
}

/// Remove `rampart-t<pid>-…` namespaces whose process is gone.
pub fn clean_leftovers() {
    let Ok(names) = live_namespaces(NS_PREFIX) else {
        return;
    };
    for name in names {
        let pid = name[NS_PREFIX.len()..].split('-').next().unwrap_or("");
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(&["ip", "netns", "del", &name]);
        }
    }
}

/// Refuse anything outside the documentation ranges.
fn check_documentation(ip: IpAddr) -> io::Result<()> {
    let ok = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            matches!(
                (o[0], o[1], o[2]),
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
            )
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            s[0] == 0x2001 && s[1] == 0x0db8
        }
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{ip} is not a documentation address (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32)"
        )))
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Run a command (bounded by `timeout`), returning stdout or an error with stderr.
fn run(args: &[&str]) -> io::Result<String> {
    let out = Command::new("timeout")
        .arg(COMMAND_TIMEOUT)
        .args(args)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`{}` failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run `f` on a new thread that first entered namespace `ns`.
fn in_ns<T, F>(ns: String, f: F) -> thread::JoinHandle<io::Result<T>>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    thread::spawn(move || {
        let file = File::open(format!("/run/netns/{ns}"))?;
        setns(&file, CloneFlags::CLONE_NEWNET)?;
        f()
    })
}

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

const POLL: Duration = Duration::from_millis(5);

/// Bind the TCP listener for `p`. The previous probe's accepted connection
/// on the same port may still be closing (FIN_WAIT / LAST_ACK); the kernel
/// then refuses an explicit bind of the port for a few milliseconds even
/// with SO_REUSEADDR, so `EADDRINUSE` is retried for up to 500 ms.
fn bind_listener(p: &Probe) -> io::Result<TcpListener> {
    let end = Instant::now() + Duration::from_millis(500);
    loop {
        match TcpListener::bind((unspecified(p.dst), p.port)) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < end => {
                thread::sleep(POLL);
            }
            r => return r,
        }
    }
}

/// Listen for the probe until it arrives, `stop` is set, or `deadline` passes.
fn listen(
    p: &Probe,
    echo_id: u16,
    deadline: Duration,
    stop: &AtomicBool,
    ready: mpsc::Sender<()>,
) -> io::Result<Option<IpAddr>> {
    let end = Instant::now() + deadline;
    let give_up = || stop.load(Ordering::SeqCst) || Instant::now() >= end;
    match p.proto {
        Proto::Tcp => {
            let l = bind_listener(p)?;
            l.set_nonblocking(true)?;
            let _ = ready.send(());
            loop {
                match l.accept() {
                    Ok((_conn, peer)) => return Ok(Some(canonical(peer.ip()))),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if give_up() {
                    return Ok(None);
                }
                thread::sleep(POLL);
            }
        }
        Proto::Udp => {
            let s = UdpSocket::bind((unspecified(p.dst), p.port))?;
            s.set_read_timeout(Some(POLL))?;
            let _ = ready.send(());
            let mut buf = [0u8; 1500];
            loop {
                match s.recv_from(&mut buf) {
                    Ok((_, peer)) => {
                        let _ = s.send_to(b"rampart-reply", peer);
                        return Ok(Some(canonical(peer.ip())));
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => return Err(e),
                }
                if give_up() {
                    return Ok(None);
                }
            }
        }
        Proto::Icmp => {
            let v6 = p.dst.is_ipv6();
            let fd = raw_icmp_socket(v6)?;
            let _ = ready.send(());
            let mut buf = [0u8; 2048];
            loop {
                match recvfrom::<SockaddrStorage>(fd.as_raw_fd_i32(), &mut buf) {
                    Ok((n, from)) => {
                        if let Some(src) = echo_request_source(&buf[..n], from, v6, echo_id) {
                            return Ok(Some(src));
                        }
                        continue;
                    }
                    Err(nix::errno::Errno::EAGAIN) => {}
                    Err(e) => return Err(e.into()),
                }
                if give_up() {
                    return Ok(None);
                }
                thread::sleep(POLL);
            }
        }
    }
}

/// Send the probe and watch for an answer.
fn send(p: &Probe, echo_id: u16, timeout: Duration) -> io::Result<Outcome> {
    use socket2::{Domain, Protocol, Socket, Type};
    let dst = SocketAddr::new(p.dst, p.port);
    let src = SocketAddr::new(p.src, 0);
    match p.proto {
        Proto::Tcp => {
            let s = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
            s.bind(&src.into())?;
            match s.connect_timeout(&dst.into(), timeout) {
                Ok(()) => Ok(Outcome::Answered),
                Err(e) => Ok(classify_error(&e)),
            }
        }
        Proto::Udp => {
            let s = Socket::new(Domain::for_address(dst), Type::DGRAM, Some(Protocol::UDP))?;
            s.bind(&src.into())?;
            s.connect(&dst.into())?;
            let s = UdpSocket::from(s);
            s.set_read_timeout(Some(timeout))?;
            // A send error (EPERM: dropped or rejected by OUTPUT) is not
            // final: a local REJECT still delivers an ICMP error to us.
            let _ = s.send(b"rampart-probe");
            let mut buf = [0u8; 64];
            match s.recv(&mut buf) {
                Ok(_) => Ok(Outcome::Answered),
                Err(e) => Ok(classify_error(&e)),
            }
        }
        Proto::Icmp => {
            let v6 = p.dst.is_ipv6();
            let fd = raw_icmp_socket(v6)?;
            let raw = fd.as_raw_fd_i32();
            let seq = 1u16;
            let mut msg = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
            msg.extend_from_slice(&echo_id.to_be_bytes());
            msg.extend_from_slice(&seq.to_be_bytes());
            msg.extend_from_slice(b"rampart-probe");
            if !v6 {
                let c = checksum(&msg);
                msg[2..4].copy_from_slice(&c.to_be_bytes());
            }
            // Errors (EPERM from an OUTPUT drop/reject) are not final, see UDP.
            match (p.src, p.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    bind(raw, &SockaddrIn::from(std::net::SocketAddrV4::new(s, 0)))?;
                    let to = SockaddrIn::from(std::net::SocketAddrV4::new(d, 0));
                    let _ = sendto(raw, &msg, &to, MsgFlags::empty());
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    bind(
                        raw,
                        &SockaddrIn6::from(std::net::SocketAddrV6::new(s, 0, 0, 0)),
                    )?;
                    let to = SockaddrIn6::from(std::net::SocketAddrV6::new(d, 0, 0, 0));
                    let _ = sendto(raw, &msg, &to, MsgFlags::empty());
                }
                _ => return Err(invalid("ICMP probe mixes address families".into())),
            }
            let end = Instant::now() + timeout;
            let mut buf = [0u8; 2048];
            loop {
                match recvfrom::<SockaddrStorage>(raw, &mut buf) {
                    Ok((n, _)) => {
                        if let Some(o) = echo_answer(&buf[..n], v6, echo_id) {
                            return Ok(o);
                        }
                        continue;
                    }
                    Err(nix::errno::Errno::EAGAIN) => {}
                    Err(e) => return Err(e.into()),
                }
                if Instant::now() >= end {
                    return Ok(Outcome::Silent);
                }
                thread::sleep(POLL);
            }
        }
    }
}

fn classify_error(e: &io::Error) -> Outcome {
    use nix::errno::Errno;
    if e.kind() == io::ErrorKind::ConnectionRefused {
        return Outcome::Refused;
    }
    match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ECONNREFUSED | Errno::EHOSTUNREACH | Errno::ENETUNREACH) => Outcome::Refused,
        _ => Outcome::Silent,
    }
}

/// A non-blocking raw ICMP / ICMPv6 socket.
fn raw_icmp_socket(v6: bool) -> io::Result<std::os::fd::OwnedFd> {
    let (family, proto) = if v6 {
        (AddressFamily::Inet6, SockProtocol::IcmpV6)
    } else {
        (AddressFamily::Inet, SockProtocol::Icmp)
    };
    Ok(socket(
        family,
        SockType::Raw,
        SockFlag::SOCK_NONBLOCK,
        proto,
    )?)
}

trait RawFdI32 {
    fn as_raw_fd_i32(&self) -> std::os::fd::RawFd;
}

impl RawFdI32 for std::os::fd::OwnedFd {
    fn as_raw_fd_i32(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.as_raw_fd()
    }
}

/// The ICMP part of a received raw packet (IPv4 raw sockets include the IP header).
fn icmp_part(pkt: &[u8], v6: bool) -> Option<&[u8]> {
    if v6 {
        Some(pkt)
    } else {
        let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
        pkt.get(ihl..)
    }
}

fn echo_id_of(icmp: &[u8], want_type: u8) -> Option<u16> {
    if icmp.len() >= 8 && icmp[0] == want_type {
        Some(u16::from_be_bytes([icmp[4], icmp[5]]))
    } else {
        None
    }
}

/// Source of an echo request with our id, as seen by the destination.
fn echo_request_source(
    pkt: &[u8],
    from: Option<SockaddrStorage>,
    v6: bool,
    id: u16,
) -> Option<IpAddr> {
    let icmp = icmp_part(pkt, v6)?;
    if echo_id_of(icmp, if v6 { 128 } else { 8 })? != id {
        return None;
    }
    if v6 {
        Some(IpAddr::V6(from?.as_sockaddr_in6()?.ip()))
    } else {
        let s: [u8; 4] = pkt.get(12..16)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(s)))
    }
}

/// Is this an echo reply to us (answered) or an unreachable quoting our echo (refused)?
fn echo_answer(pkt: &[u8], v6: bool, id: u16) -> Option<Outcome> {
    let icmp = icmp_part(pkt, v6)?;
    let (reply, unreach, request) = if v6 { (129, 1, 128) } else { (0, 3, 8) };
    if echo_id_of(icmp, reply) == Some(id) {
        return Some(Outcome::Answered);
    }
    if icmp.first() == Some(&unreach) {
        let inner = icmp.get(8..)?;
        let inner_icmp = if v6 {
            inner.get(40..)?
        } else {
            icmp_part(inner, false)?
        };
        if echo_id_of(inner_icmp, request) == Some(id) {
            return Some(Outcome::Refused);
        }
    }
    None
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
