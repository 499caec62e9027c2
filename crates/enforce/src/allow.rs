//! Finding what must never be blocked on this host: computed once by the CLI or the
//! guard, then passed to every operation as data ([`Allowlist`]).

use rampart_block::Allowlist;
use rampart_prefix::Prefix;

/// The allowlist of this host: loopback, every address of every interface, the admin's
/// SSH sources (sshd's live sessions over sock_diag, else `ssh_connection`, the value of
/// `SSH_CONNECTION`), and `extra` (the policy's `allow_from`, with why).
///
/// Returns the list and the warnings met on the way (a part that could not be read is
/// left out, and said).
pub fn discover_allowlist(
    ssh_connection: Option<&str>,
    extra: impl IntoIterator<Item = (Prefix, String)>,
) -> (Allowlist, Vec<String>) {
    let mut a = Allowlist::loopback();
    let mut warnings = Vec::new();
    match rampart_session::host_addresses() {
        Ok(addrs) => {
            for (name, addr) in addrs {
                a.push(Prefix::host(addr), format!("this host's address on {name}"));
            }
        }
        Err(e) => warnings.push(format!("cannot read this host's addresses: {e}")),
    }
    for (addr, why) in admin_sources(ssh_connection) {
        a.push(Prefix::host(addr), why);
    }
    for (p, why) in extra {
        a.push(p, why);
    }
    (a, warnings)
}

/// The admin's SSH sources, each with why: sshd's live sessions over sock_diag, else
/// `ssh_connection` (the value of `SSH_CONNECTION`).
pub fn admin_sources(ssh_connection: Option<&str>) -> Vec<(std::net::IpAddr, String)> {
    match rampart_session::discover(ssh_connection) {
        Ok(sessions) => sessions
            .admins
            .iter()
            .map(|s| {
                (
                    s.client.ip(),
                    format!("admin SSH session to port {}", s.server.port()),
                )
            })
            .collect(),
        Err(_) => ssh_connection
            .and_then(rampart_session::from_ssh_connection)
            .map(|admin| {
                vec![(
                    admin.client.ip(),
                    "admin SSH session (SSH_CONNECTION)".to_string(),
                )]
            })
            .unwrap_or_default(),
    }
}
