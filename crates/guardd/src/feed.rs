//! The observers, one thread each: they read the kernel and the logs and send
//! [`Observation`]s, stamped with the time they were read, to the daemon's loop over one
//! bounded channel (a flood blocks an observer, it never grows memory: the kernel then
//! drops events and counts them lost).

use std::collections::{HashMap, HashSet};
use std::io::BufReader;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart_guard::{LogSource, Observation, SourceCount};
use rampart_logs::{escape, Journal, JournalEntry, Line, Position, Source, Start};
use rampart_nfnl::{
    ConntrackEvents, CtEventKind, CtGroups, NflogListener, Protocol, SockDiag, TcpState, ALL_STATES,
};

/// Bytes of a log line kept as evidence.
pub const EVIDENCE_BYTES: usize = 240;
/// How often a log file is polled for new lines.
pub const LOG_POLL: Duration = Duration::from_millis(100);
/// How long a kernel observer waits before it looks at the stop flag again.
const RECV_WAIT: Duration = Duration::from_millis(200);

/// What an observer sends to the loop.
#[derive(Debug)]
pub enum Msg {
    /// Something seen, when it was read (for the reaction-time histogram) and its time
    /// in seconds since the epoch.
    Seen {
        /// The observation.
        obs: Observation,
        /// Seconds since the epoch.
        now: u64,
        /// When it was read.
        at: Instant,
    },
    /// An observer's position after the observations sent before it (saved once they
    /// are decided).
    Position {
        /// The observer (`file:/var/log/auth.log`, `journal:ssh.service`).
        observer: String,
        /// Its position, as text.
        position: String,
    },
    /// Counters of lines read.
    Lines {
        /// Lines read.
        read: u64,
        /// Lines not understood.
        not_understood: u64,
    },
    /// A socket snapshot was taken: sockets seen.
    Scanned {
        /// Sockets in the snapshot.
        sockets: u64,
    },
    /// An observer failed (it keeps trying where it can); said in the log.
    Trouble(String),
    /// Something worth a line in the log (the fleet connected).
    Note(String),
    /// Changes read from the fleet, to enforce in order.
    Fleet(crate::fleet::FleetBatch),
}

/// A log file to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFeed {
    /// The file.
    pub path: PathBuf,
    /// Its kind.
    pub source: Source,
}

/// A journal unit to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalFeed {
    /// The unit (`ssh.service`).
    pub unit: String,
    /// The kind of its messages.
    pub source: Source,
}

/// What the daemon watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feeds {
    /// Log files.
    pub logs: Vec<LogFeed>,
    /// Journal units.
    pub journals: Vec<JournalFeed>,
    /// Socket snapshots (sock_diag) this often; `None`: off.
    pub sockets: Option<Duration>,
    /// Conntrack NEW events.
    pub conntrack: bool,
    /// The NFLOG group of the kernel's `[flood]` bans; `None`: off.
    pub nflog_group: Option<u16>,
    /// Each `[flood]` limit's ban time in seconds (a kernel ban's expiry).
    pub kernel_ban_secs: HashMap<String, u32>,
    /// The ban time of a limit missing from `kernel_ban_secs`.
    pub default_kernel_ban_secs: u32,
    /// Where a log file without a saved position is read from.
    pub start: Start,
}

impl Feeds {
    /// In words, for the start-up line: `sockets every 500 ms, conntrack, NFLOG group 5,
    /// /var/log/auth.log (sshd)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = self.sockets {
            parts.push(format!("sockets every {} ms", d.as_millis()));
        }
        if self.conntrack {
            parts.push("conntrack".to_string());
        }
        if let Some(g) = self.nflog_group {
            parts.push(format!("kernel bans on NFLOG group {g}"));
        }
        for l in &self.logs {
            parts.push(format!("{} ({})", l.path.display(), l.source));
        }
        for j in &self.journals {
            parts.push(format!("journal {} ({})", j.unit, j.source));
        }
        if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join(", ")
        }
    }
}

impl Default for Feeds {
    fn default() -> Feeds {
        Feeds {
            logs: Vec::new(),
            journals: Vec::new(),
            sockets: Some(Duration::from_millis(500)),
            conntrack: true,
            nflog_group: Some(5),
            kernel_ban_secs: HashMap::new(),
            default_kernel_ban_secs: 3600,
            start: Start::End,
        }
    }
}

