//! The way through the host after a DNAT: a packet for this host translated to an inner
//! host's address goes through FORWARD and POSTROUTING, as the kernel routes it. Hand-made
//! router rulesets with known answers, and `diff` against the simulator (which routes with
//! its host description) on random rulesets with DNAT, REDIRECT, SNAT and FORWARD rules.

use std::net::IpAddr;

use proptest::prelude::*;
use rampart_analysis::{diff, diff_with, exposure, Access, Locals, PathKind, Point};
use rampart_ruleset::{parse_any, ParseOptions, Ruleset, Source};
use rampart_sim::{CtState, Event, Fate, Host, NatKind, Packet, RouteDecision, Simulator};

fn parse(text: &str) -> Ruleset {
    parse_any(&Source::new("test.rules", text), ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .ruleset
}

/// A router (LAN eth0 192.0.2.1/24, WAN ppp0 203.0.113.2) forwarding its port 8080 to a
/// web server inside; its own port 80 is open too, which the forwarded connections must
/// not be taken for.
const ROUTER: &str = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i ppp0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.10:80
-A POSTROUTING -o ppp0 -j SNAT --to-source 203.0.113.2
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -i eth0 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
-A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -i eth0 -o ppp0 -j ACCEPT
-A FORWARD -d 192.0.2.10/32 -i ppp0 -o eth0 -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
";

/// The change `d` reports for a NEW TCP SYN from `src` to this host's `dport`, arriving on
/// `inn` and (after routing) leaving by `out`, as `BEFORE → AFTER`.
fn fate_at(
    d: &rampart_analysis::Diff,
    path: PathKind,
    src: &str,
    dport: u16,
    inn: &str,
    out: &str,
) -> Option<String> {
    let p = Point {
        proto: 6,
        src: src.parse().unwrap(),
        dst: "203.0.113.2".parse().unwrap(),
        sport: 40000,
        dport,
        ct: 0,
        in_iface: Some(inn.into()),
        out_iface: Some(out.into()),
        tcp_flags: 0x02,
        icmp: (0, 0),
        length: 60,
        mark: 0,
        fragment: false,
        members: vec![],
    };
    d.change_for(path, &p)
        .map(|c| format!("{} → {}", c.before.join(" or "), c.after.join(" or ")))
}

fn lines(d: &rampart_analysis::Diff) -> Vec<String> {
    d.changes.iter().map(|c| c.to_string()).collect()
}

#[test]
fn a_dnat_to_an_inner_host_is_forwarded_and_exposed() {
    let rs = parse(ROUTER);
    let e = exposure(&rs).unwrap();
    let rows: Vec<(String, String, Option<String>, Access)> = e
        .services
        .iter()
        .filter(|s| s.family == rampart_ruleset::Family::Ipv4 && s.proto == "tcp")
        .map(|s| (s.ports.clone(), s.from.clone(), s.to.clone(), s.access))
        .collect();
    assert!(
        rows.contains(&(
            "8080".into(),
            "anywhere".into(),
            Some("192.0.2.10:80 (forwarded)".into()),
            Access::Open
        )),
        "{:#?}",
        e.services
    );
    // Port 80 of the router itself, and 22 from the LAN, stay as they were.
    assert!(rows.contains(&("80".into(), "anywhere".into(), None, Access::Open)));
    assert!(rows
        .iter()
        .any(|r| r.0 == "22" && r.2.is_none() && r.3 == Access::Open));
    // The forwarded row needs the WAN interface (the DNAT's `-i ppp0`).
    let fwd = e
        .services
        .iter()
        .find(|s| s.to.is_some())
        .expect("forwarded row");
    assert!(fwd.when.iter().any(|w| w == "in ppp0"), "{fwd:#?}");
    // No other row is forwarded, and nothing is exposed from the forward rule alone.
    assert_eq!(e.services.iter().filter(|s| s.to.is_some()).count(), 1);
}

#[test]
fn diff_shows_a_new_dnat_target_and_forward_rules_for_dnated_traffic() {
    let old = parse(ROUTER);
    // The DNAT now points at .11, which FORWARD does not let through.
    let moved = parse(&ROUTER.replace("192.0.2.10:80", "192.0.2.11:80"));
    let d = diff(&old, &moved).unwrap();
    let at = |d: &rampart_analysis::Diff| {
        fate_at(d, PathKind::Input, "198.51.100.7", 8080, "ppp0", "eth0")
    };
    assert_eq!(
        at(&d).as_deref(),
        Some("ACCEPT (DNAT to 192.0.2.10:80) (forwarded) → DROP"),
        "{:#?}",
        lines(&d)
    );
    // Nothing else changes but port 8080 from the WAN (on the input path, and on the
    // forward path for packets to other addresses, DNATed the same).
    let l = lines(&d);
    assert!(
        l.iter()
            .all(|x| x.contains("to port 8080 (state NEW, in ppp0, out eth0)")),
        "{l:#?}"
    );
    // The FORWARD rule for the forwarded port goes: the DNATed connections are dropped, in
    // FORWARD; the router's own port 80 is untouched.
    let closed = parse(&ROUTER.replace(
        "-A FORWARD -d 192.0.2.10/32 -i ppp0 -o eth0 -p tcp -m tcp --dport 80 -j ACCEPT\n",
        "",
    ));
    let d = diff(&old, &closed).unwrap();
    let l = lines(&d);
    assert_eq!(
        at(&d).as_deref(),
        Some("ACCEPT (DNAT to 192.0.2.10:80) (forwarded) → DROP"),
        "{l:#?}"
    );
    assert_eq!(
        fate_at(&d, PathKind::Input, "198.51.100.7", 80, "ppp0", "eth0"),
        None,
        "the router's own port 80 did not change: {l:#?}"
    );
    // The routed path's own rule change is there too (packets for 192.0.2.10 itself).
    assert!(l.iter().any(|x| x.starts_with("ipv4 forward:")), "{l:#?}");
    assert!(diff(&old, &old).unwrap().is_empty());
}

#[test]
fn a_dnat_to_a_local_address_stays_on_input_and_the_host_description_decides() {
    // DNAT to 192.0.2.1: without a host description the ruleset names no address of the
    // router, so the translation is taken as forwarded; with the router's addresses it is
    // delivered locally, to INPUT's port 80.
    let text = ROUTER.replace("192.0.2.10:80", "192.0.2.1:80");
    let rs = parse(&text);
    let router: IpAddr = "192.0.2.1".parse().unwrap();
    let locals = Locals::loopback().with([router]);
    let old = parse(ROUTER);
    let at = |d: &rampart_analysis::Diff| {
        fate_at(d, PathKind::Input, "198.51.100.7", 8080, "ppp0", "eth0")
    };
    let d = diff_with(&old, &rs, &locals).unwrap();
    assert_eq!(
        at(&d).as_deref(),
        Some("ACCEPT (DNAT to 192.0.2.10:80) (forwarded) → ACCEPT (DNAT to 192.0.2.1:80)"),
        "{:#?}",
        lines(&d)
    );
    let d = diff(&old, &rs).unwrap();
    assert_eq!(
        at(&d).as_deref(),
        Some("ACCEPT (DNAT to 192.0.2.10:80) (forwarded) → DROP"),
        "{:#?}",
        lines(&d)
    );
    // An SNAT to-source is one of the host's own addresses: a DNAT to it is local.
    let snat = parse(&ROUTER.replace("192.0.2.10:80", "203.0.113.2:80"));
    let e = exposure(&snat).unwrap();
    assert!(
        e.services
            .iter()
            .any(|s| s.ports == "8080" && s.to.as_deref() == Some("203.0.113.2:80")),
        "{:#?}",
        e.services
    );
}

#[test]
fn the_example_router_with_a_port_forward() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/router.sh");
    let text = std::fs::read_to_string(root).unwrap();
    let old = parse_any(
        &Source::new("router.sh", text.clone()),
        ParseOptions::default(),
    )
    .unwrap()
    .ruleset;
    let forwarded = format!(
        "{text}\niptables -t nat -A PREROUTING -i ppp0 -p tcp --dport 2222 -j DNAT --to-destination 192.0.2.20:22\n\
         iptables -A FORWARD -i ppp0 -o eth0 -d 192.0.2.20 -p tcp --dport 22 -j ACCEPT\n"
    );
    let new = parse_any(
        &Source::new("router.sh", forwarded),
        ParseOptions::default(),
    )
    .unwrap()
    .ruleset;
    let d = diff(&old, &new).unwrap();
    let l = lines(&d);
    assert!(
        l.iter().any(|x| x.starts_with(
            "ipv4 input: tcp from anywhere to port 2222 (state NEW, in ppp0, out eth0)"
        ) && x.ends_with("DROP → ACCEPT (DNAT to 192.0.2.20:22) (forwarded)")),
        "{l:#?}"
    );
    let e = exposure(&new).unwrap();
    assert!(
        e.services.iter().any(|s| s.ports == "2222"
            && s.to.as_deref() == Some("192.0.2.20:22 (forwarded)")
            && s.access == Access::Open),
        "{:#?}",
        e.services
    );
}

