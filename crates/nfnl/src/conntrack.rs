//! [`ConntrackClient`]: the conntrack table over ctnetlink (dump, create, delete), and
//! [`ConntrackEvents`]: its NEW / UPDATE / DESTROY events.
//!
//! ```text
//! dump ──▶ IPCTNL_MSG_CT_GET (NLM_F_DUMP, family AF_UNSPEC: both)
//!      ◀── IPCTNL_MSG_CT_NEW × entries … NLMSG_DONE      (Conntrack::parse per entry)
//! create ──▶ IPCTNL_MSG_CT_NEW (NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK) × n, packed
//!            into datagrams ◀── one ACK or error each
//! delete ──▶ IPCTNL_MSG_CT_DELETE { CTA_TUPLE_ORIG } ◀── ACK
//! events: join NFNLGRP_CONNTRACK_NEW / _UPDATE / _DESTROY
//!      ◀── IPCTNL_MSG_CT_NEW (NLM_F_CREATE|NLM_F_EXCL: new; else update),
//!          IPCTNL_MSG_CT_DELETE (destroy)
//! ```
//!
//! The kernel sends events only when `net.netfilter.nf_conntrack_events` allows (the
//! default, 2, sends them once someone listens) and only for entries its hooks made,
//! which needs a ruleset that uses conntrack in that namespace (any `ct` expression,
//! NAT, or iptables' state match). Under load the event socket can overflow: the kernel
//! then drops events and the socket reports ENOBUFS, which [`ConntrackEvents::recv`]
//! counts in [`ConntrackEvents::lost`] rather than failing.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use netlink_sys::protocols::NETLINK_NETFILTER;
use nix::errno::Errno;

use crate::conn::{Conn, ObserveError};
use crate::wire::ErrorMessage;
use crate::wire::{
    Body, Conntrack, CtKind, Emitable, Message, NfGenMsg, NlmsgBuffer, NFGENMSG_LEN,
    NFNL_SUBSYS_CTNETLINK, NLMSG_ERROR, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};

/// `NFNLGRP_CONNTRACK_NEW`.
const NFNLGRP_CONNTRACK_NEW: u32 = 1;
/// `NFNLGRP_CONNTRACK_UPDATE`.
const NFNLGRP_CONNTRACK_UPDATE: u32 = 2;
/// `NFNLGRP_CONNTRACK_DESTROY`.
const NFNLGRP_CONNTRACK_DESTROY: u32 = 3;

/// `NFPROTO_UNSPEC`: a dump of both families.
const NFPROTO_UNSPEC: u8 = 0;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// Receive buffer for dumps and events: a burst of new connections under a flood must
/// not overflow it between two reads of a daemon that polls several sources.
const RCVBUF: usize = 8 << 20;

/// Create requests per datagram: each is ~150 bytes, the datagram stays under 64 KiB.
const CREATE_PER_DATAGRAM: usize = 256;

/// A ctnetlink socket for dumps and requests.
///
/// ```no_run
/// use rampart_nfnl::ConntrackClient;
/// let mut ct = ConntrackClient::open()?;
/// for entry in ct.dump()? {
///     if let Some(t) = entry.orig {
///         println!("{} -> {} proto {}", t.src, t.dst, t.proto);
///     }
/// }
/// # Ok::<(), rampart_nfnl::ObserveError>(())
/// ```
pub struct ConntrackClient {
    conn: Conn,
}

impl std::fmt::Debug for ConntrackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConntrackClient").finish_non_exhaustive()
    }
}

impl ConntrackClient {
    /// Opens a socket in the calling thread's network namespace (dumps need
    /// CAP_NET_ADMIN).
    pub fn open() -> Result<ConntrackClient, ObserveError> {
        let conn = Conn::open(NETLINK_NETFILTER, "netfilter")?;
        conn.grow_rcvbuf(RCVBUF);
        Ok(ConntrackClient { conn })
    }

