//! `rampart top` on a real socket table: a server namespace holds connections from two
//! client namespaces (one of which never completes its handshakes, leaving a SYN_RECV
//! backlog), and every count is checked exactly, through the library (sock_diag →
//! rampart-top), through the binary (`rampart top --json` inside the namespace), and from
//! the conntrack table (`--conntrack`), which must agree. A router namespace shows what
//! only conntrack sees: forwarded, masqueraded and port-forwarded flows.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rampart_nfnl::{InetSocket, Protocol, SockDiag, ALL_STATES};
use rampart_testkit::{require, Need, Netns};
use rampart_top::{from_sockets, summarize, Report};
use serde_json::Value;
use socket2::{Domain, SockAddr, Socket, Type};

/// The server listens dual-stack on `[::]:8080` (IPv4 clients appear as `::ffff:a.b.c.d`
/// in its sockets and must be counted as IPv4).
const PORT: u16 = 8080;

/// Connections from the well-behaved client, per source address; the last address also
/// leaves one connection in TIME_WAIT on the server.
const CLIENTS: [(&str, usize); 4] = [
    ("192.0.2.10", 5),
    ("192.0.2.11", 3),
    ("198.51.100.20", 2),
    ("2001:db8::10", 2),
];
/// The half-open client: its SYNs reach the server, the server's SYN-ACKs are dropped.
const FLOODER: &str = "203.0.113.66";
const HALF_OPEN: usize = 4;

struct Lab {
    server: Netns,
    _client: Netns,
    _flooder: Netns,
    _held: Vec<Box<dyn Send>>,
}

fn connect_from(ns: &Netns, from: &str, to: SocketAddr, nonblocking: bool) -> Socket {
    let from: SocketAddr = SocketAddr::new(from.parse().unwrap(), 0);
    ns.run_in(|| {
        let s = Socket::new(Domain::for_address(to), Type::STREAM, None).unwrap();
        s.bind(&SockAddr::from(from)).unwrap();
        if nonblocking {
            s.set_nonblocking(true).unwrap();
            let _ = s.connect(&SockAddr::from(to)); // EINPROGRESS
        } else {
            s.connect_timeout(&SockAddr::from(to), Duration::from_secs(5))
                .unwrap();
        }
        s
    })
}

