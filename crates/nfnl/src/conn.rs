//! The observers' shared socket: open, send, dump until `NLMSG_DONE`, wait with a
//! timeout, and the one error type of [`SockDiag`](crate::SockDiag),
//! [`ConntrackClient`](crate::ConntrackClient), [`ConntrackEvents`](crate::ConntrackEvents)
//! and [`NflogListener`](crate::NflogListener).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use netlink_sys::{Socket, SocketAddr};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{setsockopt, sockopt, MsgFlags};

use crate::wire::{ErrorMessage, NlmsgBuffer, NLMSG_ERROR};
use crate::WireError;

/// `NLMSG_DONE`.
const NLMSG_DONE: u16 = 3;

/// One datagram: dump skbs are at most 32 KiB on current kernels; NFLOG datagrams are
/// at most the instance's `NFULA_CFG_NLBUFSIZ` (default one page, capped at 128 KiB).
const RECV_BUF: usize = 1 << 17;

/// Why an observer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// The netlink socket could not be opened or set up.
    #[error("cannot open a {protocol} netlink socket: {source}")]
    Open {
        /// "sock_diag", "netfilter" or "route".
        protocol: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Sending, receiving or waiting failed.
    #[error("netlink {what} failed: {source}")]
    Io {
        /// "send", "receive" or "poll".
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused a request.
    #[error("kernel refused {what}: {errno}{}", hint_for(*errno, what))]
    Kernel {
        /// The request ("the conntrack dump", "binding NFLOG group 5", …).
        what: String,
        /// What the kernel said.
        errno: Errno,
    },
    /// The kernel's answer could not be read.
    #[error("malformed netlink reply: {0}")]
    Wire(#[from] WireError),
}

fn hint_for(errno: Errno, what: &str) -> &'static str {
    match errno {
        // nfnetlink_log answers EPERM both to a caller without CAP_NET_ADMIN and to a
        // bind of a group another socket holds.
        Errno::EPERM if what.contains("NFLOG") => {
            " (needs root; as root, another program such as ulogd holds this group: stop it \
             or use another group)"
        }
        Errno::EPERM => " (needs root: CAP_NET_ADMIN)",
        _ => "",
    }
}

/// A netlink socket with a receive buffer.
pub(crate) struct Conn {
    socket: Socket,
    pub(crate) seq: u32,
    buf: Vec<u8>,
}

impl Conn {
    /// Opens and binds a socket of `protocol` in the calling thread's network namespace.
    pub(crate) fn open(protocol: isize, name: &'static str) -> Result<Conn, ObserveError> {
        let open = |source| ObserveError::Open {
            protocol: name,
            source,
        };
        let mut socket = Socket::new(protocol).map_err(open)?;
        socket.bind_auto().map_err(open)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(open)?;
        Ok(Conn {
            socket,
            seq: 1,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Asks for a bigger receive buffer (without CAP_NET_ADMIN the default stays).
    pub(crate) fn grow_rcvbuf(&self, bytes: usize) {
        let _ = setsockopt(&self.socket, sockopt::RcvBufForce, &bytes);
    }

    /// Joins a multicast group (conntrack events).
    pub(crate) fn join(&mut self, group: u32) -> Result<(), ObserveError> {
        self.socket
            .add_membership(group)
            .map_err(|source| ObserveError::Open {
                protocol: "netfilter",
                source,
            })
    }

    /// The next sequence number.
    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    pub(crate) fn send(&self, bytes: &[u8]) -> Result<(), ObserveError> {
        self.socket
            .send(bytes, 0)
            .map_err(|source| ObserveError::Io {
                what: "send",
                source,
            })?;
        Ok(())
    }

    /// Receives one datagram into the buffer; `Ok(None)` when `dontwait` and nothing is
    /// there, `Err(ENOBUFS)` as an `Io` error when the kernel dropped messages.
    pub(crate) fn recv(&mut self, dontwait: bool) -> Result<Option<&[u8]>, io::Error> {
        self.buf.clear();
        self.buf.reserve(RECV_BUF);
        let flags = if dontwait {
            MsgFlags::MSG_DONTWAIT.bits()
        } else {
            0
        };
        match self.socket.recv(&mut self.buf, flags) {
            Ok(n) if n > self.buf.len() => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "netlink datagram truncated",
            )),
            Ok(_) => Ok(Some(&self.buf)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits until a datagram is there or `timeout` passes; true when one is.
    pub(crate) fn wait(&self, timeout: Duration) -> Result<bool, ObserveError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Rounded up: a sub-millisecond remainder waits, it does not spin.
            let ms = u16::try_from(left.as_micros().div_ceil(1000).min(60_000)).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) if left.is_zero() => return Ok(false),
                Ok(0) => {
                    if Instant::now() >= deadline {
                        return Ok(false);
                    }
                }
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => {}
                Err(e) => {
                    return Err(ObserveError::Io {
                        what: "poll",
                        source: e.into(),
                    })
                }
            }
        }
    }

    /// Sends a dump request and hands each answer's view to `each` until `NLMSG_DONE`.
    pub(crate) fn dump(
        &mut self,
        request: &[u8],
        what: &str,
        mut each: impl FnMut(&NlmsgBuffer<'_>) -> Result<(), ObserveError>,
    ) -> Result<(), ObserveError> {
        self.send(request)?;
        loop {
            let datagram = self
                .recv(false)
                .map_err(|source| ObserveError::Io {
                    what: "receive",
                    source,
                })?
                .expect("a blocking receive returns a datagram");
            let mut rest = datagram;
            while !rest.is_empty() {
                let view = NlmsgBuffer::new_checked(rest)?;
                let step = crate::wire::align(view.length() as usize).min(rest.len());
                match view.kind() {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let e = ErrorMessage::parse(view.payload(), view.flags())?;
                        if e.code != 0 {
                            return Err(ObserveError::Kernel {
                                what: what.to_owned(),
                                errno: Errno::from_raw(-e.code),
                            });
                        }
                    }
                    _ => each(&view)?,
                }
                rest = &rest[step..];
            }
        }
    }

    /// Sends a request that asked for an ACK and waits for its answer (other messages
    /// arriving meanwhile are dropped: this is for setup, before any data flows).
    pub(crate) fn request_ack(
        &mut self,
        request: &[u8],
        seq: u32,
        what: &str,
    ) -> Result<(), ObserveError> {
        self.send(request)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if !self.wait(deadline.saturating_duration_since(Instant::now()))? {
                return Err(ObserveError::Io {
                    what: "receive",
                    source: io::Error::new(io::ErrorKind::TimedOut, format!("no answer to {what}")),
                });
            }
            let Some(datagram) = self.recv(true).map_err(|source| ObserveError::Io {
                what: "receive",
                source,
            })?
            else {
                continue;
            };
            let mut rest = datagram;
            while !rest.is_empty() {
                let view = NlmsgBuffer::new_checked(rest)?;
                let step = crate::wire::align(view.length() as usize).min(rest.len());
                if view.kind() == NLMSG_ERROR {
                    let e = ErrorMessage::parse(view.payload(), view.flags())?;
                    if e.request.seq == seq {
                        if e.code != 0 {
                            return Err(ObserveError::Kernel {
                                what: what.to_owned(),
                                errno: Errno::from_raw(-e.code),
                            });
                        }
                        return Ok(());
                    }
                }
                rest = &rest[step..];
            }
        }
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for Conn {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