/// The name under which a log file's position is saved.
pub fn file_observer(path: &std::path::Path) -> String {
    format!("file:{}", path.display())
}

/// The name under which a journal unit's cursor is saved.
pub fn journal_observer(unit: &str) -> String {
    format!("journal:{unit}")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What one log line gives the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineObservation {
    /// An event against an address.
    Seen(Observation),
    /// Nothing to count (no event, or an event naming a host name, not an address).
    Nothing,
    /// Not understood (counted).
    NotUnderstood,
}

/// The observation of an event line, if it names an address.
pub fn log_observation(source: Source, line: &[u8]) -> LineObservation {
    match source.parse(line) {
        rampart_logs::Parsed::Event(e) => match e.addr() {
            Some(addr) => LineObservation::Seen(Observation::Log {
                source: log_source(source),
                kind: e.kind,
                addr,
                line: escape(line, EVIDENCE_BYTES),
            }),
            None => LineObservation::Nothing,
        },
        rampart_logs::Parsed::NotEvent => LineObservation::Nothing,
        rampart_logs::Parsed::NotUnderstood(_) => LineObservation::NotUnderstood,
    }
}

fn log_source(s: Source) -> LogSource {
    match s {
        Source::Sshd => LogSource::Sshd,
        Source::NginxAccess | Source::ApacheAccess => LogSource::WebAccess,
        _ => LogSource::WebError,
    }
}

/// The running observer threads; [`Observers::stop`] ends them.
pub struct Observers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    children: Vec<Arc<std::sync::Mutex<Option<Child>>>>,
}

