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

/// The longest log line kept as evidence, in bytes before escaping.
pub const MAX_EVIDENCE_LINE: usize = 240;

impl LogSource {
    /// The kind of log a parser reads.
    pub fn of(source: rampart_logs::Source) -> LogSource {
        use rampart_logs::Source as S;
        match source {
            S::Sshd => LogSource::Sshd,
            S::NginxAccess | S::ApacheAccess => LogSource::WebAccess,
            S::NginxError | S::ApacheError => LogSource::WebError,
            // A parser added to rampart-logs later: web error logs are the safe guess
            // (refusals only, never counted as requests).
            _ => LogSource::WebError,
        }
    }
}

impl Observation {
    /// The observation one log line makes, if any: its event's address as the parser
    /// found it (anchored on what the daemon wrote: never a user name's or a request's
    /// text), the line escaped and cut as evidence. Lines that are no event, not
    /// understood, or that name a host instead of an address make none.
    pub fn from_log(source: rampart_logs::Source, line: &[u8]) -> Option<Observation> {
        let parsed = source.parse(line);
        let event = parsed.event()?;
        let addr = event.addr()?;
        Some(Observation::Log {
            source: LogSource::of(source),
            kind: event.kind,
            addr: rampart_prefix::unmap_addr(addr),
            line: rampart_logs::escape(line, MAX_EVIDENCE_LINE),
        })
    }
}