    /// Calls `each` for every entry of the table, both families.
    ///
    /// DoS warning: the table holds up to `nf_conntrack_max` entries (262,144 by default
    /// on a machine with 4 GiB and more); `each` runs once per entry.
    pub fn for_each(&mut self, mut each: impl FnMut(Conntrack)) -> Result<(), ObserveError> {
        let seq = self.conn.next_seq();
        let msg = Message::new(
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            Body::Conntrack {
                kind: CtKind::Get,
                nfgen: NfGenMsg::new(NFPROTO_UNSPEC),
                entry: Conntrack::default(),
            },
        );
        let mut buf = vec![0; msg.buffer_len()];
        msg.emit(&mut buf);
        let new = CtKind::New.nlmsg_type();
        self.conn.dump(&buf, "the conntrack dump", |view| {
            if view.kind() != new {
                return Ok(());
            }
            let payload = view.payload();
            if payload.len() < NFGENMSG_LEN {
                return Err(crate::WireError::Truncated("nfgenmsg").into());
            }
            each(Conntrack::parse(&payload[NFGENMSG_LEN..])?);
            Ok(())
        })
    }

    /// Every entry of the table.
    pub fn dump(&mut self) -> Result<Vec<Conntrack>, ObserveError> {
        let mut out = Vec::new();
        self.for_each(|c| out.push(c))?;
        Ok(out)
    }

    /// Creates entries (each needs both tuples and a timeout; the kernel refuses one
    /// that exists with EEXIST). Returns at the first refusal, naming its index; the
    /// entries before it were created (ctnetlink has no transactions).
    pub fn create(&mut self, entries: &[Conntrack]) -> Result<(), (usize, ObserveError)> {
        let mut done = 0;
        for chunk in entries.chunks(CREATE_PER_DATAGRAM) {
            let first_seq = self.conn.seq.wrapping_add(1);
            let mut buf = Vec::new();
            for entry in chunk {
                let seq = self.conn.next_seq();
                let msg = Message::new(
                    NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
                    seq,
                    Body::Conntrack {
                        kind: CtKind::New,
                        nfgen: NfGenMsg::new(family_of(entry)),
                        entry: entry.clone(),
                    },
                );
                let at = buf.len();
                buf.resize(at + msg.buffer_len(), 0);
                msg.emit(&mut buf[at..]);
            }
            self.conn.send(&buf).map_err(|e| (done, e))?;
            // Every message of the chunk is answered (ACK or error); all answers are read
            // before returning, so none is left for the next call to mistake for its own.
            let mut answered = 0;
            let mut refused = None;
            while answered < chunk.len() {
                let datagram = self
                    .conn
                    .recv(false)
                    .map_err(|source| {
                        (
                            done,
                            ObserveError::Io {
                                what: "receive",
                                source,
                            },
                        )
                    })?
                    .expect("a blocking receive returns a datagram");
                let mut rest = datagram;
                while !rest.is_empty() {
                    let view = NlmsgBuffer::new_checked(rest).map_err(|e| (done, e.into()))?;
                    let step = crate::wire::align(view.length() as usize).min(rest.len());
                    if view.kind() == NLMSG_ERROR {
                        let e = ErrorMessage::parse(view.payload(), view.flags())
                            .map_err(|e| (done, e.into()))?;
                        let offset = e.request.seq.wrapping_sub(first_seq) as usize;
                        if offset < chunk.len() {
                            answered += 1;
                            if e.code != 0 && refused.is_none() {
                                refused = Some((done + offset, e.code));
                            }
                        }
                    }
                    rest = &rest[step..];
                }
            }
            if let Some((index, code)) = refused {
                return Err((
                    index,
                    ObserveError::Kernel {
                        what: format!("creating conntrack entry {index}"),
                        errno: Errno::from_raw(-code),
                    },
                ));
            }
            done += chunk.len();
        }
        Ok(())
    }

    /// Deletes the entry whose original tuple is `entry.orig` (the kernel then sends a
    /// DESTROY event).
    pub fn delete(&mut self, entry: &Conntrack) -> Result<(), ObserveError> {
        let seq = self.conn.next_seq();
        let request = Conntrack {
            orig: entry.orig,
            zone: entry.zone,
            ..Conntrack::default()
        };
        let msg = Message::new(
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            Body::Conntrack {
                kind: CtKind::Delete,
                nfgen: NfGenMsg::new(family_of(entry)),
                entry: request,
            },
        );
        let mut buf = vec![0; msg.buffer_len()];
        msg.emit(&mut buf);
        self.conn
            .request_ack(&buf, seq, "deleting a conntrack entry")
    }
}

fn family_of(entry: &Conntrack) -> u8 {
    match entry.orig.or(entry.reply) {
        Some(t) if t.src.is_ipv6() => NFPROTO_IPV6,
        _ => NFPROTO_IPV4,
    }
}

