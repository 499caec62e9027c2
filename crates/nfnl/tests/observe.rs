//! The observers against the real kernel: sockets (sock_diag), conntrack dumps and
//! events (ctnetlink) and logged packets (NFLOG), each in a server namespace reached by a
//! client namespace over a veth pair.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use rampart_nfnl::wire::{Conntrack, CtTcpState, Tuple};
use rampart_nfnl::{
    ConntrackClient, ConntrackEvents, CtEventKind, CtGroups, NflogListener, ObserveError, Protocol,
    SockDiag, TcpState, ALL_STATES,
};
use rampart_testkit::{require, Need, Netns};

const SERVER4: &str = "192.0.2.1";
const CLIENT4: &str = "192.0.2.2";
const SERVER6: &str = "2001:db8::1";
const CLIENT6: &str = "2001:db8::2";

/// A server and a client namespace joined by `eth0`, both families addressed (`nodad`:
/// usable at once).
fn pair(tag: &str) -> Option<(Netns, Netns)> {
    if !require(&[Need::Root, Need::Tool("ip"), Need::Tool("nft")]) {
        return None;
    }
    let server = Netns::fresh(&format!("{tag}-srv"));
    let client = Netns::fresh(&format!("{tag}-cli"));
    server.veth("eth0", &client, "eth0");
    for (ns, v4, v6) in [(&server, SERVER4, SERVER6), (&client, CLIENT4, CLIENT6)] {
        ns.exec(&["ip", "addr", "add", &format!("{v4}/24"), "dev", "eth0"]);
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{v6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
    }
    Some((server, client))
}

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

fn connect(client: &Netns, to: SocketAddr) -> TcpStream {
    client.run_in(|| TcpStream::connect_timeout(&to, Duration::from_secs(5)).unwrap())
}

#[test]
fn sock_diag_sees_every_state_and_both_families() {
    let Some((server, client)) = pair("sockdiag") else {
        return;
    };
    let (l4, l6, udp) = server.run_in(|| {
        (
            TcpListener::bind(sa(SERVER4, 8080)).unwrap(),
            TcpListener::bind(sa(SERVER6, 8080)).unwrap(),
            UdpSocket::bind(sa(SERVER4, 5353)).unwrap(),
        )
    });
    let mut clients = Vec::new();
    let mut accepted = Vec::new();
    for _ in 0..3 {
        clients.push(connect(&client, sa(SERVER4, 8080)));
        accepted.push(l4.accept().unwrap().0);
    }
    clients.push(connect(&client, sa(SERVER6, 8080)));
    accepted.push(l6.accept().unwrap().0);
    // The server closes the first connection, then the client: the server's side is
    // the active closer and stays in TIME_WAIT.
    drop(accepted.remove(0));
    let mut first = clients.remove(0);
    let _ = first.read(&mut [0; 1]);
    drop(first);

    let deadline = Instant::now() + Duration::from_secs(5);
    let (tcp, udps) = loop {
        let (tcp, udps) = server.run_in(|| {
            let mut diag = SockDiag::open().unwrap();
            (
                diag.sockets(Protocol::Tcp, ALL_STATES).unwrap(),
                diag.sockets(Protocol::Udp, ALL_STATES).unwrap(),
            )
        });
        let tw = tcp.iter().any(|s| s.state == TcpState::TimeWait);
        if tw || Instant::now() > deadline {
            break (tcp, udps);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut by_state: BTreeMap<(TcpState, String), usize> = BTreeMap::new();
    for s in &tcp {
        *by_state
            .entry((s.state, s.remote.ip().to_string()))
            .or_default() += 1;
    }
    let count = |st: TcpState, remote: &str| by_state.get(&(st, remote.into())).copied();
    assert_eq!(
        count(TcpState::Established, CLIENT4),
        Some(2),
        "{by_state:?}"
    );
    assert_eq!(
        count(TcpState::Established, CLIENT6),
        Some(1),
        "{by_state:?}"
    );
    assert_eq!(count(TcpState::TimeWait, CLIENT4), Some(1), "{by_state:?}");
    assert_eq!(count(TcpState::Listen, "0.0.0.0"), Some(1), "{by_state:?}");
    assert_eq!(count(TcpState::Listen, "::"), Some(1), "{by_state:?}");
    assert_eq!(tcp.len(), 6, "{tcp:#?}");
    let tw = tcp.iter().find(|s| s.state == TcpState::TimeWait).unwrap();
    assert_eq!((tw.local, tw.inode), (sa(SERVER4, 8080), 0));
    let est = tcp
        .iter()
        .find(|s| s.state == TcpState::Established && s.remote.is_ipv6())
        .unwrap();
    assert_eq!(est.local, sa(SERVER6, 8080));
    assert_ne!(est.inode, 0);
    assert_eq!(udps.len(), 1, "{udps:#?}");
    assert_eq!(
        (udps[0].state, udps[0].local),
        (TcpState::Close, sa(SERVER4, 5353))
    );
    drop((l4, l6, udp, clients, accepted));
}

/// A ruleset that makes the kernel track connections in the namespace.
const TRACK: &str = "table inet t {
    chain in { type filter hook input priority 0; ct state new counter; }
}";

#[test]
fn ctnetlink_dump_and_new_destroy_events() {
    let Some((server, client)) = pair("ctnl") else {
        return;
    };
    server.nft(TRACK);
    let listener = server.run_in(|| TcpListener::bind(sa(SERVER4, 8080)).unwrap());
    let mut events = server.run_in(|| ConntrackEvents::subscribe(CtGroups::NEW_DESTROY).unwrap());
    let stream = connect(&client, sa(SERVER4, 8080));
    let (_accepted, _) = listener.accept().unwrap();
    let port = stream.local_addr().unwrap().port();
    let want = Tuple::ports(
        CLIENT4.parse().unwrap(),
        port,
        SERVER4.parse().unwrap(),
        8080,
        6,
    );

    let new = wait_event(&mut events, CtEventKind::New, &want);
    assert_eq!(new.reply, Some(want.reversed()), "{new:?}");

    let mut ct = server.run_in(|| ConntrackClient::open().unwrap());
    let table = ct.dump().unwrap();
    let entry = table
        .iter()
        .find(|e| e.orig == Some(want))
        .unwrap_or_else(|| panic!("{want:?} not in {table:#?}"));
    assert_eq!(
        entry.tcp_state(),
        Some(CtTcpState::Established),
        "{entry:?}"
    );
    assert!(entry.timeout.is_some() && entry.id.is_some(), "{entry:?}");

    ct.delete(entry).unwrap();
    let gone = wait_event(&mut events, CtEventKind::Destroy, &want);
    assert_eq!(gone.id, entry.id);
    assert!(ct.dump().unwrap().iter().all(|e| e.orig != Some(want)));
    drop(stream);
}

fn wait_event(events: &mut ConntrackEvents, kind: CtEventKind, orig: &Tuple) -> Conntrack {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        for e in events.recv(Duration::from_millis(200)).unwrap() {
            if e.kind == kind && e.entry.orig.as_ref() == Some(orig) {
                return e.entry;
            }
            seen.push(e);
        }
    }
    panic!("no {kind:?} event for {orig:?}; saw {seen:#?}");
}

#[test]
fn ctnetlink_creates_entries_the_conntrack_tool_lists() {
    if !require(&[Need::Root, Need::Tool("conntrack")]) {
        return;
    }
    let ns = Netns::fresh("ctnl-create");
    let entries: Vec<Conntrack> = (1..=300u16)
        .map(|i| {
            let orig = Tuple::ports(
                "198.51.100.7".parse().unwrap(),
                10_000 + i,
                "203.0.113.9".parse().unwrap(),
                53,
                17,
            );
            Conntrack {
                orig: Some(orig),
                reply: Some(orig.reversed()),
                timeout: Some(600),
                ..Conntrack::default()
            }
        })
        .collect();
    let mut ct = ns.run_in(|| ConntrackClient::open().unwrap());
    ct.create(&entries).unwrap();
    // A second create of the same entry is refused, and the error names it.
    let (index, err) = ct.create(&entries[299..]).unwrap_err();
    assert_eq!(index, 0);
    assert!(
        matches!(
            err,
            ObserveError::Kernel {
                errno: nix::errno::Errno::EEXIST,
                ..
            }
        ),
        "{err}"
    );
    // A chunk with a refusal in the middle: the entries around it are created, the error
    // names it, and the client goes on working (no answer left behind).
    let mut more: Vec<Conntrack> = entries[..3]
        .iter()
        .map(|e| {
            let mut e = e.clone();
            let o = e.orig.unwrap();
            e.orig = Some(Tuple {
                dst_port: Some(54),
                ..o
            });
            e.reply = Some(e.orig.unwrap().reversed());
            e
        })
        .collect();
    more.insert(1, entries[0].clone());
    let (index, _) = ct.create(&more).unwrap_err();
    assert_eq!(index, 1);
    let ours: Vec<_> = ct.dump().unwrap();
    assert_eq!(ours.len(), 303);
    let extra: Vec<_> = ours
        .iter()
        .filter(|e| e.orig.and_then(|o| o.dst_port) == Some(54))
        .collect();
    assert_eq!(extra.len(), 3);
    for e in extra {
        ct.delete(e).unwrap();
    }
    let ours: Vec<_> = ct.dump().unwrap();
    assert_eq!(ours.len(), 300);
    let listed = ns.exec(&["conntrack", "-L", "-p", "udp"]);
    assert!(!listed.contains("dport=54"), "{listed}");
    assert_eq!(listed.lines().count(), 300, "{listed}");
    assert!(
        listed.contains("src=198.51.100.7 dst=203.0.113.9 sport=10300 dport=53"),
        "{listed}"
    );
}

#[test]
fn nflog_delivers_prefix_addresses_ports_hook_and_interface() {
    let Some((server, client)) = pair("nflog") else {
        return;
    };
    server.nft(
        "table inet t {
            set ban_4 { type ipv4_addr; flags dynamic,timeout; timeout 1m; }
            chain in {
                type filter hook input priority 0;
                udp dport 9999 add @ban_4 { ip saddr } log prefix \"rampart-ban:udp-flood \" group 5 drop
                ip6 saddr 2001:db8::2 tcp dport 22 log prefix \"x6\" group 5 accept
            }
        }",
    );
    let mut bans = server.run_in(|| NflogListener::bind(5).unwrap());
    // A second socket cannot take the same group.
    let busy = server.run_in(|| NflogListener::bind(5).unwrap_err());
    assert!(
        matches!(
            busy,
            ObserveError::Kernel {
                errno: nix::errno::Errno::EPERM,
                ..
            }
        ),
        "{busy}"
    );
    assert!(busy.to_string().contains("ulogd"), "{busy}");

    client.run_in(|| {
        let s = UdpSocket::bind(sa(CLIENT4, 40000)).unwrap();
        for _ in 0..3 {
            s.send_to(b"x", sa(SERVER4, 9999)).unwrap();
        }
        // Nothing listens on 22: the SYN is logged, then refused.
        let _ = TcpStream::connect_timeout(&sa(SERVER6, 22), Duration::from_secs(2));
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < 4 && Instant::now() < deadline {
        got.extend(bans.recv(Duration::from_millis(200)).unwrap());
    }
    assert_eq!(got.len(), 4, "{got:#?}");
    let udp = &got[0];
    assert_eq!(udp.prefix, "rampart-ban:udp-flood ");
    assert_eq!(udp.group, 5);
    assert_eq!(udp.family, 2);
    assert_eq!(udp.src, CLIENT4.parse::<IpAddr>().unwrap());
    assert_eq!(udp.dst, SERVER4.parse::<IpAddr>().unwrap());
    assert_eq!(
        (udp.protocol, udp.src_port, udp.dst_port),
        (17, Some(40000), Some(9999))
    );
    assert_eq!((udp.hook, udp.hook_name()), (1, "input"));
    assert_eq!(
        udp.indev.as_ref().and_then(|i| i.name.as_deref()),
        Some("eth0")
    );
    assert_eq!(udp.outdev, None);
    assert!(got[1..3]
        .iter()
        .all(|p| p.prefix == udp.prefix && p.src == udp.src));
    let syn = &got[3];
    assert_eq!(syn.prefix, "x6");
    assert_eq!(syn.family, 10);
    assert_eq!(syn.src, CLIENT6.parse::<Ipv6Addr>().unwrap());
    assert_eq!((syn.protocol, syn.dst_port), (6, Some(22)));
    // The kernel's own ban is in the set, and nothing was lost or left undecoded.
    let set = server.exec(&["nft", "list", "set", "inet", "t", "ban_4"]);
    assert!(set.contains(CLIENT4), "{set}");
    assert_eq!((bans.lost(), bans.undecoded()), (0, 0));
    // Drained: nothing more within a short wait.
    assert!(bans.recv(Duration::from_millis(100)).unwrap().is_empty());
}
