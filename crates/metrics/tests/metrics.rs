//! `/metrics` served over real TCP on loopback, scraped and parsed back.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rampart_metrics::{parse, scrape, MetricKind, MetricsServer, Registry, MAX_REQUEST};

const TIMEOUT: Duration = Duration::from_secs(5);

fn start(registry: &Registry) -> MetricsServer {
    MetricsServer::start(registry.clone(), "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// Sends raw bytes, returns the whole answer.
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut c = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    c.set_read_timeout(Some(TIMEOUT)).unwrap();
    // The server may answer (and close) before all of an oversized request is written.
    let _ = c.write_all(request);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn scrape_parses_back_names_labels_values_buckets() {
    let registry = Registry::new();
    let bans = registry.counter(
        "rampart_bans_total",
        "Bans decided, by reason.",
        &["reason"],
    );
    let active = registry.gauge("rampart_bans_active", "Bans in force.", &[]);
    let latency = registry.histogram(
        "rampart_detection_seconds",
        "From observation to ban.",
        &["source"],
        &[0.01, 0.1, 1.0],
    );
    // Updates from several threads: atomics, no lost increments.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    bans.with(&["sshd"]).inc();
                }
            });
        }
    });
    bans.with(&["connections \"80\""]).add(7);
    active.set(12.0);
    active.add(-2.0);
    let log = latency.with(&["log"]);
    for v in [0.005, 0.05, 0.05, 0.5, 3.0] {
        log.observe(v);
    }
    let server = start(&registry);

    let text = scrape(server.local_addr(), TIMEOUT).unwrap();
    let s = parse(&text).unwrap();
    assert_eq!(s.types["rampart_bans_total"], MetricKind::Counter);
    assert_eq!(s.types["rampart_bans_active"], MetricKind::Gauge);
    assert_eq!(s.types["rampart_detection_seconds"], MetricKind::Histogram);
    assert_eq!(s.help["rampart_bans_total"], "Bans decided, by reason.");
    assert_eq!(
        s.value("rampart_bans_total", &[("reason", "sshd")]),
        Some(4000.0)
    );
    assert_eq!(
        s.value("rampart_bans_total", &[("reason", "connections \"80\"")]),
        Some(7.0)
    );
    assert_eq!(s.value("rampart_bans_active", &[]), Some(10.0));
    let bucket = |le| {
        s.value(
            "rampart_detection_seconds_bucket",
            &[("source", "log"), ("le", le)],
        )
    };
    assert_eq!(
        [bucket("0.01"), bucket("0.1"), bucket("1"), bucket("+Inf")],
        [Some(1.0), Some(3.0), Some(4.0), Some(5.0)]
    );
    assert_eq!(
        s.value("rampart_detection_seconds_count", &[("source", "log")]),
        Some(5.0)
    );
    let sum = s
        .value("rampart_detection_seconds_sum", &[("source", "log")])
        .unwrap();
    assert!((sum - 3.605).abs() < 1e-9, "{sum}");

    // A later scrape sees later values: the exposition is rendered per request.
    bans.with(&["sshd"]).inc();
    let s = parse(&scrape(server.local_addr(), TIMEOUT).unwrap()).unwrap();
    assert_eq!(
        s.value("rampart_bans_total", &[("reason", "sshd")]),
        Some(4001.0)
    );
    server.stop();
}

#[test]
fn only_get_metrics_is_answered() {
    let registry = Registry::new();
    registry.counter("x_total", "X.", &[]).inc();
    let server = start(&registry);
    let addr = server.local_addr();

    let ok = raw(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(
        ok.contains("Content-Type: text/plain; version=0.0.4"),
        "{ok}"
    );
    assert!(ok.ends_with("x_total 1\n"), "{ok}");

    let other = raw(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(other.starts_with("HTTP/1.1 404 "), "{other}");
    let post = raw(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    assert!(post.contains("Allow: GET\r\n"), "{post}");
    let junk = raw(addr, b"\x16\x03\x01 hello\r\n\r\n");
    assert!(junk.starts_with("HTTP/1.1 400 "), "{junk}");

    // A request that never ends is cut at MAX_REQUEST bytes.
    let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    big.resize(MAX_REQUEST * 2, b'a');
    let big = raw(addr, &big);
    assert!(big.starts_with("HTTP/1.1 431 "), "{big}");

    // Still serving after all that.
    assert!(scrape(addr, TIMEOUT).unwrap().contains("x_total 1"));
    server.stop();
    // Stopped: the port no longer answers.
    assert!(scrape(addr, TIMEOUT).is_err());
}
