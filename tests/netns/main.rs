//! Kernel side of the differential test: every example ruleset in
//! `examples/` is loaded into a real kernel inside network namespaces, real
//! packets are sent, and the observed fate must equal the one written in the
//! example's `.probes` file. See `examples/README.md` for the topology.
//!
//! Needs root. Without root the kernel tests print "skipped: needs root" and
//! pass, unless the `CI` environment variable is set: then they fail.

mod lab;
mod nft;
mod spec;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lab::{Fate, Lab, Probe, Proto};
use spec::{parse_probes, Cidr, HostSpec, Origin, ProbeSpec};

/// Role of the host under test (the one whose ruleset is loaded).
const HOST: &str = "host";
/// Interface name of every peer's end of a link.
const PEER_IF: &str = "link0";
/// How long a probe waits for an answer before calling it dropped.
const TIMEOUT: Duration = Duration::from_millis(400);

/// Every example: `examples/NAME.sh`, `NAME.host`, `NAME.probes`.
const EXAMPLES: &[&str] = &[
    "webserver",
    "default-deny",
    "syn-flood",
    "port80-limit",
    "router",
    "router-fault-dropped",
    "router-fault-not-natted",
    "router-fault-wrong-address",
];

fn have_root() -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("netns tests need root, and skipping is not allowed when CI is set");
    }
    eprintln!("skipped: needs root");
    false
}

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn read_example(name: &str, ext: &str) -> String {
    let p = examples_dir().join(format!("{name}.{ext}"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The role of the peer on the other end of host interface `iface`.
fn peer_role(iface: &str) -> String {
    format!("peer-{iface}")
}

fn host_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// Addresses a peer needs: on its link (`link0`, with the subnet's length)
/// or "behind" it (`lo`, as a host route).
#[derive(Default)]
struct PeerPlan {
    link: Vec<Cidr>,
    lo: Vec<IpAddr>,
    host_routes: Vec<IpAddr>,
}

impl PeerPlan {
    fn place(&mut self, host: &HostSpec, iface: &str, ip: IpAddr) {
        if self.link.iter().any(|c| c.addr == ip) || self.lo.contains(&ip) {
            return;
        }
        match host.connected(ip) {
            Some((i, c)) if i == iface => self.link.push(Cidr {
                addr: ip,
                len: c.len,
            }),
            _ => self.lo.push(ip),
        }
    }
}

/// Does the host route (non-connected prefixes) through `iface` for this family?
fn is_upstream(host: &HostSpec, iface: &str, v4: bool) -> bool {
    host.routes
        .iter()
        .any(|r| r.dev == iface && r.dst.addr.is_ipv4() == v4)
}

fn host_addr_on(host: &HostSpec, iface: &str, v4: bool) -> Option<IpAddr> {
    host.interfaces
        .iter()
        .find(|(n, _)| n == iface)
        .and_then(|(_, a)| a.iter().find(|c| c.addr.is_ipv4() == v4))
        .map(|c| c.addr)
}

/// Which host interface leads to `ip` (connected first, then routes).
fn iface_towards(host: &HostSpec, ip: IpAddr) -> Option<&str> {
    host.connected(ip)
        .map(|(i, _)| i)
        .or_else(|| host.route_for(ip).map(|r| r.dev.as_str()))
}

/// Build the lab a `.host` file implies: the host namespace with its
/// interfaces, addresses, routes and forwarding; one peer namespace per
/// interface holding the gateways, probe sources and probe destinations on
/// that side (see `examples/README.md`).
fn build_lab(host: &HostSpec, probes: &[ProbeSpec]) -> Result<Lab, String> {
    let e = |e: std::io::Error| e.to_string();
    let mut plans: BTreeMap<String, PeerPlan> = host
        .interfaces
        .iter()
        .map(|(n, _)| (n.clone(), PeerPlan::default()))
        .collect();
    for r in &host.routes {
        let plan = plans
            .get_mut(&r.dev)
            .ok_or_else(|| format!("route via unknown interface {}", r.dev))?;
        if let Some(gw) = r.via {
            plan.place(host, &r.dev, gw);
        }
    }
    for p in probes {
        let (src, dst) = (p.probe.src, p.probe.dst);
        match &p.origin {
            Origin::In(i) => {
                let plan = plans
                    .get_mut(i)
                    .ok_or_else(|| format!("line {}: unknown interface {i}", p.line))?;
                plan.place(host, i, src);
                let own_side = host.connected(dst).is_some_and(|(j, _)| j == i);
                if is_upstream(host, i, dst.is_ipv4())
                    && !own_side
                    && !plan.host_routes.contains(&dst)
                {
                    plan.host_routes.push(dst);
                }
            }
            Origin::Local => {
                if !host.owns(src) {
                    return Err(format!(
                        "line {}: local probe from {src}, not a host address",
                        p.line
                    ));
                }
            }
        }
        if !host.owns(dst) {
            if let Some(i) = iface_towards(host, dst) {
                let i = i.to_owned();
                if let Some(plan) = plans.get_mut(&i) {
                    plan.place(host, &i, dst);
                }
            }
        }
    }

    let mut lab = Lab::new().map_err(e)?;
    lab.add_ns(HOST).map_err(e)?;
    for (iface, addrs) in &host.interfaces {
        let peer = peer_role(iface);
        lab.add_ns(&peer).map_err(e)?;
        lab.veth(HOST, iface, &peer, PEER_IF).map_err(e)?;
        for a in addrs {
            lab.addr(HOST, iface, &a.to_string()).map_err(e)?;
        }
    }
    for r in &host.routes {
        let mut route = match (r.dst.len, r.dst.addr) {
            (0, IpAddr::V4(_)) => "default".to_owned(),
            (0, IpAddr::V6(_)) => "::/0".to_owned(),
            _ => r.dst.to_string(),
        };
        if let Some(gw) = r.via {
            route.push_str(&format!(" via {gw}"));
        }
        route.push_str(&format!(" dev {}", r.dev));
        lab.route(HOST, &route).map_err(e)?;
    }
    lab.set_forwarding(HOST, host.forwarding).map_err(e)?;
    for (iface, plan) in &plans {
        let peer = peer_role(iface);
        for c in &plan.link {
            lab.addr(&peer, PEER_IF, &c.to_string()).map_err(e)?;
        }
        for ip in &plan.lo {
            lab.addr(&peer, "lo", &format!("{ip}/{}", host_len(*ip)))
                .map_err(e)?;
        }
        for v4 in [true, false] {
            let Some(hostaddr) = host_addr_on(host, iface, v4) else {
                continue;
            };
            if !is_upstream(host, iface, v4) {
                let def = if v4 { "default" } else { "::/0" };
                lab.route(&peer, &format!("{def} via {hostaddr} dev {PEER_IF} onlink"))
                    .map_err(e)?;
            }
        }
        for dst in &plan.host_routes {
            let Some(hostaddr) = host_addr_on(host, iface, dst.is_ipv4()) else {
                continue;
            };
            lab.route(
                &peer,
                &format!(
                    "{dst}/{} via {hostaddr} dev {PEER_IF} onlink",
                    host_len(*dst)
                ),
            )
            .map_err(e)?;
        }
    }
    Ok(lab)
}

fn describe(f: &Fate) -> String {
    match f {
        Fate::Delivered { seen_src } => format!("delivered seen {seen_src}"),
        Fate::Rejected => "rejected".into(),
        Fate::Dropped => "dropped".into(),
    }
}

/// Build the lab for example `name`, load its script, run every probe and
/// compare with the expected fates.
fn run_example(name: &str) {
    if !have_root() {
        return;
    }
    let started = Instant::now();
    let host =
        HostSpec::parse(&read_example(name, "host")).unwrap_or_else(|e| panic!("{name}.host: {e}"));
    let probes = parse_probes(&read_example(name, "probes"))
        .unwrap_or_else(|e| panic!("{name}.probes: {e}"));
    assert!(!probes.is_empty(), "{name}.probes has no probes");
    let lab = build_lab(&host, &probes).unwrap_or_else(|e| panic!("{name}: building the lab: {e}"));
    lab.load_iptables_script(HOST, &examples_dir().join(format!("{name}.sh")))
        .unwrap_or_else(|e| panic!("{name}.sh: {e}"));
    let mut failures = Vec::new();
    for p in &probes {
        let from = match &p.origin {
            Origin::In(i) => peer_role(i),
            Origin::Local => HOST.to_owned(),
        };
        match lab.probe(&from, &p.probe, TIMEOUT) {
            Ok(got) if got == p.expect => {}
            Ok(got) => failures.push(format!(
                "{name}.probes line {}: `{}`: kernel says {}",
                p.line,
                p.text,
                describe(&got)
            )),
            Err(err) => failures.push(format!(
                "{name}.probes line {}: `{}`: probe failed: {err}",
                p.line, p.text
            )),
        }
    }
    eprintln!("{name}: {} probes in {:?}", probes.len(), started.elapsed());
    if !failures.is_empty() {
        let counters = lab.rule_counters(HOST).unwrap_or_else(|e| e.to_string());
        panic!(
            "{} of {} probes differ:\n{}\n--- iptables-save -c in {}:\n{counters}",
            failures.len(),
            probes.len(),
            failures.join("\n"),
            lab.ns(HOST).unwrap_or("?")
        );
    }
}

#[test]
fn example_webserver() {
    run_example("webserver");
}

#[test]
fn example_default_deny() {
    run_example("default-deny");
}

#[test]
fn example_syn_flood() {
    run_example("syn-flood");
}

#[test]
fn example_port80_limit() {
    run_example("port80-limit");
}

#[test]
fn example_router() {
    run_example("router");
}

#[test]
fn example_router_fault_dropped() {
    run_example("router-fault-dropped");
}

#[test]
fn example_router_fault_not_natted() {
    run_example("router-fault-not-natted");
}

#[test]
fn example_router_fault_wrong_address() {
    run_example("router-fault-wrong-address");
}

/// Every example has its three files, and they parse (no root needed).
#[test]
fn example_files_parse() {
    for name in EXAMPLES {
        let _ = read_example(name, "sh");
        let host = HostSpec::parse(&read_example(name, "host"))
            .unwrap_or_else(|e| panic!("{name}.host: {e}"));
        assert!(!host.interfaces.is_empty(), "{name}.host has no interfaces");
        let probes = parse_probes(&read_example(name, "probes"))
            .unwrap_or_else(|e| panic!("{name}.probes: {e}"));
        assert!(!probes.is_empty(), "{name}.probes is empty");
    }
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .expect("examples dir")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".sh")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    let mut listed: Vec<String> = EXAMPLES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(names, listed, "every examples/*.sh is listed in EXAMPLES");
}

#[test]
fn probe_syntax() {
    let p = parse_probes(
        "# c\n\
         tcp 198.51.100.7:80 from 192.0.2.10 in eth0 => delivered seen 203.0.113.2\n\
         udp [2001:db8::1]:53 from 2001:db8::2 local => rejected # c\n\
         icmp 203.0.113.5 from 198.51.100.7 in ppp0 => delivered\n\
         icmp 2001:db8::5 from 2001:db8::7 in eth0 => dropped\n",
    )
    .unwrap();
    assert_eq!(p.len(), 4);
    assert_eq!(p[0].probe.proto, Proto::Tcp);
    assert_eq!(p[0].probe.port, 80);
    assert_eq!(p[0].origin, Origin::In("eth0".into()));
    assert_eq!(
        p[0].expect,
        Fate::Delivered {
            seen_src: "203.0.113.2".parse().unwrap()
        }
    );
    assert_eq!(p[1].origin, Origin::Local);
    assert_eq!(p[1].expect, Fate::Rejected);
    assert_eq!(
        p[2].expect,
        Fate::Delivered {
            seen_src: "198.51.100.7".parse().unwrap()
        }
    );
    assert_eq!(p[3].probe.proto, Proto::Icmp);
    assert_eq!(p[3].expect, Fate::Dropped);
    for bad in [
        "tcp 192.0.2.1 from 192.0.2.2 local => dropped",
        "tcp 192.0.2.1:80 from 192.0.2.2 => dropped",
        "tcp 192.0.2.1:80 from 2001:db8::1 local => dropped",
        "sctp 192.0.2.1:80 from 192.0.2.2 local => dropped",
        "tcp 192.0.2.1:80 from 192.0.2.2 local => lost",
        "tcp 192.0.2.1:80 from 192.0.2.2 local",
    ] {
        assert!(parse_probes(bad).is_err(), "{bad}");
    }
}

/// Namespaces disappear when the lab is dropped; leftovers of dead
/// processes are removed; non-documentation addresses are refused.
#[test]
fn lab_cleans_up_namespaces() {
    if !have_root() {
        return;
    }
    // A leftover of a "dead process" (no pid is this large).
    let stale = format!("{}999999999-0-stale", lab::NS_PREFIX);
    let _ = std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .status();
    lab::clean_leftovers();
    assert!(
        lab::live_namespaces(&stale).unwrap().is_empty(),
        "stale namespace {stale} was not cleaned"
    );

    let id;
    {
        let mut lab = Lab::new().unwrap();
        id = format!("{}-", lab.id());
        lab.add_ns("a").unwrap();
        lab.add_ns("b").unwrap();
        lab.veth("a", "eth0", "b", "ppp0").unwrap();
        lab.addr("a", "eth0", "192.0.2.1/24").unwrap();
        lab.addr("b", "ppp0", "192.0.2.2/24").unwrap();
        assert!(lab.addr("a", "eth0", "10.0.0.1/8").is_err());
        assert!(lab.add_ns("a").is_err());
        let mut live = lab::live_namespaces(&id).unwrap();
        live.sort();
        assert_eq!(live, vec![format!("{id}a"), format!("{id}b")]);
        let fate = lab
            .probe(
                "a",
                &Probe {
                    proto: Proto::Icmp,
                    src: "192.0.2.1".parse().unwrap(),
                    dst: "192.0.2.2".parse().unwrap(),
                    port: 0,
                },
                TIMEOUT,
            )
            .unwrap();
        assert_eq!(
            fate,
            Fate::Delivered {
                seen_src: "192.0.2.1".parse().unwrap()
            }
        );
        assert!(lab.rule_counters("a").is_ok());
    }
    assert!(
        lab::live_namespaces(&id).unwrap().is_empty(),
        "namespaces of a dropped lab remain"
    );
}

/// `load_save` / `load_save6` / `rule_counters`, and the rejected paths of
/// ICMP echo and IPv6 TCP, on a two-namespace lab.
#[test]
fn lab_restore_and_counters() {
    if !have_root() {
        return;
    }
    let mut lab = Lab::new().unwrap();
    lab.add_ns("client").unwrap();
    lab.add_ns("server").unwrap();
    lab.veth("client", "eth0", "server", "eth1").unwrap();
    for (role, ifname, a) in [
        ("client", "eth0", "192.0.2.10/24"),
        ("client", "eth0", "2001:db8:1::10/64"),
        ("server", "eth1", "192.0.2.20/24"),
        ("server", "eth1", "2001:db8:1::20/64"),
    ] {
        lab.addr(role, ifname, a).unwrap();
    }
    lab.load_save(
        "server",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -p icmp --icmp-type echo-request -j REJECT\n\
         -A INPUT -p udp --dport 9 -j DROP\n\
         COMMIT\n",
    )
    .unwrap();
    lab.load_save6(
        "server",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -p tcp --dport 25 -j REJECT --reject-with tcp-reset\n\
         COMMIT\n",
    )
    .unwrap();
    let probe = |proto, src: &str, dst: &str, port| {
        lab.probe(
            "client",
            &Probe {
                proto,
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                port,
            },
            TIMEOUT,
        )
        .unwrap()
    };
    assert_eq!(
        probe(Proto::Icmp, "192.0.2.10", "192.0.2.20", 0),
        Fate::Rejected
    );
    assert_eq!(
        probe(Proto::Udp, "192.0.2.10", "192.0.2.20", 9),
        Fate::Dropped
    );
    assert_eq!(
        probe(Proto::Udp, "192.0.2.10", "192.0.2.20", 53),
        Fate::Delivered {
            seen_src: "192.0.2.10".parse().unwrap()
        }
    );
    assert_eq!(
        probe(Proto::Tcp, "2001:db8:1::10", "2001:db8:1::20", 25),
        Fate::Rejected
    );
    assert_eq!(
        probe(Proto::Tcp, "2001:db8:1::10", "2001:db8:1::20", 80),
        Fate::Delivered {
            seen_src: "2001:db8:1::10".parse().unwrap()
        }
    );
    let counters = lab.rule_counters("server").unwrap();
    assert!(
        counters.contains("[1:") && counters.contains("-j REJECT"),
        "{counters}"
    );
    let counters6 = lab.rule_counters6("server").unwrap();
    assert!(
        counters6.contains("--dport 25") && counters6.contains("[1:"),
        "{counters6}"
    );
}
