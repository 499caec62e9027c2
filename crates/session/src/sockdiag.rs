//! sshd's TCP sockets, from the kernel's sock_diag dump ([`rampart_nfnl::SockDiag`], the
//! one netlink reader of sockets: `rampart top` and the guard use it too).

use std::io;
use std::net::SocketAddr;

use rampart_nfnl::{Protocol, SockDiag};
use serde::Serialize;

/// The TCP states the lockout check asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TcpState {
    /// `LISTEN`.
    Listen,
    /// `ESTABLISHED`.
    Established,
}

/// One TCP socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpSocket {
    /// Its state.
    pub state: TcpState,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port (unspecified for a listener).
    pub remote: SocketAddr,
    /// The socket inode, which `/proc/PID/fd/N -> socket:[INODE]` names.
    pub inode: u32,
    /// Owner uid.
    pub uid: u32,
}

/// Dumps the LISTEN and ESTABLISHED TCP sockets of both families in the caller's network
/// namespace.
pub fn dump_tcp() -> io::Result<Vec<TcpSocket>> {
    use rampart_nfnl::TcpState as Kernel;
    let states = Kernel::Listen.bit() | Kernel::Established.bit();
    let mut out = Vec::new();
    let mut diag = SockDiag::open().map_err(io::Error::other)?;
    diag.for_each(Protocol::Tcp, states, |s| {
        let state = match s.state {
            Kernel::Listen => TcpState::Listen,
            Kernel::Established => TcpState::Established,
            _ => return,
        };
        out.push(TcpSocket {
            state,
            local: s.local,
            remote: s.remote,
            inode: s.inode,
            uid: s.uid,
        });
    })
    .map_err(io::Error::other)?;
    Ok(out)
}