impl Observers {
    /// Starts one thread per feed; `positions` are the saved positions by observer name.
    pub fn start(
        feeds: &Feeds,
        positions: &HashMap<String, String>,
        tx: SyncSender<Msg>,
    ) -> std::io::Result<Observers> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut o = Observers {
            stop: stop.clone(),
            threads: Vec::new(),
            children: Vec::new(),
        };
        for feed in &feeds.logs {
            let name = file_observer(&feed.path);
            let saved = positions
                .get(&name)
                .and_then(|p| serde_json::from_str::<Position>(p).ok());
            let (feed, tx, stop) = (feed.clone(), tx.clone(), stop.clone());
            let thread = name.clone();
            let start = feeds.start;
            o.spawn(&thread, move || {
                follow_file(feed, saved, start, name, tx, stop)
            })?;
        }
        for feed in &feeds.journals {
            let name = journal_observer(&feed.unit);
            let after = positions.get(&name).cloned().map(rampart_logs::Cursor);
            let slot = Arc::new(std::sync::Mutex::new(None));
            o.children.push(slot.clone());
            let (feed, tx, stop) = (feed.clone(), tx.clone(), stop.clone());
            let thread = name.clone();
            o.spawn(&thread, move || {
                follow_journal(feed, after, name, tx, stop, slot)
            })?;
        }
        if let Some(every) = feeds.sockets {
            let (tx, stop) = (tx.clone(), stop.clone());
            o.spawn("sockets", move || scan_sockets(every, tx, stop))?;
        }
        if feeds.conntrack {
            let (tx, stop) = (tx.clone(), stop.clone());
            o.spawn("conntrack", move || conntrack_new(tx, stop))?;
        }
        if let Some(group) = feeds.nflog_group {
            // Bound here, so that a group another program holds fails the start.
            let listener = NflogListener::bind(group)
                .map_err(|e| std::io::Error::other(format!("binding NFLOG group {group}: {e}")))?;
            let bans = (feeds.kernel_ban_secs.clone(), feeds.default_kernel_ban_secs);
            let (tx, stop) = (tx.clone(), stop.clone());
            o.spawn("nflog", move || kernel_bans(listener, bans, tx, stop))?;
        }
        Ok(o)
    }

    fn spawn(&mut self, name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let t = std::thread::Builder::new()
            .name(format!("guard {name}"))
            .spawn(f)?;
        self.threads.push(t);
        Ok(())
    }

    /// Stops every observer and waits for it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for slot in &self.children {
            if let Some(child) = slot.lock().ok().and_then(|mut c| c.take()) {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Sends `m`; false when the loop is gone.
fn send(tx: &SyncSender<Msg>, m: Msg) -> bool {
    tx.send(m).is_ok()
}

fn follow_file(
    feed: LogFeed,
    saved: Option<Position>,
    start: Start,
    name: String,
    tx: SyncSender<Msg>,
    stop: Arc<AtomicBool>,
) {
    let mut follower = loop {
        match rampart_logs::Follower::open(&feed.path, saved.as_ref(), start) {
            Ok(f) => break f,
            Err(e) => {
                let _ = send(
                    &tx,
                    Msg::Trouble(format!("cannot open {}: {e}", feed.path.display())),
                );
                if sleep_or_stop(&stop, Duration::from_secs(5)) {
                    return;
                }
            }
        }
    };
    let mut last = follower.position();
    let mut complained = false;
    while !stop.load(Ordering::Relaxed) {
        let mut batch = Vec::new();
        let (mut read, mut bad) = (0u64, 0u64);
        let now = now_secs();
        let at = Instant::now();
        let polled = follower.poll(|line| {
            read += 1;
            match line {
                Line::Text(t) => match log_observation(feed.source, t) {
                    LineObservation::Seen(obs) => batch.push(obs),
                    LineObservation::Nothing => {}
                    LineObservation::NotUnderstood => bad += 1,
                },
                Line::Overlong(_) => bad += 1,
            }
        });
        match polled {
            Ok(_) => complained = false,
            Err(e) if !complained => {
                complained = true;
                let _ = send(
                    &tx,
                    Msg::Trouble(format!("reading {}: {e}", feed.path.display())),
                );
            }
            Err(_) => {}
        }
        for obs in batch {
            if !send(&tx, Msg::Seen { obs, now, at }) {
                return;
            }
        }
        if read > 0 {
            let _ = send(
                &tx,
                Msg::Lines {
                    read,
                    not_understood: bad,
                },
            );
        }
        let pos = follower.position();
        if pos != last {
            if let Some(p) = pos {
                let text = serde_json::to_string(&p).expect("a position serialises");
                if !send(
                    &tx,
                    Msg::Position {
                        observer: name.clone(),
                        position: text,
                    },
                ) {
                    return;
                }
            }
            last = pos;
        }
        if read == 0 {
            std::thread::sleep(LOG_POLL);
        }
    }
}

fn follow_journal(
    feed: JournalFeed,
    mut after: Option<rampart_logs::Cursor>,
    name: String,
    tx: SyncSender<Msg>,
    stop: Arc<AtomicBool>,
    slot: Arc<std::sync::Mutex<Option<Child>>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let journal = Journal {
            unit: feed.unit.clone(),
            after: after.clone(),
            follow: true,
        };
        let mut cmd = journal.command();
        if after.is_none() {
            // First start: only what is written from now on.
            cmd.args(["-n", "0"]);
        }
        let child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                let _ = send(&tx, Msg::Trouble(format!("cannot run journalctl: {e}")));
                if sleep_or_stop(&stop, Duration::from_secs(5)) {
                    return;
                }
                continue;
            }
        };
        let stdout = child.stdout.take().expect("piped");
        if let Ok(mut s) = slot.lock() {
            *s = Some(child);
        }
        let mut reader = rampart_logs::LineReader::with_max(
            BufReader::new(stdout).into_inner(),
            rampart_logs::MAX_JSON_LINE,
        );
        loop {
            let line = match reader.next_line() {
                Ok(Some(Line::Text(t))) => t.to_vec(),
                Ok(Some(Line::Overlong(_))) => continue,
                Ok(None) | Err(_) => break,
            };
            let Ok(entry) = JournalEntry::parse(&line) else {
                continue;
            };
            let now = now_secs();
            let at = Instant::now();
            let (read, bad) = match log_observation(feed.source, &entry.message) {
                LineObservation::Seen(obs) => {
                    if !send(&tx, Msg::Seen { obs, now, at }) {
                        return;
                    }
                    (1, 0)
                }
                LineObservation::Nothing => (1, 0),
                LineObservation::NotUnderstood => (1, 1),
            };
            let _ = send(
                &tx,
                Msg::Lines {
                    read,
                    not_understood: bad,
                },
            );
            let _ = send(
                &tx,
                Msg::Position {
                    observer: name.clone(),
                    position: entry.cursor.0.clone(),
                },
            );
            after = Some(entry.cursor);
        }
        if let Some(mut c) = slot.lock().ok().and_then(|mut s| s.take()) {
            let _ = c.kill();
            let _ = c.wait();
        }
        if sleep_or_stop(&stop, Duration::from_secs(1)) {
            return;
        }
    }
}

