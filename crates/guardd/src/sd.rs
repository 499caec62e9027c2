//! systemd's notify protocol (`Type=notify`, `WatchdogSec=`): one datagram to
//! `$NOTIFY_SOCKET` per message, written here rather than with a crate (it is a dozen lines).

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where systemd listens, if the daemon runs under it.
#[derive(Debug)]
pub struct Notify {
    socket: UnixDatagram,
    addr: std::os::unix::net::SocketAddr,
}

impl Notify {
    /// From the environment (`NOTIFY_SOCKET`: a path, or `@name` in the abstract
    /// namespace); `None` outside systemd.
    pub fn from_env() -> Option<Notify> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let path = path.to_str()?;
        let addr = if let Some(name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?
        } else {
            std::os::unix::net::SocketAddr::from_pathname(path).ok()?
        };
        let socket = UnixDatagram::unbound().ok()?;
        Some(Notify { socket, addr })
    }

    /// Sends `state` (`READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=…`); errors are
    /// ignored, as systemd's own sd_notify does for its callers that do not check.
    pub fn send(&self, state: &str) {
        let _ = self.socket.send_to_addr(state.as_bytes(), &self.addr);
    }
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC` (systemd's advice), if it is
/// set for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_the_socket() {
        let dir = std::env::temp_dir().join(format!("rampart-sd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notify {
            socket: UnixDatagram::unbound().unwrap(),
            addr: std::os::unix::net::SocketAddr::from_pathname(&path).unwrap(),
        };
        n.send("READY=1");
        let mut buf = [0u8; 64];
        let got = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..got], b"READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
