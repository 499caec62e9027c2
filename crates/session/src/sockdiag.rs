//! TCP sockets from the kernel over netlink sock_diag (`inet_diag` dump).

use std::io;
use std::net::SocketAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{
    AF_INET, AF_INET6, IPPROTO_TCP, TCP_ESTABLISHED, TCP_LISTEN,
};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};
use serde::Serialize;

/// The TCP states the guard asks for.
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

/// Receive buffer: the kernel sends a dump in datagrams of up to one page per message
/// batch; 64 KiB holds any batch it builds.
const RECV_BUFFER: usize = 65536;

/// Dumps the LISTEN and ESTABLISHED TCP sockets of both families in the caller's network
/// namespace.
pub fn dump_tcp() -> io::Result<Vec<TcpSocket>> {
    let mut out = Vec::new();
    for family in [AF_INET, AF_INET6] {
        dump_family(family, &mut out)?;
    }
    Ok(out)
}

fn dump_family(family: u8, out: &mut Vec<TcpSocket>) -> io::Result<()> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NlAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::LISTEN | StateFlags::ESTABLISHED,
            socket_id: if family == AF_INET {
                SocketId::new_v4()
            } else {
                SocketId::new_v6()
            },
        })
        .into(),
    );
    request.finalize();
    let mut buf = vec![0; request.buffer_len()];
    request.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let mut recv = vec![0u8; RECV_BUFFER];
    loop {
        let size = socket.recv(&mut &mut recv[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let message = <NetlinkMessage<SockDiagMessage>>::deserialize(&recv[offset..size])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let len = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let h = &r.header;
                    let state = match h.state {
                        TCP_LISTEN => Some(TcpState::Listen),
                        TCP_ESTABLISHED => Some(TcpState::Established),
                        _ => None,
                    };
                    if let Some(state) = state {
                        out.push(TcpSocket {
                            state,
                            local: SocketAddr::new(
                                h.socket_id.source_address,
                                h.socket_id.source_port,
                            ),
                            remote: SocketAddr::new(
                                h.socket_id.destination_address,
                                h.socket_id.destination_port,
                            ),
                            inode: h.inode,
                            uid: h.uid,
                        });
                    }
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(io::Error::other(format!("sock_diag: {e:?}")))
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}
