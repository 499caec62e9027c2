//! The OS adapter: the admin's session from `SSH_CONNECTION`, sshd's sockets from
//! sock_diag, owners from `/proc/*/fd`.

use std::collections::HashMap;
use std::fs;
use std::net::{IpAddr, SocketAddr};

use crate::lockout::{Admin, AdminOrigin, Listener, Sessions};
use crate::sockdiag::{dump_tcp, TcpState};

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// The sock_diag dump failed.
    #[error("cannot list TCP sockets over netlink sock_diag: {0}")]
    SockDiag(#[from] std::io::Error),
}

/// Parses `SSH_CONNECTION` (`CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT`).
pub fn from_ssh_connection(value: &str) -> Option<Admin> {
    let words: Vec<&str> = value.split_whitespace().collect();
    let [cip, cport, sip, sport] = words[..] else {
        return None;
    };
    let ip = |s: &str| s.split('%').next()?.parse::<IpAddr>().ok();
    Some(Admin {
        client: SocketAddr::new(ip(cip)?, cport.parse().ok()?),
        server: SocketAddr::new(ip(sip)?, sport.parse().ok()?),
        origin: AdminOrigin::SshConnection,
    })
}

/// Maps the socket inodes of sshd processes to (pid, command name) by reading
/// `/proc/*/fd`; processes the caller may not inspect are skipped (run as root to see
/// sshd's). Only sshd's descriptors are read: on a busy server the other processes hold
/// thousands, and a ban from the CLI must not wait for them.
pub fn socket_owners() -> HashMap<u32, (u32, String)> {
    let mut owners = HashMap::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return owners;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = fs::read_to_string(entry.path().join("comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        if !is_sshd(&comm) {
            continue;
        }
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.to_string_lossy();
            if let Some(inode) = link
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u32>().ok())
            {
                owners.entry(inode).or_insert((pid, comm.clone()));
            }
        }
    }
    owners
}

/// Whether a command name is sshd's (`sshd`, or `sshd-session`/`sshd: user` children).
fn is_sshd(comm: &str) -> bool {
    comm == "sshd" || comm.starts_with("sshd-") || comm.starts_with("sshd:")
}

/// Finds the sessions to protect in the caller's network namespace: the `ssh_connection`
/// value (pass `std::env::var("SSH_CONNECTION").ok()`), every ESTABLISHED socket owned by
/// an sshd process, and sshd's listeners. With no owner information (not root), listeners
/// on the session's server port count as sshd's.
pub fn discover(ssh_connection: Option<&str>) -> Result<Sessions, DiscoverError> {
    let sockets = dump_tcp()?;
    let owners = socket_owners();
    let mut sessions = Sessions::default();
    if let Some(admin) = ssh_connection.and_then(from_ssh_connection) {
        sessions.admins.push(admin);
    }
    let env_ports: Vec<u16> = sessions.admins.iter().map(|a| a.server.port()).collect();
    for s in &sockets {
        let owner = owners.get(&s.inode);
        let sshd = owner.is_some_and(|(_, comm)| is_sshd(comm));
        match s.state {
            TcpState::Listen
                if sshd || (owner.is_none() && env_ports.contains(&s.local.port())) =>
            {
                sessions.listeners.push(Listener {
                    addr: s.local,
                    pid: owner.map(|(pid, _)| *pid),
                })
            }
            TcpState::Established if sshd => {
                let admin = Admin {
                    client: s.remote,
                    server: s.local,
                    origin: AdminOrigin::Socket,
                };
                if !sessions
                    .admins
                    .iter()
                    .any(|a| a.client == admin.client && a.server == admin.server)
                {
                    sessions.admins.push(admin);
                }
            }
            _ => {}
        }
    }
    Ok(sessions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_connection_variable() {
        let a = from_ssh_connection("198.51.100.7 51000 203.0.113.10 22").unwrap();
        assert_eq!(a.client.to_string(), "198.51.100.7:51000");
        assert_eq!(a.server.to_string(), "203.0.113.10:22");
        let a = from_ssh_connection("2001:db8::7 51000 fe80::1%eth0 22").unwrap();
        assert_eq!(a.server.to_string(), "[fe80::1]:22");
        assert!(from_ssh_connection("").is_none());
        assert!(from_ssh_connection("a b c d").is_none());
    }

    #[test]
    fn sshd_names() {
        assert!(is_sshd("sshd") && is_sshd("sshd-session"));
        assert!(!is_sshd("ssh") && !is_sshd("nginx"));
    }
}
