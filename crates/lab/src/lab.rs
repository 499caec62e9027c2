//! [`Lab`]: a set of network namespaces sharing a name prefix.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use crate::addr::check_documentation;
use crate::cmd::{in_ns, invalid, run, run_stdin};
use crate::flood::{flood_here, FloodReport, FloodSpec};
use crate::http::{http_load, HttpLoad, HttpReport, HttpServer};
use crate::probe::{listen, send, Fate, Outcome, Probe};

/// Prefix of every namespace name a test lab ([`Lab::new`]) creates.
pub const NS_PREFIX: &str = "rampart-t";

/// Longest accepted name prefix; namespace names are file names under /run/netns.
const MAX_PREFIX_LEN: usize = 40;

static LAB_COUNTER: AtomicUsize = AtomicUsize::new(0);
static ECHO_ID: AtomicU16 = AtomicU16::new(0);
static CLEAN_LEFTOVERS: Once = Once::new();

/// An address the lab configured, with the interface that holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IfAddr {
    /// Interface name inside the namespace (`eth0`, `lo`).
    pub ifname: String,
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub len: u8,
}

/// A set of network namespaces named `<prefix>-<role>`.
///
/// A lab made by [`Lab::new`] or [`Lab::named`] removes its namespaces when
/// dropped, unless [`Lab::keep`] was called; a lab found by [`Lab::attach`]
/// is kept unless [`Lab::remove_on_drop`] is called.
#[derive(Debug)]
pub struct Lab {
    id: String,
    /// (role, namespace name)
    namespaces: Vec<(String, String)>,
    /// (role, address) for every address the lab configured.
    addresses: Vec<(String, IfAddr)>,
    keep: bool,
}

impl Lab {
    /// A test lab named `rampart-t<pid>-<n>` (removing leftovers of dead test
    /// processes first).
    pub fn new() -> io::Result<Lab> {
        CLEAN_LEFTOVERS.call_once(clean_leftovers);
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        Lab::named(&format!("{NS_PREFIX}{}-{n}", std::process::id()))
    }

    /// An empty lab whose namespaces will be named `<prefix>-<role>`.
    /// `prefix` must start with `rampart-` and hold only `a-z0-9-`.
    pub fn named(prefix: &str) -> io::Result<Lab> {
        check_prefix(prefix)?;
        Ok(Lab {
            id: prefix.to_owned(),
            namespaces: Vec::new(),
            addresses: Vec::new(),
            keep: false,
        })
    }

    /// The lab whose namespaces `<prefix>-*` exist now (roles and addresses
    /// read back from the kernel). It is kept on drop.
    pub fn attach(prefix: &str) -> io::Result<Lab> {
        let mut lab = Lab::named(prefix)?;
        lab.keep = true;
        let head = format!("{prefix}-");
        let mut names = live_namespaces(&head)?;
        names.sort();
        for name in names {
            let role = name[head.len()..].to_owned();
            for a in ns_addresses(&name)? {
                lab.addresses.push((role.clone(), a));
            }
            lab.namespaces.push((role, name));
        }
        Ok(lab)
    }

    /// Leave the namespaces in place when this value is dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Remove the namespaces when this value is dropped.
    pub fn remove_on_drop(&mut self) {
        self.keep = false;
    }

