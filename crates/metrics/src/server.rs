//! `GET /metrics` over HTTP/1.x on a std `TcpListener` thread.
//!
//! DoS note: connections are answered one at a time, each bounded to [`MAX_REQUEST`] bytes
//! and [`IO_TIMEOUT`] per read or write, so a client that trickles its request holds the
//! endpoint for at most a few seconds and never costs memory. Bind it to a local address
//! (the default is loopback): it is meant for a local Prometheus or an SSH tunnel.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::registry::Registry;

/// Bytes of request (line and headers) read at most; a scrape's is about 200.
pub const MAX_REQUEST: usize = 8 << 10;

/// Limit on each read and write of one connection, and on a whole request's arrival.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The `/metrics` endpoint: a thread answering scrapes with the registry's exposition.
/// Dropping it (or [`MetricsServer::stop`]) stops the thread and closes the socket.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free one) and serves `registry` from a new thread.
    ///
    /// # Errors
    /// When the address cannot be bound (in use, not local, no permission).
    pub fn start(registry: Registry, addr: SocketAddr) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rampart-metrics".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if flag.load(Ordering::Acquire) {
                        break;
                    }
                    // A failed accept (a reset before accept, out of descriptors) concerns
                    // one client; the next scrape is answered.
                    if let Ok(conn) = conn {
                        let _ = answer(conn, &registry);
                    }
                }
            })?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address (with the port chosen when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops answering and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        if TcpStream::connect_timeout(&wake, IO_TIMEOUT).is_ok() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn answer(mut conn: TcpStream, registry: &Registry) -> io::Result<()> {
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let complete = loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        if buf.len() >= MAX_REQUEST || Instant::now() >= deadline {
            break false;
        }
        match conn.read(&mut chunk) {
            Ok(0) => break false,
            Ok(n) => buf.extend_from_slice(&chunk[..n.min(MAX_REQUEST - buf.len())]),
            Err(_) => break false,
        }
    };
    let (status, body) = if !complete {
        if buf.len() >= MAX_REQUEST {
            (
                "431 Request Header Fields Too Large",
                String::from("request too large\n"),
            )
        } else {
            ("400 Bad Request", String::from("incomplete request\n"))
        }
    } else {
        let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut parts = line.split_ascii_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some("GET"), Some(path), Some(v)) if v.starts_with("HTTP/1.") => {
                if path == "/metrics" || path.starts_with("/metrics?") {
                    ("200 OK", registry.render())
                } else {
                    (
                        "404 Not Found",
                        String::from("only /metrics is served here\n"),
                    )
                }
            }
            (Some(_), Some(_), Some(v)) if v.starts_with("HTTP/1.") => (
                "405 Method Not Allowed",
                String::from("only GET /metrics\n"),
            ),
            _ => ("400 Bad Request", String::from("not an HTTP/1 request\n")),
        }
    };
    let allow = if status.starts_with("405") {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    conn.flush()?;
    let _ = conn.shutdown(Shutdown::Write);
    Ok(())
}

/// Why [`scrape`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScrapeError {
    /// Connecting, writing or reading failed.
    #[error("scraping {addr}: {source}")]
    Io {
        /// The endpoint.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
    /// The answer was not `200 OK` with a body.
    #[error("scraping {addr}: unexpected answer `{status}`")]
    Status {
        /// The endpoint.
        addr: SocketAddr,
        /// The status line (at most 80 characters).
        status: String,
    },
}

/// Fetches `GET /metrics` from `addr` (the lab and tests check the guard this way);
/// the answer is bounded to [`crate::MAX_EXPOSITION`] bytes.
///
/// # Errors
/// When the endpoint cannot be reached or does not answer `200`.
pub fn scrape(addr: SocketAddr, timeout: Duration) -> Result<String, ScrapeError> {
    let io = |source| ScrapeError::Io { addr, source };
    let mut conn = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    conn.set_read_timeout(Some(timeout)).map_err(io)?;
    conn.set_write_timeout(Some(timeout)).map_err(io)?;
    conn.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(io)?;
    let mut raw = Vec::new();
    conn.take(crate::MAX_EXPOSITION as u64 + MAX_REQUEST as u64)
        .read_to_end(&mut raw)
        .map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") && !status.starts_with("HTTP/1.0 200") {
        return Err(ScrapeError::Status {
            addr,
            status: status.chars().take(80).collect(),
        });
    }
    Ok(body.to_owned())
}