/// Which conntrack events to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtGroups {
    /// New connections (`NFNLGRP_CONNTRACK_NEW`).
    pub new: bool,
    /// State changes (`NFNLGRP_CONNTRACK_UPDATE`): many per connection.
    pub update: bool,
    /// Removed entries (`NFNLGRP_CONNTRACK_DESTROY`).
    pub destroy: bool,
}

impl CtGroups {
    /// NEW and DESTROY: connections opening and going away.
    pub const NEW_DESTROY: CtGroups = CtGroups {
        new: true,
        update: false,
        destroy: true,
    };
}

/// What happened to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtEventKind {
    /// A new entry was confirmed.
    New,
    /// An entry changed (state, status, mark).
    Update,
    /// An entry was removed (timed out, closed, flushed or deleted).
    Destroy,
}

/// One conntrack event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtEvent {
    /// New, update or destroy.
    pub kind: CtEventKind,
    /// The entry as the kernel described it.
    pub entry: Conntrack,
}

/// A subscription to conntrack events. Poll it with [`recv`](Self::recv), or put its
/// descriptor ([`AsFd`]) in a poll set with other sources.
///
/// ```no_run
/// use std::time::Duration;
/// use rampart_nfnl::{ConntrackEvents, CtGroups};
/// let mut events = ConntrackEvents::subscribe(CtGroups::NEW_DESTROY)?;
/// for e in events.recv(Duration::from_millis(500))? {
///     println!("{:?} {:?}", e.kind, e.entry.orig);
/// }
/// # Ok::<(), rampart_nfnl::ObserveError>(())
/// ```
pub struct ConntrackEvents {
    conn: Conn,
    lost: u64,
}

impl std::fmt::Debug for ConntrackEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConntrackEvents")
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

impl ConntrackEvents {
    /// Subscribes in the calling thread's network namespace (needs CAP_NET_ADMIN).
    pub fn subscribe(groups: CtGroups) -> Result<ConntrackEvents, ObserveError> {
        let mut conn = Conn::open(NETLINK_NETFILTER, "netfilter")?;
        conn.grow_rcvbuf(RCVBUF);
        for (on, group) in [
            (groups.new, NFNLGRP_CONNTRACK_NEW),
            (groups.update, NFNLGRP_CONNTRACK_UPDATE),
            (groups.destroy, NFNLGRP_CONNTRACK_DESTROY),
        ] {
            if on {
                conn.join(group)?;
            }
        }
        Ok(ConntrackEvents { conn, lost: 0 })
    }

    /// Waits up to `timeout` for events, then returns every event already queued (none
    /// when the time passed without any). `Duration::ZERO` only drains.
    pub fn recv(&mut self, timeout: Duration) -> Result<Vec<CtEvent>, ObserveError> {
        let mut out = Vec::new();
        if !self.conn.wait(timeout)? {
            return Ok(out);
        }
        let new = CtKind::New.nlmsg_type();
        let delete = CtKind::Delete.nlmsg_type();
        loop {
            let datagram = match self.conn.recv(true) {
                Ok(Some(d)) => d,
                Ok(None) => return Ok(out),
                Err(e) if e.raw_os_error() == Some(Errno::ENOBUFS as i32) => {
                    self.lost += 1;
                    continue;
                }
                Err(source) => {
                    return Err(ObserveError::Io {
                        what: "receive",
                        source,
                    })
                }
            };
            let mut rest = datagram;
            while !rest.is_empty() {
                let view = NlmsgBuffer::new_checked(rest)?;
                let step = crate::wire::align(view.length() as usize).min(rest.len());
                let kind = view.kind();
                if kind >> 8 == NFNL_SUBSYS_CTNETLINK && (kind == new || kind == delete) {
                    let payload = view.payload();
                    if payload.len() >= NFGENMSG_LEN {
                        let entry = Conntrack::parse(&payload[NFGENMSG_LEN..])?;
                        let kind = if kind == delete {
                            CtEventKind::Destroy
                        } else if view.flags() & (NLM_F_CREATE | NLM_F_EXCL) != 0 {
                            CtEventKind::New
                        } else {
                            CtEventKind::Update
                        };
                        out.push(CtEvent { kind, entry });
                    }
                }
                rest = &rest[step..];
            }
        }
    }

    /// How many times the kernel reported dropped events (ENOBUFS) since subscribing.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

impl AsFd for ConntrackEvents {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.conn.as_fd()
    }
}