    /// The common prefix of this lab's namespace names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Create the namespace for `role`, with `lo` up, rp_filter off, no
    /// DAD, forwarding off. Returns the namespace name.
    pub fn add_ns(&mut self, role: &str) -> io::Result<String> {
        if role.is_empty()
            || !role
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(format!("bad role name {role:?}")));
        }
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
            .ok_or_else(|| invalid(format!("no role {role} in the lab {}", self.id)))
    }

    /// Names of all namespaces of this lab.
    pub fn namespaces(&self) -> Vec<String> {
        self.namespaces.iter().map(|(_, n)| n.clone()).collect()
    }

    /// The roles, in creation (or, for an attached lab, name) order.
    pub fn roles(&self) -> Vec<String> {
        self.namespaces.iter().map(|(r, _)| r.clone()).collect()
    }

    /// The addresses configured in `role`.
    pub fn addresses(&self, role: &str) -> Vec<IfAddr> {
        self.addresses
            .iter()
            .filter(|(r, _)| r == role)
            .map(|(_, a)| a.clone())
            .collect()
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

    /// Create bridge device `bridge` inside `role` (IPv6 off on the bridge
    /// itself, so it sends nothing of its own) and bring it up.
    pub fn bridge(&mut self, role: &str, bridge: &str) -> io::Result<()> {
        let ns = self.ns(role)?.to_owned();
        run(&["ip", "-n", &ns, "link", "add", bridge, "type", "bridge"])?;
        self.sysctls(
            role,
            &[(&format!("net.ipv6.conf.{bridge}.disable_ipv6"), "1")],
        )?;
        run(&["ip", "-n", &ns, "link", "set", bridge, "up"]).map(drop)
    }

    /// Attach interface `ifname` of `role` to the bridge `bridge` in the same namespace.
    pub fn enslave(&mut self, role: &str, ifname: &str, bridge: &str) -> io::Result<()> {
        let ns = self.ns(role)?;
        run(&["ip", "-n", ns, "link", "set", ifname, "master", bridge]).map(drop)
    }

    /// Add `cidr` (e.g. `192.0.2.1/24`, `2001:db8::1/64`) to `ifname` in
    /// `role` (IPv6 with `nodad`). Use `lo` for addresses "behind" a host.
    pub fn addr(&mut self, role: &str, ifname: &str, cidr: &str) -> io::Result<()> {
        let bad = || invalid(format!("bad address {cidr}"));
        let (a, l) = cidr.split_once('/').unwrap_or((cidr, ""));
        let ip: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = if l.is_empty() {
            max
        } else {
            l.parse().map_err(|_| bad())?
        };
        if len > max {
            return Err(bad());
        }
        check_documentation(ip)?;
        let ns = self.ns(role)?.to_owned();
        let mut args = vec!["ip", "-n", &ns, "addr", "add", cidr, "dev", ifname];
        if ip.is_ipv6() {
            args.push("nodad");
        }
        run(&args)?;
        self.addresses.push((
            role.to_owned(),
            IfAddr {
                ifname: ifname.to_owned(),
                addr: ip,
                len,
            },
        ));
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

    /// Run a command inside `role` (`ip netns exec NS ...`, at most 10 s),
    /// returning stdout.
    pub fn exec(&self, role: &str, args: &[&str]) -> io::Result<String> {
        self.exec_stdin(role, args, None)
    }

    /// [`Lab::exec`] with `input` on the command's standard input.
    pub fn exec_stdin(&self, role: &str, args: &[&str], input: Option<&str>) -> io::Result<String> {
        let ns = self.ns(role)?;
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        run_stdin(&full, input)
    }

    /// An unstarted `ip netns exec NS PROGRAM ARGS...` for `role`, with no
    /// time limit and inherited standard streams (for interactive use).
    pub fn command(&self, role: &str, program: &str, args: &[String]) -> io::Result<Command> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns(role)?, program])
            .args(args);
        Ok(c)
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
        self.exec_stdin(role, &["iptables-restore"], Some(text))
            .map(drop)
    }

    /// Load an `ip6tables-save` text with `ip6tables-restore` inside `role`.
    pub fn load_save6(&self, role: &str, text: &str) -> io::Result<()> {
        self.exec_stdin(role, &["ip6tables-restore"], Some(text))
            .map(drop)
    }

    /// Load an nft script with `nft -f -` inside `role` (one transaction).
    pub fn load_nft(&self, role: &str, text: &str) -> io::Result<()> {
        self.exec_stdin(role, &["nft", "-f", "-"], Some(text))
            .map(drop)
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
            .find(|(_, a)| a.addr == ip)
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

impl Lab {
    /// Send a flood from `from` (a role): on a thread inside its namespace,
    /// which [`crate::flood::lab_namespace`] checks is this lab's. Spoofed
    /// sources skip every address the lab configured. Blocks until the
    /// flood is over.
    pub fn flood(&self, from: &str, spec: &FloodSpec) -> io::Result<FloodReport> {
        let ns = self.ns(from)?.to_owned();
        let prefix = self.id.clone();
        let spec = spec.clone();
        let exclude: Vec<IpAddr> = self.addresses.iter().map(|(_, a)| a.addr).collect();
        in_ns(ns, move || flood_here(&prefix, &spec, &exclude))
            .join()
            .map_err(|_| io::Error::other("the flood thread panicked"))?
    }

    /// Run the HTTP client loop from `from` (a role): what a legit client
    /// sees, e.g. during a flood.
    pub fn http_load(&self, from: &str, load: &HttpLoad) -> io::Result<HttpReport> {
        let ns = self.ns(from)?.to_owned();
        let load = load.clone();
        in_ns(ns, move || http_load(&load))
            .join()
            .map_err(|_| io::Error::other("the HTTP client thread panicked"))?
    }

    /// Start the lab HTTP server in `role`, on `[::]:port` (IPv4 too); it
    /// stops when the returned value is dropped.
    pub fn serve_http(&self, role: &str, port: u16) -> io::Result<HttpServer> {
        let ns = self.ns(role)?.to_owned();
        let addr = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port));
        in_ns(ns, move || HttpServer::start(addr))
            .join()
            .map_err(|_| io::Error::other("the HTTP server thread panicked"))?
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for (_, ns) in self.namespaces.drain(..).rev() {
            if let Err(e) = run(&["ip", "netns", "del", &ns]) {
                eprintln!("lab: could not remove namespace {ns}: {e}");
            }
        }
    }
}