/// ferm's Docker host (testdata/corpus): FORWARD accepts the DNATed connections by
/// `--ctstate DNAT`, which holds on a first packet exactly when PREROUTING translated it.
#[test]
fn ctstate_dnat_holds_for_the_connections_a_dnat_made() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/corpus/ferm-docker.v4"
    ))
    .unwrap();
    assert!(
        text.contains("--ctstate DNAT -j ACCEPT"),
        "the dump changed"
    );
    let rs = parse(&text);
    let report = rampart_analysis::lint(&rs).unwrap();
    assert!(!report.has_errors(), "{:#?}", report.findings);
    let e = exposure(&rs).unwrap();
    assert!(
        e.services
            .iter()
            .any(|s| s.ports == "8080" && s.to.as_deref() == Some("198.51.100.2:80 (forwarded)")),
        "{:#?}",
        e.services
    );
    // firewalld's first rule, `RELATED,ESTABLISHED,DNAT -j ACCEPT`, accepts no new
    // connection that no DNAT made: nothing but the listed ports is exposed.
    let rs = parse(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n\
         -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
    );
    let e = exposure(&rs).unwrap();
    let ports: Vec<&str> = e.services.iter().map(|s| s.ports.as_str()).collect();
    assert_eq!(ports, ["22"], "{:#?}", e.services);
    assert!(e.services.iter().all(|s| s.access == Access::Open));
}

