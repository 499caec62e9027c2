//! The machine as a simulator [`Host`]: addresses and routes from `ip -j`.

use std::net::IpAddr;
use std::process::Command;

use rampart_sim::Host;
use serde::Deserialize;

#[derive(Deserialize)]
struct Link {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct AddrInfo {
    local: String,
    prefixlen: u8,
}

#[derive(Deserialize)]
struct RouteJson {
    dst: String,
    dev: Option<String>,
    gateway: Option<String>,
}

/// Builds a host from the JSON of `ip -j addr show` and of `ip -j route show` plus
/// `ip -j -6 route show` (routes through interfaces without addresses are skipped).
pub fn host_from_ip_json(addrs: &str, routes: &[&str], forwarding: bool) -> Result<Host, String> {
    let links: Vec<Link> = serde_json::from_str(addrs).map_err(|e| format!("ip -j addr: {e}"))?;
    let mut text = String::new();
    let mut names = Vec::new();
    for link in links {
        let list: Vec<String> = link
            .addr_info
            .iter()
            // Link-local addresses too: an admin may come in over fe80::.
            .filter(|a| a.local.parse::<IpAddr>().is_ok())
            .map(|a| format!("{}/{}", a.local, a.prefixlen))
            .collect();
        text.push_str(&format!("interface {} {}\n", link.ifname, list.join(" ")));
        names.push(link.ifname);
    }
    for json in routes {
        let routes: Vec<RouteJson> =
            serde_json::from_str(json).map_err(|e| format!("ip -j route: {e}"))?;
        for r in routes {
            let Some(dev) = r.dev.filter(|d| names.contains(d)) else {
                continue;
            };
            let dest = if r.dst == "default" {
                match r.gateway.as_deref().map(|g| g.contains(':')) {
                    Some(true) => "::/0".to_string(),
                    _ => "default".to_string(),
                }
            } else if r.dst.contains('/') {
                r.dst
            } else {
                continue;
            };
            let via = r.gateway.map(|g| format!(" via {g}")).unwrap_or_default();
            text.push_str(&format!("route {dest}{via} dev {dev}\n"));
        }
    }
    if forwarding {
        text.push_str("forwarding yes\n");
    }
    Host::parse(&text).map_err(|e| format!("{e}\n{text}"))
}

/// Every address of every interface of the caller's network namespace, with the
/// interface's name: `getifaddrs(3)`, one netlink dump inside libc, no process spawned
/// (what the allowlist of a ban needs; [`system_host`] also reads routes).
pub fn host_addresses() -> Result<Vec<(String, std::net::IpAddr)>, String> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| format!("getifaddrs: {e}"))?;
    let mut out = Vec::new();
    for a in addrs {
        let Some(addr) = a.address else { continue };
        let ip = if let Some(v4) = addr.as_sockaddr_in() {
            std::net::IpAddr::V4(v4.ip())
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            std::net::IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        out.push((a.interface_name, ip));
    }
    Ok(out)
}

/// The running machine (its current network namespace) as a host, from `ip -j`.
pub fn system_host() -> Result<Host, String> {
    let run = |args: &[&str]| -> Result<String, String> {
        let out = Command::new("ip")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run `ip {}`: {e}", args.join(" ")))?;
        if !out.status.success() {
            return Err(format!(
                "`ip {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let addrs = run(&["-j", "addr", "show"])?;
    let r4 = run(&["-j", "-4", "route", "show"])?;
    let r6 = run(&["-j", "-6", "route", "show"]).unwrap_or_else(|_| "[]".into());
    let forwarding =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1");
    host_from_ip_json(&addrs, &[&r4, &r6], forwarding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_ip_json() {
        // Captured shape of `ip -j addr show` / `ip -j route show` (iproute2 6.x), trimmed.
        let addrs = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
            {"ifindex":2,"ifname":"eth0","addr_info":[{"family":"inet","local":"203.0.113.10","prefixlen":24,"scope":"global"},
            {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]}]"#;
        let routes = r#"[{"dst":"default","gateway":"203.0.113.1","dev":"eth0"},{"dst":"203.0.113.0/24","dev":"eth0"},{"dst":"198.51.100.0/24","dev":"tun9"}]"#;
        let host = host_from_ip_json(addrs, &[routes], false).unwrap();
        assert_eq!(host.interface("eth0").unwrap().addrs.len(), 2);
        assert!(host.is_local("fe80::1".parse().unwrap()));
        assert_eq!(host.routes.len(), 2);
    }
}
