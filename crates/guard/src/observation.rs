//! What the observers report to the core: typed, stamped with the time they were seen.

use std::net::IpAddr;

use serde::Serialize;

/// Which log a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogSource {
    /// OpenSSH's sshd.
    Sshd,
    /// An nginx or Apache access log.
    WebAccess,
    /// An nginx or Apache error log.
    WebError,
}

/// Connections one source holds at the moment of a socket snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceCount {
    /// The remote address (IPv4-mapped addresses as IPv4).
    pub addr: IpAddr,
    /// The local port they are connected to.
    pub port: u16,
    /// ESTABLISHED sockets.
    pub established: u32,
    /// SYN_RECV (half-open) sockets.
    pub syn_recv: u32,
}

/// One thing an observer saw. Observers stamp nothing themselves: the runtime passes the
/// time it read them as `now` beside each observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "observation", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Observation {
    /// A log line that is an event against an address (lines naming a host name, or no
    /// address, never reach the core: the guard bans addresses only).
    Log {
        /// Which log.
        source: LogSource,
        /// What happened (`rampart_logs::EventKind`).
        #[serde(serialize_with = "kind_name")]
        kind: rampart_logs::EventKind,
        /// The client address.
        addr: IpAddr,
        /// The line, escaped and cut to a bounded length, as evidence.
        line: String,
    },
    /// A socket snapshot (sock_diag): inbound connections per source and local port,
    /// only sources holding at least one (a snapshot replaces the previous one).
    Sockets {
        /// Per source and port.
        counts: Vec<SourceCount>,
    },
    /// A new inbound connection (conntrack NEW event).
    NewConnection {
        /// Its source.
        addr: IpAddr,
        /// Its destination port.
        port: u16,
    },
    /// The kernel banned a source by itself (a `[flood]` limit, reported over NFLOG).
    KernelBan {
        /// The source.
        addr: IpAddr,
        /// The `[[flood.limit]]` that banned it.
        limit: String,
        /// How long the kernel holds it, in seconds.
        ban_secs: u32,
    },
}

fn kind_name<S: serde::Serializer>(k: &rampart_logs::EventKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}