// ---- diff against the simulator on rulesets with DNAT ----

const HOST: &str = "interface eth0 192.0.2.1/24
interface eth1 203.0.113.1/24
route default via 203.0.113.254 dev eth1
forwarding yes";

/// Where DNAT sends packets: an inner host, this host, a host out on the WAN.
const TARGETS: [&str; 3] = ["192.0.2.10", "192.0.2.1", "198.51.100.50"];
const PORTS: [u16; 3] = [22, 80, 8080];
const SRCS: [&str; 3] = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"];

/// A port other than `PORTS[b]` (a translation that changes nothing is no NAT to the
/// simulator).
fn other(b: usize, c: usize) -> u16 {
    PORTS[(b + 1 + c % 2) % 3]
}

fn nat_rule(kind: u8, a: usize, b: usize, c: usize) -> String {
    let p = PORTS[b % 3];
    match kind % 5 {
        0 => format!(
            "-A PREROUTING -p tcp -m tcp --dport {p} -j DNAT --to-destination {}:{}",
            TARGETS[a % 3],
            other(b, c)
        ),
        1 => format!(
            "-A PREROUTING -i eth{} -p tcp -m tcp --dport {p} -j DNAT --to-destination {}:{}",
            c % 2,
            TARGETS[a % 3],
            other(b, c + 1)
        ),
        // REDIRECT goes to the arrival interface's first address, which the analysis
        // does not know: only where that is the destination already.
        2 => format!(
            "-A PREROUTING -d 192.0.2.1/32 -i eth0 -p tcp -m tcp --dport {p} -j REDIRECT --to-ports {}",
            other(b, c)
        ),
        3 => format!("-A PREROUTING -s {} -j ACCEPT", SRCS[a % 3]),
        _ => "-A POSTROUTING -o eth1 -j MASQUERADE".to_string(),
    }
}

fn filter_rule(chain: &str, kind: u8, a: usize, b: usize, v: usize) -> String {
    let v = ["ACCEPT", "DROP", "REJECT"][v % 3];
    let p = PORTS[b % 3];
    match kind % 8 {
        0 => format!("-A {chain} -s {} -j {v}", SRCS[a % 3]),
        // The connection's NAT status: known on a first packet (the DNATs before), and
        // ESTABLISHED named so an established packet's unknown status does not matter.
        6 => format!("-A {chain} -m conntrack --ctstate ESTABLISHED,DNAT -j {v}"),
        7 => format!("-A {chain} -m conntrack ! --ctstate ESTABLISHED,DNAT -j {v}"),
        1 => format!("-A {chain} -p tcp -m tcp --dport {p} -j {v}"),
        2 => format!(
            "-A {chain} -d {}/32 -p tcp -m tcp --dport {p} -j {v}",
            TARGETS[a % 3]
        ),
        3 => format!("-A {chain} -m state --state ESTABLISHED,RELATED -j {v}"),
        4 if chain == "FORWARD" => format!("-A FORWARD -i eth{} -o eth{} -j {v}", a % 2, b % 2),
        _ => format!("-A {chain} -i eth{} -p tcp -j {v}", a % 2),
    }
}