/// Sleeps `d` in small steps; true when asked to stop meanwhile.
fn sleep_or_stop(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
    stop.load(Ordering::Relaxed)
}

/// Inbound connections per source and local port from one scan: sockets whose local
/// port has a listener; IPv4-mapped sources as IPv4.
pub fn count_inbound(sockets: &[rampart_nfnl::InetSocket]) -> Vec<SourceCount> {
    let listening: HashSet<u16> = sockets
        .iter()
        .filter(|s| s.state == TcpState::Listen)
        .map(|s| s.local.port())
        .collect();
    let mut counts: HashMap<(IpAddr, u16), (u32, u32)> = HashMap::new();
    for s in sockets {
        let port = s.local.port();
        if !listening.contains(&port) || s.remote.ip().is_unspecified() {
            continue;
        }
        let addr = rampart_prefix::unmap_addr(s.remote.ip());
        let c = counts.entry((addr, port)).or_default();
        match s.state {
            TcpState::Established => c.0 += 1,
            TcpState::SynRecv | TcpState::NewSynRecv => c.1 += 1,
            _ => {}
        }
    }
    let mut out: Vec<SourceCount> = counts
        .into_iter()
        .filter(|(_, (e, s))| e + s > 0)
        .map(|((addr, port), (established, syn_recv))| SourceCount {
            addr,
            port,
            established,
            syn_recv,
        })
        .collect();
    out.sort_by_key(|c| (c.addr, c.port));
    out
}

fn scan_sockets(every: Duration, tx: SyncSender<Msg>, stop: Arc<AtomicBool>) {
    let mut diag = match SockDiag::open() {
        Ok(d) => d,
        Err(e) => {
            let _ = send(&tx, Msg::Trouble(format!("sock_diag: {e}")));
            return;
        }
    };
    let mut sockets = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        sockets.clear();
        let scanned = diag.for_each(Protocol::Tcp, ALL_STATES, |s| sockets.push(*s));
        match scanned {
            Ok(()) => {
                let counts = count_inbound(&sockets);
                let _ = send(
                    &tx,
                    Msg::Scanned {
                        sockets: sockets.len() as u64,
                    },
                );
                if !send(
                    &tx,
                    Msg::Seen {
                        obs: Observation::Sockets { counts },
                        now: now_secs(),
                        at: started,
                    },
                ) {
                    return;
                }
            }
            Err(e) => {
                let _ = send(&tx, Msg::Trouble(format!("sock_diag scan: {e}")));
            }
        }
        let spent = started.elapsed();
        if sleep_or_stop(&stop, every.saturating_sub(spent)) {
            return;
        }
    }
}

