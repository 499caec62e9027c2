//! [`screen`]: what a server accepts from the fleet. Each server applies its own
//! allowlist to every decision it receives, so that one compromised or misconfigured
//! server cannot cut the others off: a decision naming this server's address, its
//! admin's source, loopback or an `allow_from` range, or a network shorter than the
//! configured minimum (a /16 by default), is refused, and the refusal reported.

use rampart_block::Allowlist;
use rampart_guard::Target;
use rampart_prefix::Prefix;

/// Why a fleet decision is refused here, or `None` when it may be enforced.
pub fn screen(target: &Target, allow: &Allowlist, min_v4: u8, min_v6: u8) -> Option<String> {
    let prefix = match target {
        Target::Addr(a) => Prefix::host(*a),
        Target::Prefix(p) => {
            let min = if p.addr().is_ipv4() { min_v4 } else { min_v6 };
            if p.len() < min {
                return Some(format!(
                    "{p} is wider than a /{min}, the shortest prefix this server takes from the fleet ([fleet] min_prefix_v{})",
                    if p.addr().is_ipv4() { 4 } else { 6 }
                ));
            }
            *p
        }
    };
    allow
        .conflicts(prefix)
        .first()
        .map(|c| format!("{target} holds {} ({})", c.allowed.prefix, c.allowed.why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_addresses_admins_and_wide_networks_are_refused() {
        let mut allow = Allowlist::loopback();
        allow.push(
            "203.0.113.12/32".parse().unwrap(),
            "this host's address on eth0",
        );
        allow.push(
            "198.51.100.7/32".parse().unwrap(),
            "admin SSH session to port 22",
        );
        let refused = |t: &str| screen(&t.parse().unwrap(), &allow, 16, 48);
        assert_eq!(refused("192.0.2.31"), None);
        assert_eq!(refused("192.0.2.0/24"), None);
        let own = refused("203.0.113.12").unwrap();
        assert!(own.contains("this host's address"), "{own}");
        let admin = refused("198.51.100.0/24").unwrap();
        assert!(admin.contains("admin SSH session"), "{admin}");
        let wide = refused("0.0.0.0/1").unwrap();
        assert!(wide.contains("wider than a /16"), "{wide}");
        assert!(refused("127.0.0.1").is_some());
        assert!(refused("2001:db8::/32").unwrap().contains("/48"));
        assert_eq!(refused("2001:db8:1:2::/64"), None);
    }
}