type Rules = Vec<(u8, usize, usize, usize)>;

fn router_text(policies: (bool, bool), nat: &Rules, input: &Rules, forward: &Rules) -> String {
    let pol = |b: bool| if b { "ACCEPT" } else { "DROP" };
    let mut t = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n",
    );
    for &(k, a, b, c) in nat {
        t += &nat_rule(k, a, b, c);
        t.push('\n');
    }
    t += &format!(
        "COMMIT\n*filter\n:INPUT {} [0:0]\n:FORWARD {} [0:0]\n:OUTPUT ACCEPT [0:0]\n",
        pol(policies.0),
        pol(policies.1)
    );
    for &(k, a, b, v) in input {
        t += &filter_rule("INPUT", k, a, b, v);
        t.push('\n');
    }
    for &(k, a, b, v) in forward {
        t += &filter_rule("FORWARD", k, a, b, v);
        t.push('\n');
    }
    t + "COMMIT\n"
}

fn arb(n: usize) -> impl Strategy<Value = Rules> {
    prop::collection::vec((0u8..8, 0usize..3, 0usize..3, 0usize..3), 0..n)
}

/// The simulator's fate of a packet in the analysis's words (verdict, translations, the
/// way taken when a DNAT changed it), and the interface routing picks for the packet's
/// destination after NAT (the analysis keeps `-o` as a field of the class).
fn sim_outcome(rs: &Ruleset, host: &Host, p: &Packet, local: bool) -> (String, Option<String>) {
    let mut sim = Simulator::new(rs, host.clone());
    let trace = sim.run(p);
    let branch = &trace.branches[0];
    assert_eq!(trace.branches.len(), 1, "{p}: {trace:?}");
    let mut nat = String::new();
    let mut dst: IpAddr = p.dst;
    for step in &branch.steps {
        if let Event::Nat { kind, to, .. } = &step.event {
            match kind {
                NatKind::Dnat => {
                    nat += &format!(" (DNAT to {}:{})", to.addr, to.port.unwrap());
                    dst = to.addr;
                }
                NatKind::Redirect => {
                    nat += &format!(" (REDIRECT to port {})", to.port.unwrap());
                    dst = to.addr;
                }
                NatKind::Masquerade => nat += " (MASQUERADE)",
                NatKind::Snat => nat += &format!(" (SNAT to {})", to.addr),
            }
        }
    }
    let out = match host.route(dst) {
        RouteDecision::Out { dev, .. } => Some(dev),
        _ => None,
    };
    let fate = match &branch.fate {
        Fate::DeliveredLocally { .. } => {
            format!("ACCEPT{nat}{}", if local { "" } else { " (to this host)" })
        }
        Fate::Forwarded { .. } => format!("ACCEPT{nat}{}", if local { " (forwarded)" } else { "" }),
        // The analysis keeps no translation in a dropped packet's fate.
        Fate::Dropped { .. } => "DROP".into(),
        Fate::Rejected { .. } => "REJECT".into(),
        other => panic!("{p}: {other:?}"),
    };
    (fate, out)
}

fn arb_packet() -> impl Strategy<Value = (Packet, bool, usize, u16, usize, usize)> {
    (prop::bool::ANY, 0usize..4, 0u16..3, 0usize..2, 0usize..3).prop_map(
        |(local, s, port, iface, st)| {
            let src = ["192.0.2.9", "198.51.100.7", "203.0.113.5", "10.0.0.1"][s];
            let dst = if local { "192.0.2.1" } else { "198.51.100.50" };
            let dport = PORTS[port as usize];
            let state = [CtState::New, CtState::Established, CtState::Invalid][st];
            let p = Packet::tcp(src, 40000, dst, dport)
                .syn()
                .on(["eth0", "eth1"][iface])
                .state(state);
            (p, local, s, dport, iface, st)
        },
    )
}