pub(crate) fn check_prefix(prefix: &str) -> io::Result<()> {
    let ok = prefix.starts_with("rampart-")
        && prefix.len() <= MAX_PREFIX_LEN
        && !prefix.ends_with('-')
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "lab prefix {prefix:?} must start with `rampart-`, hold only a-z, 0-9 and `-`, \
             and be at most {MAX_PREFIX_LEN} characters"
        )))
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

/// Remove every namespace named `<prefix>-*` (a lab left by a crash, or a
/// lab that is up). Returns the names removed; removing nothing is not an
/// error, so this is idempotent.
pub fn remove_lab(prefix: &str) -> io::Result<Vec<String>> {
    check_prefix(prefix)?;
    let mut names = live_namespaces(&format!("{prefix}-"))?;
    names.sort();
    for name in &names {
        run(&["ip", "netns", "del", name])?;
    }
    Ok(names)
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

/// The global-scope addresses inside namespace `ns` (`ip -o addr` parsed).
pub fn ns_addresses(ns: &str) -> io::Result<Vec<IfAddr>> {
    let out = run(&["ip", "-n", ns, "-o", "addr", "show", "scope", "global"])?;
    Ok(parse_ip_o_addr(&out))
}

/// Parse `ip -o addr` lines: `2: eth0    inet 192.0.2.1/24 brd … scope global eth0\ …`.
fn parse_ip_o_addr(text: &str) -> Vec<IfAddr> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace().skip(1);
            let ifname = f.next()?.split('@').next()?.to_owned();
            let _family = f.next()?;
            let (a, l) = f.next()?.split_once('/')?;
            Some(IfAddr {
                ifname,
                addr: a.parse().ok()?,
                len: l.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_o_addr() {
        let text = "2: eth0    inet 203.0.113.10/24 brd 203.0.113.255 scope global eth0\\       valid_lft forever preferred_lft forever\n\
                    2: eth0    inet6 2001:db8:113::10/64 scope global nodad \\       valid_lft forever preferred_lft forever\n";
        let got = parse_ip_o_addr(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].ifname, "eth0");
        assert_eq!(got[0].addr, "203.0.113.10".parse::<IpAddr>().unwrap());
        assert_eq!(got[0].len, 24);
        assert_eq!(got[1].len, 64);
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(check_prefix("rampart-lab").is_ok());
        assert!(check_prefix("rampart-t123-0").is_ok());
        for bad in [
            "lab",
            "rampart-",
            "rampart-Lab",
            "rampart-a/b",
            "rampart-a b",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }
}
