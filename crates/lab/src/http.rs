//! Real HTTP in the lab: a paced client loop that measures what a legit
//! client sees ([`http_load`] → [`HttpReport`]: successes, failures by kind,
//! latency percentiles), also the engine of the HTTP flood; and a small
//! server ([`HttpServer`]) answering every GET with a fixed page, for labs
//! and tests that need something serving on the server's port 80.
//!
//! Both run in the network namespace of the thread that calls them (their
//! worker threads inherit it), so run them on a thread that entered a lab
//! namespace ([`crate::Lab::http_load`], [`crate::Lab::serve_http`]).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use crate::addr::check_documentation;
use crate::cmd::invalid;
use crate::flood::{Pacer, MAX_DURATION, MAX_PACKETS, MAX_RATE};

/// How long one request may take, connect to last byte, before it counts as
/// a timeout: a person waits about that long before giving up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Most client threads: enough for `rate × timeout` requests in flight at
/// the rates a lab measures legit clients at; bounds threads.
const MAX_WORKERS: u64 = 256;
/// Longest response read: the lab server's page is a few bytes.
const MAX_RESPONSE: usize = 1 << 20;
/// Longest request the server reads (headers only).
const MAX_REQUEST: usize = 8 * 1024;
/// Most connections the server handles at once, one thread each; beyond
/// it, new connections are closed at once (a bound on threads).
const SERVER_MAX_CONNS: usize = 4096;
/// Stack of a server connection thread: it holds a 1 KiB buffer.
const SERVER_STACK: usize = 64 * 1024;
/// How long the server waits for a request on an accepted connection (as
/// web servers do, e.g. nginx's `client_header_timeout` of 60 s): a connect
/// flood's silent connections stay open, and counted, that long.
const SERVER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the server's accept loop looks at its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(100);
/// The page the lab server serves.
const PAGE: &str = "rampart lab server\n";

/// A paced HTTP client loop: GET `/` on a new connection per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLoad {
    /// The server.
    pub dst: SocketAddr,
    /// Requests per second.
    pub rate: u64,
    /// How long to send requests.
    pub duration: Duration,
    /// Stop after this many; `None`: rate × duration.
    pub count: Option<u64>,
    /// Per-request time limit.
    pub timeout: Duration,
}

/// Latency percentiles of the successful requests, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// What the client loop saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpReport {
    /// The server.
    pub target: SocketAddr,
    /// Requests started.
    pub requests: u64,
    /// Answered with a 2xx or 3xx status in time.
    pub ok: u64,
    /// Everything else.
    pub failed: u64,
    /// Failures by kind (`timeout`, `refused`, `reset`, `status 503`, …).
    pub failures: BTreeMap<String, u64>,
    /// `ok / requests` (1 when nothing was asked).
    pub success_rate: f64,
    /// Seconds from the first request to the end of the last.
    pub elapsed_secs: f64,
    /// `requests / elapsed_secs`.
    pub rate_achieved: f64,
    /// Of the successful requests.
    pub latency_ms: Latency,
}

impl HttpLoad {
    fn total(&self) -> u64 {
        let by_time = u128::from(self.rate) * self.duration.as_millis() / 1000;
        let by_time = u64::try_from(by_time).unwrap_or(u64::MAX).max(1);
        self.count.map_or(by_time, |c| c.min(by_time))
    }

    /// Refuse rates, durations and timeouts beyond the caps, and
    /// non-documentation servers.
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
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(30) {
            return Err(invalid(format!(
                "--timeout {:?}: give more than 0 and at most 30 seconds",
                self.timeout
            )));
        }
        if self.total() > MAX_PACKETS {
            return Err(invalid(format!(
                "{} requests: at most {MAX_PACKETS}",
                self.total()
            )));
        }
        check_documentation(self.dst.ip())
    }
}

/// One request's result.
enum Outcome {
    Ok(Duration),
    Failed(String),
}