fn point(p: &Packet, out: Option<String>, st: usize) -> Point {
    Point {
        proto: 6,
        src: p.src,
        dst: p.dst,
        sport: 40000,
        dport: p.dport.unwrap(),
        ct: [0, 1, 3][st],
        in_iface: p.in_iface.clone(),
        out_iface: out,
        tcp_flags: 0x02,
        icmp: (0, 0),
        length: 60,
        mark: 0,
        fragment: false,
        members: vec![],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// A packet's fate (verdict, translations, the way a DNAT sent it) differs between
    /// two router rulesets in the simulator exactly when it lies in a class `diff`
    /// reports, with the simulator's fates on each side.
    #[test]
    fn diff_agrees_with_the_simulator_through_dnat_and_forward(
        pa in any::<(bool, bool)>(), na in arb(5), ia in arb(5), fa in arb(6),
        pb in any::<(bool, bool)>(), nb in arb(5), ib in arb(5), fb in arb(6),
        packets in prop::collection::vec(arb_packet(), 1..24),
    ) {
        let host = Host::parse(HOST).unwrap();
        let a = parse(&router_text(pa, &na, &ia, &fa));
        let b = parse(&router_text(pb, &nb, &ib, &fb));
        let addrs: Vec<IpAddr> = host.interfaces.iter().flat_map(|i| i.addrs.iter().map(|a| a.addr)).collect();
        let locals = Locals::loopback().with(addrs);
        let d = diff_with(&a, &b, &locals).unwrap();
        for (packet, local, _, _, _, st) in &packets {
            let (x, ox) = sim_outcome(&a, &host, packet, *local);
            let (y, oy) = sim_outcome(&b, &host, packet, *local);
            let path = if *local { PathKind::Input } else { PathKind::Forward };
            // The out interface is a field of the class, chosen by routing after NAT: at
            // the point of A's packet, A's walk is A's fate, and B's differs from x when
            // B's translation does (or B's fate does).
            let cx = d.change_for(path, &point(packet, ox.clone(), *st));
            if ox == oy {
                if x == y {
                    prop_assert!(cx.is_none(), "{packet}: {x} both, but diff says {:?}", cx.map(|c| c.to_string()));
                } else {
                    let c = cx.unwrap_or_else(|| panic!("{packet}: {x} → {y} missing from diff {:#?}", lines(&d)));
                    prop_assert_eq!(&c.before, &vec![x.clone()], "{}", c);
                    prop_assert_eq!(&c.after, &vec![y.clone()], "{}", c);
                }
            } else {
                // Different translations: an accepted side's outcome names its own, which
                // the other side's walk at that point cannot.
                let cy = d.change_for(path, &point(packet, oy.clone(), *st));
                if x.starts_with("ACCEPT") {
                    let c = cx.unwrap_or_else(|| panic!("{packet}: {x} → {y} missing from diff {:#?}", lines(&d)));
                    prop_assert_eq!(&c.before, &vec![x.clone()], "{}", c);
                }
                if y.starts_with("ACCEPT") {
                    let c = cy.unwrap_or_else(|| panic!("{packet}: {x} → {y} missing from diff {:#?}", lines(&d)));
                    prop_assert_eq!(&c.after, &vec![y.clone()], "{}", c);
                }
                if let Some(c) = cx {
                    prop_assert_eq!(&c.before, &vec![x.clone()], "{}", c);
                }
                if let Some(c) = cy {
                    prop_assert_eq!(&c.after, &vec![y.clone()], "{}", c);
                }
            }
        }
    }
}

#[test]
fn the_lockout_check_does_not_count_a_forwarded_ssh_port() {
    // Port 22 from the WAN goes to an inner host, and INPUT lets no SSH in: the router's
    // own sshd is reached from nowhere.
    let rs = parse(
        &ROUTER
            .replace(
                "--dport 8080 -j DNAT --to-destination 192.0.2.10:80",
                "--dport 22 -j DNAT --to-destination 192.0.2.10:22",
            )
            .replace("-A INPUT -i eth0 -p tcp -m tcp --dport 22 -j ACCEPT\n", "")
            .replace("-A INPUT -i lo -j ACCEPT\n", "")
            .replace(
                "-d 192.0.2.10/32 -i ppp0 -o eth0 -p tcp -m tcp --dport 80",
                "-d 192.0.2.10/32 -i ppp0 -o eth0 -p tcp -m tcp --dport 22",
            ),
    );
    let admin: IpAddr = "198.51.100.7".parse().unwrap();
    assert_eq!(
        rampart_analysis::reaches(&rs, admin, 22).unwrap(),
        Access::Closed
    );
    let e = exposure(&rs).unwrap();
    assert!(
        e.services
            .iter()
            .any(|s| s.ports == "22" && s.to.as_deref() == Some("192.0.2.10:22 (forwarded)")),
        "{:#?}",
        e.services
    );
}