fn lab() -> Option<Lab> {
    if !require(&[Need::Root, Need::Tool("ip"), Need::Tool("nft")]) {
        return None;
    }
    let server = Netns::fresh("top-server");
    let client = Netns::fresh("top-client");
    let flooder = Netns::fresh("top-flooder");
    server.veth("eth0", &client, "eth0");
    server.veth("eth1", &flooder, "eth0");
    let addr = |ns: &Netns, a: &str, dev: &str| {
        let mut argv = vec!["ip", "addr", "add", a, "dev", dev];
        if a.contains(':') {
            argv.push("nodad");
        }
        ns.exec(&argv);
    };
    for a in ["192.0.2.1/24", "198.51.100.1/24", "2001:db8::1/64"] {
        addr(&server, a, "eth0");
    }
    addr(&server, "203.0.113.1/24", "eth1");
    for a in [
        "192.0.2.10/24",
        "192.0.2.11/24",
        "198.51.100.20/24",
        "2001:db8::10/64",
    ] {
        addr(&client, a, "eth0");
    }
    addr(&flooder, &format!("{FLOODER}/24"), "eth0");
    // Conntrack on in the server (for --conntrack); SYN-ACKs dropped in the flooder.
    server.nft(
        "table inet t {
            chain in { type filter hook input priority 0; ct state new counter; }
        }",
    );
    flooder.nft(
        "table inet t {
            chain in {
                type filter hook input priority 0;
                tcp flags & (syn | ack) == syn | ack drop
            }
        }",
    );

    let listener = server.run_in(|| TcpListener::bind(("::", PORT)).unwrap());
    let mut held: Vec<Box<dyn Send>> = Vec::new();
    for (i, (from, n)) in CLIENTS.iter().enumerate() {
        let to = if from.contains(':') {
            "[2001:db8::1]:8080"
        } else if from.starts_with("198.") {
            "198.51.100.1:8080"
        } else {
            "192.0.2.1:8080"
        };
        let extra = usize::from(i == 2); // one more, closed into TIME_WAIT below
        for k in 0..n + extra {
            let c = connect_from(&client, from, to.parse().unwrap(), false);
            let (accepted, _) = listener.accept().unwrap();
            if k == *n {
                // The server closes first: its side goes to TIME_WAIT once the client
                // has closed too.
                drop(accepted);
                let mut c = TcpStream::from(c);
                let _ = c.read(&mut [0; 1]);
                drop(c);
            } else {
                held.push(Box::new(c));
                held.push(Box::new(accepted));
            }
        }
    }
    // One outgoing connection: the server to a service of the client's.
    let svc = client.run_in(|| TcpListener::bind("192.0.2.10:9000").unwrap());
    let out = server.run_in(|| {
        TcpStream::connect_timeout(&"192.0.2.10:9000".parse().unwrap(), Duration::from_secs(5))
            .unwrap()
    });
    held.push(Box::new(svc.accept().unwrap().0));
    held.push(Box::new(out));
    held.push(Box::new(svc));
    for _ in 0..HALF_OPEN {
        held.push(Box::new(connect_from(
            &flooder,
            FLOODER,
            "203.0.113.1:8080".parse().unwrap(),
            true,
        )));
    }
    held.push(Box::new(listener));
    Some(Lab {
        server,
        _client: client,
        _flooder: flooder,
        _held: held,
    })
}

fn library_report(server: &Netns) -> Report {
    server.run_in(|| {
        let mut diag = SockDiag::open().unwrap();
        let mut sockets: Vec<InetSocket> = Vec::new();
        for p in [Protocol::Tcp, Protocol::Udp] {
            diag.for_each(p, ALL_STATES, |s| sockets.push(*s)).unwrap();
        }
        summarize(&from_sockets(&sockets), None, 50)
    })
}

/// Incoming counts per (address, state) and the section total.
fn expected_incoming() -> BTreeMap<String, (usize, usize, usize, usize)> {
    let mut want = BTreeMap::new();
    for (i, (a, n)) in CLIENTS.iter().enumerate() {
        let tw = usize::from(i == 2);
        want.insert(a.to_string(), (n + tw, *n, 0, tw));
    }
    want.insert(FLOODER.to_string(), (HALF_OPEN, 0, HALF_OPEN, 0));
    want
}

