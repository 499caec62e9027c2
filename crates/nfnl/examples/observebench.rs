//! The observers' benchmark helpers, driven by `scripts/bench-observe` (which builds the
//! namespaces, times these beside `ss` and `conntrack -L` with hyperfine, and writes
//! the figures for BENCHMARKS.md, "Observers").
//!
//! ```text
//! observebench hold SERVER_NS CLIENT_NS N PORT
//!                                           N TCP connections client → server
//!                                           (198.51.100.1:PORT from 198.51.100.10-13),
//!                                           held until standard input closes (both
//!                                           ends: 2N descriptors; the script starts
//!                                           several when N exceeds one process's limit)
//! observebench scan [R]                     sock_diag dump of every TCP socket here
//!                                           (R times: min and median to stderr)
//! observebench fill N                       N conntrack entries here (ctnetlink NEW)
//! observebench ctdump [R]                   ctnetlink dump of the conntrack table here
//! ```
//!
//! Root only. `hold` enters the two namespaces on threads of its own
//! (`rampart_testkit::run_in_named`); the others run in the namespace they are started
//! in (`ip netns exec NS observebench …`), never the machine's own by the script.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Instant;

use rampart_nfnl::wire::{Conntrack, Tuple};
use rampart_nfnl::{ConntrackClient, Protocol, SockDiag, ALL_STATES};
use rampart_testkit::run_in_named;
use socket2::{Domain, SockAddr, Socket, Type};

/// Client source addresses: four, so that 100k connections fit in the ephemeral ports
/// (a bind to port 0 takes one per address; the script widens the range to 1024-65535
/// in the client namespace).
const SOURCES: u8 = 4;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: observebench hold SERVER_NS CLIENT_NS N PORT | scan [R] | fill N | ctdump [R]";
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["hold", server, client, n, port] => hold(
            server,
            client,
            n.parse().expect(usage),
            port.parse().expect(usage),
        ),
        ["scan"] => scan(1),
        ["scan", r] => scan(r.parse().expect(usage)),
        ["fill", n] => fill(n.parse().expect(usage)),
        ["ctdump"] => ctdump(1),
        ["ctdump", r] => ctdump(r.parse().expect(usage)),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}

/// Runs `f` `runs` times; prints its count, and with several runs min and median.
fn timed(what: &str, runs: usize, mut f: impl FnMut() -> usize) {
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        n = f();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("{n}");
    if runs > 1 {
        times.sort_by(f64::total_cmp);
        eprintln!(
            "{what} of {n}: min {:.1} ms, median {:.1} ms ({runs} runs, one process)",
            times[0],
            times[times.len() / 2]
        );
    }
}

fn scan(runs: usize) {
    let mut diag = SockDiag::open().expect("sock_diag");
    timed("sock_diag scan", runs, || {
        let mut n = 0usize;
        diag.for_each(Protocol::Tcp, ALL_STATES, |_| n += 1)
            .expect("dump");
        n
    });
}

fn ctdump(runs: usize) {
    let mut ct = ConntrackClient::open().expect("ctnetlink");
    timed("ctnetlink dump", runs, || {
        let mut n = 0usize;
        ct.for_each(|_| n += 1).expect("dump");
        n
    });
}

fn hold(server: &str, client: &str, n: usize, port: u16) {
    let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), port);
    let listener = run_in_named(server, || {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        s.bind(&SockAddr::from(to)).unwrap();
        s.listen(65535).unwrap();
        TcpListener::from(s)
    });
    let acceptor = std::thread::spawn(move || {
        let mut held = Vec::with_capacity(n);
        while held.len() < n {
            held.push(listener.accept().expect("accept").0);
        }
        held
    });
    let start = Instant::now();
    let clients: Vec<TcpStream> = run_in_named(client, || {
        (0..n)
            .map(|i| {
                let from = IpAddr::V4(Ipv4Addr::new(
                    198,
                    51,
                    100,
                    10 + (i % SOURCES as usize) as u8,
                ));
                let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
                s.bind(&SockAddr::from(SocketAddr::new(from, 0))).unwrap();
                s.connect(&SockAddr::from(to))
                    .unwrap_or_else(|e| panic!("connection {i}: {e}"));
                TcpStream::from(s)
            })
            .collect()
    });
    let accepted = acceptor.join().unwrap();
    eprintln!(
        "{} connections held in {:.1} s",
        clients.len(),
        start.elapsed().as_secs_f64()
    );
    println!("ready {}", accepted.len());
    // Hold until the script closes our standard input.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop((clients, accepted));
}

/// N UDP entries 192.0.2.0/24 → 203.0.113.0/24, distinct by address and port.
fn fill(n: usize) {
    let start = Instant::now();
    let mut ct = ConntrackClient::open().expect("ctnetlink");
    let batch = 10_000;
    let mut done = 0;
    while done < n {
        let entries: Vec<Conntrack> = (done..(done + batch).min(n))
            .map(|i| {
                let i = i as u32;
                let src = Ipv4Addr::new(192, 0, 2, (i % 251) as u8 + 1);
                let dst = Ipv4Addr::new(203, 0, 113, ((i / 251) % 251) as u8 + 1);
                let sport = 1024 + (i / (251 * 251)) as u16;
                let orig = Tuple::ports(src.into(), sport, dst.into(), 53, 17);
                Conntrack {
                    orig: Some(orig),
                    reply: Some(orig.reversed()),
                    timeout: Some(3600),
                    ..Conntrack::default()
                }
            })
            .collect();
        ct.create(&entries)
            .unwrap_or_else(|(i, e)| panic!("entry {}: {e}", done + i));
        done += entries.len();
    }
    eprintln!(
        "{n} conntrack entries created in {:.2} s",
        start.elapsed().as_secs_f64()
    );
}