/// Run the client loop from the calling thread's namespace: request `i` is
/// started at `i / rate` seconds (by whichever worker is free), so a slow
/// server shows as latency and failures, not as a lower request rate, as
/// long as `rate × timeout` requests fit in the workers.
pub fn http_load(load: &HttpLoad) -> io::Result<HttpReport> {
    load.check()?;
    let total = load.total();
    let pacer = Pacer::new(load.rate, total);
    let in_flight = u128::from(load.rate) * load.timeout.as_millis() / 1000 + 1;
    let workers = u64::try_from(in_flight)
        .unwrap_or(MAX_WORKERS)
        .clamp(1, MAX_WORKERS)
        .min(total);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + load.duration;
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let next = next.clone();
            let load = load.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let due = start + pacer.at(i);
                    if due >= deadline {
                        break;
                    }
                    thread::sleep(due.saturating_duration_since(Instant::now()));
                    out.push(get(load.dst, load.timeout));
                }
                out
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for h in handles {
        outcomes.extend(
            h.join()
                .map_err(|_| io::Error::other("an HTTP client thread panicked"))?,
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    let mut failures = BTreeMap::new();
    for o in &outcomes {
        match o {
            Outcome::Ok(d) => latencies.push(d.as_secs_f64() * 1000.0),
            Outcome::Failed(kind) => *failures.entry(kind.clone()).or_insert(0) += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let idx = ((latencies.len() - 1) as f64 * p).round() as usize;
        latencies[idx]
    };
    let requests = outcomes.len() as u64;
    let ok = latencies.len() as u64;
    Ok(HttpReport {
        target: load.dst,
        requests,
        ok,
        failed: requests - ok,
        failures,
        success_rate: if requests == 0 {
            1.0
        } else {
            ok as f64 / requests as f64
        },
        elapsed_secs: elapsed,
        rate_achieved: if elapsed > 0.0 {
            requests as f64 / elapsed
        } else {
            0.0
        },
        latency_ms: Latency {
            p50: pct(0.5),
            p90: pct(0.9),
            p99: pct(0.99),
            max: latencies.last().copied().unwrap_or(0.0),
        },
    })
}

/// One GET on a new connection, timed from connect to the end of the response.
fn get(dst: SocketAddr, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let fail = |e: io::Error| Outcome::Failed(error_kind(&e));
    let mut s = match TcpStream::connect_timeout(&dst, timeout) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let left = timeout
        .saturating_sub(start.elapsed())
        .max(Duration::from_millis(1));
    if let Err(e) = s
        .set_read_timeout(Some(left))
        .and_then(|()| s.set_write_timeout(Some(left)))
    {
        return fail(e);
    }
    let host = match dst {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rampart-lab\r\nConnection: close\r\n\r\n"
    );
    if let Err(e) = s.write_all(req.as_bytes()) {
        return fail(e);
    }
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if start.elapsed() >= timeout {
            return Outcome::Failed("timeout".into());
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                resp.extend_from_slice(&buf[..n]);
                if resp.len() > MAX_RESPONSE {
                    return Outcome::Failed("response too long".into());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return fail(e),
        }
    }
    match status_of(&resp) {
        Some(code) if (200..400).contains(&code) => Outcome::Ok(start.elapsed()),
        Some(code) => Outcome::Failed(format!("status {code}")),
        None => Outcome::Failed("bad response".into()),
    }
}

/// The status code of an `HTTP/1.x NNN ...` response.
fn status_of(resp: &[u8]) -> Option<u16> {
    let line = resp.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut f = line.split_whitespace();
    if !f.next()?.starts_with("HTTP/1.") {
        return None;
    }
    f.next()?.parse().ok()
}

fn error_kind(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timeout".into(),
        io::ErrorKind::ConnectionRefused => "refused".into(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => "reset".into(),
        _ => match e.raw_os_error() {
            Some(code) => format!("os error {code}"),
            None => e.kind().to_string(),
        },
    }
}

/// A small HTTP server: every request gets `200 OK` and a one-line page,
/// then the connection is closed. Stops (and joins its threads) when
/// dropped.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Listen on `addr` (e.g. `[::]:80`, which also takes IPv4) in the
    /// calling thread's namespace, with a backlog of 4096.
    pub fn start(addr: SocketAddr) -> io::Result<HttpServer> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_reuse_address(true)?;
        if addr.is_ipv6() {
            sock.set_only_v6(false)?;
        }
        sock.bind(&addr.into())?;
        sock.listen(4096)?;
        // accept(2) honours SO_RCVTIMEO: the loop sees the stop flag.
        sock.set_read_timeout(Some(ACCEPT_POLL))?;
        let addr = sock.local_addr()?.as_socket().unwrap_or(addr);
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let live = Arc::new(AtomicUsize::new(0));
        let (stop_a, served_a) = (stop.clone(), served.clone());
        let accept = thread::spawn(move || {
            let mut handlers = Vec::new();
            while !stop_a.load(Ordering::Relaxed) {
                let conn = match sock.accept() {
                    Ok((conn, _)) => conn,
                    // The accept timeout: look at the stop flag again.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue;
                    }
                    // Out of descriptors or memory: wait a little rather than spin.
                    Err(_) => {
                        thread::sleep(ACCEPT_POLL);
                        continue;
                    }
                };
                handlers.retain(|h: &thread::JoinHandle<()>| !h.is_finished());
                if live.load(Ordering::Relaxed) >= SERVER_MAX_CONNS {
                    continue; // dropped: closed at once
                }
                live.fetch_add(1, Ordering::Relaxed);
                let (live_c, served, stop) = (live.clone(), served_a.clone(), stop_a.clone());
                let spawned = thread::Builder::new()
                    .stack_size(SERVER_STACK)
                    .spawn(move || {
                        if answer(conn, &stop).is_ok() {
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        live_c.fetch_sub(1, Ordering::Relaxed);
                    });
                match spawned {
                    Ok(h) => handlers.push(h),
                    Err(_) => {
                        live.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
            for h in handlers {
                let _ = h.join();
            }
        });
        let threads = vec![accept];
        Ok(HttpServer {
            addr,
            stop,
            served,
            threads,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// How often a waiting connection looks at the stop flag.
const SERVER_POLL: Duration = Duration::from_millis(200);

/// Read one request's headers (bounded, at most [`SERVER_READ_TIMEOUT`],
/// or until the server stops) and answer it.
fn answer(conn: Socket, stop: &AtomicBool) -> io::Result<()> {
    let mut s = TcpStream::from(conn);
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(SERVER_POLL))?;
    s.set_write_timeout(Some(SERVER_READ_TIMEOUT))?;
    let start = Instant::now();
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = match s.read(&mut buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::Relaxed) || start.elapsed() >= SERVER_READ_TIMEOUT {
                    return Err(e);
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        req.extend_from_slice(&buf[..n]);
        if req.len() > MAX_REQUEST {
            s.write_all(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n",
            )?;
            return Err(invalid("request too long".into()));
        }
    }
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{PAGE}",
        PAGE.len()
    );
    s.write_all(resp.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\n\r\n"), Some(200));
        assert_eq!(status_of(b"HTTP/1.0 503 Busy\r\n"), Some(503));
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_of(b""), None);
    }

    #[test]
    fn load_limits() {
        let ok = HttpLoad {
            dst: "203.0.113.10:80".parse().unwrap(),
            rate: 10,
            duration: Duration::from_secs(1),
            count: None,
            timeout: DEFAULT_TIMEOUT,
        };
        assert!(ok.check().is_ok());
        assert_eq!(ok.total(), 10);
        let mut bad = ok.clone();
        bad.dst = "127.0.0.1:80".parse().unwrap();
        assert!(bad.check().is_err());
        let mut bad = ok.clone();
        bad.timeout = Duration::from_secs(31);
        assert!(bad.check().is_err());
    }
}