fn conntrack_new(tx: SyncSender<Msg>, stop: Arc<AtomicBool>) {
    let groups = CtGroups {
        new: true,
        update: false,
        destroy: false,
    };
    let mut events = match ConntrackEvents::subscribe(groups) {
        Ok(e) => e,
        Err(e) => {
            let _ = send(&tx, Msg::Trouble(format!("conntrack events: {e}")));
            return;
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let got = match events.recv(RECV_WAIT) {
            Ok(g) => g,
            Err(e) => {
                let _ = send(&tx, Msg::Trouble(format!("conntrack events: {e}")));
                continue;
            }
        };
        let now = now_secs();
        let at = Instant::now();
        for e in got {
            if e.kind != CtEventKind::New {
                continue;
            }
            let Some(t) = e.entry.orig else { continue };
            let Some(port) = t.dst_port else { continue };
            let obs = Observation::NewConnection {
                addr: rampart_prefix::unmap_addr(t.src),
                port,
            };
            if !send(&tx, Msg::Seen { obs, now, at }) {
                return;
            }
        }
    }
}

/// The kernel ban an NFLOG packet reports, if it is one (`rampart-ban NAME`).
pub fn kernel_ban(
    prefix: &str,
    src: IpAddr,
    ban_secs: &HashMap<String, u32>,
    default_secs: u32,
) -> Option<Observation> {
    let limit = prefix.strip_prefix(BAN_LOG_PREFIX)?.trim();
    if limit.is_empty() {
        return None;
    }
    Some(Observation::KernelBan {
        addr: rampart_prefix::unmap_addr(src),
        limit: limit.to_string(),
        ban_secs: ban_secs.get(limit).copied().unwrap_or(default_secs),
    })
}

/// The prefix of a kernel ban's NFLOG message (`rampart_policy::flood::BAN_LOG_PREFIX`;
/// the guard does not depend on the policy crate, the CLI's tests check they agree).
pub const BAN_LOG_PREFIX: &str = "rampart-ban ";

fn kernel_bans(
    mut listener: NflogListener,
    (secs, default_secs): (HashMap<String, u32>, u32),
    tx: SyncSender<Msg>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let got = match listener.recv(RECV_WAIT) {
            Ok(g) => g,
            Err(e) => {
                let _ = send(&tx, Msg::Trouble(format!("NFLOG: {e}")));
                continue;
            }
        };
        let now = now_secs();
        let at = Instant::now();
        for p in got {
            if let Some(obs) = kernel_ban(&p.prefix, p.src, &secs, default_secs) {
                if !send(&tx, Msg::Seen { obs, now, at }) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_ban_prefix_names_the_limit_and_its_time() {
        let secs = HashMap::from([("web".to_string(), 600)]);
        let src: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            kernel_ban("rampart-ban web", src, &secs, 3600),
            Some(Observation::KernelBan {
                addr: "192.0.2.7".parse().unwrap(),
                limit: "web".into(),
                ban_secs: 600
            })
        );
        let Some(Observation::KernelBan { ban_secs, .. }) =
            kernel_ban("rampart-ban other ", src, &secs, 3600)
        else {
            panic!()
        };
        assert_eq!(ban_secs, 3600);
        assert_eq!(kernel_ban("SYN flood: ", src, &secs, 3600), None);
        assert_eq!(kernel_ban("rampart-ban ", src, &secs, 3600), None);
    }

    fn sock(state: TcpState, local: &str, remote: &str) -> rampart_nfnl::InetSocket {
        rampart_nfnl::InetSocket {
            protocol: Protocol::Tcp,
            state,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            inode: 0,
            uid: 0,
            rqueue: 0,
            wqueue: 0,
        }
    }

    #[test]
    fn inbound_connections_are_counted_per_source_and_listening_port() {
        let s = [
            sock(TcpState::Listen, "0.0.0.0:80", "0.0.0.0:0"),
            sock(TcpState::Listen, "[::]:22", "[::]:0"),
            sock(TcpState::Established, "203.0.113.10:80", "192.0.2.31:40000"),
            sock(TcpState::Established, "203.0.113.10:80", "192.0.2.31:40001"),
            sock(TcpState::NewSynRecv, "203.0.113.10:80", "192.0.2.31:40002"),
            sock(TcpState::TimeWait, "203.0.113.10:80", "192.0.2.31:40003"),
            // IPv4-mapped: the same source.
            sock(
                TcpState::Established,
                "[::ffff:203.0.113.10]:22",
                "[::ffff:192.0.2.31]:5000",
            ),
            // Outbound (local port 443 has no listener): not counted.
            sock(
                TcpState::Established,
                "203.0.113.10:55000",
                "198.51.100.1:443",
            ),
        ];
        let c = count_inbound(&s);
        assert_eq!(
            c,
            vec![
                SourceCount {
                    addr: "192.0.2.31".parse().unwrap(),
                    port: 22,
                    established: 1,
                    syn_recv: 0
                },
                SourceCount {
                    addr: "192.0.2.31".parse().unwrap(),
                    port: 80,
                    established: 2,
                    syn_recv: 1
                },
            ]
        );
    }

    #[test]
    fn log_lines_become_observations_with_bounded_evidence() {
        let line = b"Dec  6 18:00:00 web1 sshd[812]: Failed password for root from 192.0.2.9 port 4711 ssh2";
        let LineObservation::Seen(Observation::Log { addr, line: ev, .. }) =
            log_observation(Source::Sshd, line)
        else {
            panic!()
        };
        assert_eq!(addr, "192.0.2.9".parse::<IpAddr>().unwrap());
        assert!(ev.contains("Failed password"));
        let mut long = line.to_vec();
        long.extend(std::iter::repeat_n(b'x', 5000));
        if let LineObservation::Seen(Observation::Log { line, .. }) =
            log_observation(Source::Sshd, &long)
        {
            assert!(line.len() <= EVIDENCE_BYTES + 8, "{}", line.len());
        }
        assert_eq!(
            log_observation(
                Source::Sshd,
                b"sshd[1]: Accepted password for a from 192.0.2.1 port 2 ssh2"
            ),
            LineObservation::Nothing
        );
    }
}
