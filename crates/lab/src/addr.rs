//! The documentation-range guard: the lab configures and probes only
//! addresses from 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 (RFC 5737)
//! and 2001:db8::/32 (RFC 3849), so lab traffic can never be mistaken for,
//! or routed to, a real host.

use std::io;
use std::net::IpAddr;

use crate::cmd::invalid;

/// Is `ip` inside one of the documentation ranges?
pub fn is_documentation(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            matches!(
                (o[0], o[1], o[2]),
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
            )
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            s[0] == 0x2001 && s[1] == 0x0db8
        }
    }
}

/// Refuse anything outside the documentation ranges.
pub fn check_documentation(ip: IpAddr) -> io::Result<()> {
    if is_documentation(ip) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{ip} is not a documentation address (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_ranges_only() {
        for ok in ["192.0.2.1", "198.51.100.255", "203.0.113.0", "2001:db8::1"] {
            assert!(is_documentation(ok.parse().unwrap()), "{ok}");
        }
        for bad in ["192.0.3.1", "10.0.0.1", "127.0.0.1", "2001:db9::1", "::1"] {
            assert!(check_documentation(bad.parse().unwrap()).is_err(), "{bad}");
        }
    }
}