fn rows(section: &Value, table: &str) -> BTreeMap<String, (usize, usize, usize, usize)> {
    let n = |r: &Value, k: &str| r[k].as_u64().unwrap() as usize;
    section[table]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no {table} in {section}"))
        .iter()
        .map(|r| {
            let key = match &r["key"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (
                key,
                (
                    n(r, "total"),
                    n(r, "established"),
                    n(r, "syn_recv"),
                    n(r, "time_wait"),
                ),
            )
        })
        .collect()
}

/// `rampart top --json --top 50 ARGS` in the namespace (`--no-geo` unless a `--db` is
/// given).
fn cli(server: &Netns, args: &[&str]) -> Value {
    let geo: &[&str] = if args.contains(&"--db") {
        &[]
    } else {
        &["--no-geo"]
    };
    let out = server
        .command(env!("CARGO_BIN_EXE_rampart"))
        .args(["top", "--json", "--top", "50"])
        .args(geo)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rampart top {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn top_counts_connections_per_address_network_and_state_exactly() {
    let Some(lab) = lab() else {
        return;
    };
    let want = expected_incoming();
    // The last client's close and the flooder's SYNs settle within milliseconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        let r = library_report(&lab.server);
        let done = r.incoming.total.time_wait == 1 && r.incoming.total.syn_recv == HALF_OPEN;
        if done || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let json = serde_json::to_value(&report).unwrap();
    let inc = &json["incoming"];
    assert_eq!(rows(inc, "addresses"), want, "{inc:#}");
    let nets24: BTreeMap<_, _> = [
        ("192.0.2.0/24".to_string(), (8, 8, 0, 0)),
        ("198.51.100.0/24".to_string(), (3, 2, 0, 1)),
        ("203.0.113.0/24".to_string(), (4, 0, 4, 0)),
    ]
    .into();
    assert_eq!(rows(inc, "nets24"), nets24);
    assert_eq!(rows(inc, "nets16").len(), 3);
    assert_eq!(
        rows(inc, "nets48"),
        [("2001:db8::/48".to_string(), (2, 2, 0, 0))].into()
    );
    let states: BTreeMap<_, _> = [
        ("\"ESTABLISHED\"".to_string(), (12, 12, 0, 0)),
        ("\"SYN_RECV\"".to_string(), (4, 0, 4, 0)),
        ("\"TIME_WAIT\"".to_string(), (1, 0, 0, 1)),
    ]
    .into();
    let got_states: BTreeMap<_, _> = rows(inc, "states")
        .into_iter()
        .map(|(k, v)| (format!("\"{k}\""), v))
        .collect();
    assert_eq!(got_states, states);
    assert_eq!(
        inc["ports"]["rows"][0]["key"],
        serde_json::json!({"proto": "tcp", "port": 8080})
    );
    assert_eq!(inc["total"]["total"], 17);
    let out = &json["outgoing"];
    assert_eq!(
        rows(out, "addresses"),
        [("192.0.2.10".to_string(), (1, 1, 0, 0))].into()
    );
    assert_eq!(out["ports"]["rows"][0]["key"]["port"], 9000);

    // The binary in the namespace says the same.
    let bin = cli(&lab.server, &[]);
    assert_eq!(bin["source"], "sockets");
    for table in [
        "addresses",
        "nets24",
        "nets16",
        "nets64",
        "nets48",
        "ports",
        "states",
    ] {
        assert_eq!(rows(&bin["incoming"], table), rows(inc, table), "{table}");
        assert_eq!(rows(&bin["outgoing"], table), rows(out, table), "{table}");
    }

    // Countries from a country database in tor-geoipdb's two formats: 192.0.2.0/24 AU,
    // 198.51.100.0/24 CN, 2001:db8::/32 JP; 203.0.113.0/24 in none.
    let dir = std::env::temp_dir().join(format!("rampart-top-geo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (v4, v6) = (dir.join("geoip"), dir.join("geoip6"));
    std::fs::write(&v4, "3221225984,3221226239,AU\n3325256704,3325256959,CN\n").unwrap();
    std::fs::write(
        &v6,
        "2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,JP\n",
    )
    .unwrap();
    let (v4, v6) = (v4.to_str().unwrap(), v6.to_str().unwrap());
    let geo = cli(&lab.server, &["--db", v4, "--db", v6]);
    let countries: BTreeMap<_, _> = [
        ("AU".to_string(), (8, 8, 0, 0)),
        ("CN".to_string(), (3, 2, 0, 1)),
        ("JP".to_string(), (2, 2, 0, 0)),
        ("null".to_string(), (4, 0, 4, 0)),
    ]
    .into();
    assert_eq!(
        rows(&geo["incoming"], "countries"),
        countries,
        "{:#}",
        geo["incoming"]
    );
    let _ = std::fs::remove_dir_all(&dir);

    // So does the conntrack table, for what it sees the same way.
    let ct = cli(&lab.server, &["--conntrack"]);
    assert_eq!(ct["source"], "conntrack");
    assert_eq!(
        rows(&ct["incoming"], "addresses"),
        want,
        "{:#}",
        ct["incoming"]
    );
    assert_eq!(rows(&ct["incoming"], "nets24"), nets24);
    assert_eq!(rows(&ct["outgoing"], "addresses"), rows(out, "addresses"));
    assert_eq!(ct["forwarded"]["total"]["total"], 0);
}

#[test]
fn top_watch_refreshes_and_exits_cleanly_on_ctrl_c() {
    if !require(&[Need::Root, Need::Tool("ip")]) {
        return;
    }
    let ns = Netns::fresh("top-watch");
    let mut child = ns
        .command(env!("CARGO_BIN_EXE_rampart"))
        .args(["top", "--watch", "--interval", "1", "--json", "--no-geo"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..2 {
        let line = lines.next().unwrap().unwrap();
        let doc: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["total"]["total"], 0, "{doc}");
    }
    // `ip netns exec` execs the program itself: the child is rampart.
    let target = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "rampart top --watch ignored ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn top_conntrack_counts_forwarded_and_nated_flows_on_a_router() {
    if !require(&[Need::Root, Need::Tool("ip"), Need::Tool("nft")]) {
        return;
    }
    let client = Netns::fresh("top-nat-client");
    let router = Netns::fresh("top-nat-router");
    let server = Netns::fresh("top-nat-server");
    router.veth("eth0", &client, "eth0");
    router.veth("eth1", &server, "eth0");
    client.exec(&["ip", "addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    client.exec(&["ip", "route", "add", "default", "via", "192.0.2.1"]);
    router.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", "eth0"]);
    router.exec(&["ip", "addr", "add", "198.51.100.1/24", "dev", "eth1"]);
    router.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    server.exec(&["ip", "addr", "add", "198.51.100.2/24", "dev", "eth0"]);
    server.exec(&["ip", "route", "add", "default", "via", "198.51.100.1"]);
    // Masquerade out of eth1, and a port forward 192.0.2.1:8080 -> 198.51.100.2:80.
    router.nft(
        "table ip nat {
            chain pre { type nat hook prerouting priority -100; tcp dport 8080 dnat to 198.51.100.2:80; }
            chain post { type nat hook postrouting priority 100; oifname \"eth1\" masquerade; }
        }",
    );
    let web = server.run_in(|| TcpListener::bind("198.51.100.2:80").unwrap());
    let ssh = router.run_in(|| TcpListener::bind("192.0.2.1:22").unwrap());
    let mut held = Vec::new();
    for (to, n) in [
        ("198.51.100.2:80", 3),
        ("192.0.2.1:8080", 2),
        ("192.0.2.1:22", 1),
    ] {
        for _ in 0..n {
            held.push(client.run_in(|| {
                TcpStream::connect_timeout(&to.parse().unwrap(), Duration::from_secs(5)).unwrap()
            }));
            let listener = if to.ends_with(":22") { &ssh } else { &web };
            held.push(listener.accept().unwrap().0);
        }
    }

    let ct = cli(&router, &["--conntrack"]);
    assert_eq!(ct["total"]["total"], 6, "{ct:#}");
    assert_eq!(ct["nat"], 5, "{ct:#}");
    let fwd = &ct["forwarded"];
    assert_eq!(
        rows(fwd, "addresses"),
        [("192.0.2.2".to_string(), (5, 5, 0, 0))].into()
    );
    let ports: BTreeMap<_, _> = fwd["ports"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"]["port"].as_u64().unwrap(),
                r["total"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ports, [(80, 3), (8080, 2)].into(), "{fwd:#}");
    assert_eq!(
        rows(&ct["incoming"], "addresses"),
        [("192.0.2.2".to_string(), (1, 1, 0, 0))].into()
    );
    assert_eq!(ct["outgoing"]["total"]["total"], 0);
    // Sockets never see forwarded flows: only the router's own connection.
    let sockets = cli(&router, &[]);
    assert_eq!(sockets["total"]["total"], 1, "{sockets:#}");
    assert_eq!(sockets["forwarded"]["total"]["total"], 0);
    drop(held);
}
