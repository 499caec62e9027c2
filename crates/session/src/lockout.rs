//! The pure core: given a ruleset, a host and the sessions, would a NEW SSH connection from
//! each admin source reach sshd?

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use rampart_ruleset::{Family, Protocol, Ruleset};
use rampart_sim::{Fate, Host, Packet, RouteDecision, Simulator};
use serde::Serialize;

/// How an admin session was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminOrigin {
    /// The `SSH_CONNECTION` variable of the running command: the admin at the keyboard.
    SshConnection,
    /// An ESTABLISHED socket owned by sshd: someone else's (or another) session.
    Socket,
}

/// An SSH session: the client's address and port and the server address it reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Admin {
    /// The client's end.
    pub client: SocketAddr,
    /// sshd's end.
    pub server: SocketAddr,
    /// How it was found.
    pub origin: AdminOrigin,
}

/// A listening sshd socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// Address and port (the address may be a wildcard).
    pub addr: SocketAddr,
    /// The owning process id, when known.
    pub pid: Option<u32>,
}

/// What [`check`] protects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sessions {
    /// Admin sessions.
    pub admins: Vec<Admin>,
    /// sshd's listening sockets.
    pub listeners: Vec<Listener>,
}

/// One NEW connection simulated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    /// The admin's address.
    pub from: IpAddr,
    /// The sshd address and port probed.
    pub to: SocketAddr,
    /// The interface the SYN arrives on.
    pub in_iface: String,
    /// True when the SYN is delivered to sshd in every branch of the trace.
    pub accepted: bool,
    /// The fate, in words (`dropped by filter:INPUT policy`).
    pub fate: String,
    /// The rule that decided, as iptables text, when a rule did.
    pub rule: Option<String>,
    /// The simulator's hints (nearest rule that would have accepted, ...).
    pub hints: Vec<String>,
}

/// The guard's verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LockoutReport {
    /// Every probe, in order.
    pub probes: Vec<Probe>,
    /// Why nothing could be checked, when the sessions were empty.
    pub nothing_to_check: bool,
}

impl LockoutReport {
    /// The probes that would not reach sshd.
    pub fn blocked(&self) -> impl Iterator<Item = &Probe> {
        self.probes.iter().filter(|p| !p.accepted)
    }

    /// True when every admin source reaches every sshd address.
    pub fn is_safe(&self) -> bool {
        self.blocked().next().is_none()
    }
}

impl fmt::Display for LockoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nothing_to_check {
            return writeln!(
                f,
                "no SSH session and no sshd listener found: nothing to protect (not logged in \
                 over SSH?)"
            );
        }
        for p in &self.probes {
            let mark = if p.accepted { "ok     " } else { "LOCKOUT" };
            writeln!(
                f,
                "{mark} new SSH connection {} → {} (in {}): {}",
                p.from, p.to, p.in_iface, p.fate
            )?;
            if !p.accepted {
                if let Some(rule) = &p.rule {
                    writeln!(f, "        by rule: {rule}")?;
                }
                for h in &p.hints {
                    writeln!(f, "        hint: {h}")?;
                }
            }
        }
        if !self.is_safe() {
            writeln!(
                f,
                "refusing: this policy would lock you out of SSH. Open the port to your \
                 address (e.g. [input] tcp = [22, ...] or allow_from = [\"ADDR\"]), or pass \
                 --force if another way in exists"
            )?;
        }
        Ok(())
    }
}

/// Decides, with the simulator, whether a NEW TCP SYN from each admin source to each sshd
/// address would be delivered locally under `ruleset` on `host`.
pub fn check(ruleset: &Ruleset, host: &Host, sessions: &Sessions) -> LockoutReport {
    let sources: BTreeSet<IpAddr> = sessions.admins.iter().map(|a| a.client.ip()).collect();
    let mut targets: BTreeSet<(IpAddr, SocketAddr)> = BTreeSet::new();
    for source in &sources {
        let family = Family::of(*source);
        // The addresses this admin actually reached sshd on.
        let reached: Vec<IpAddr> = sessions
            .admins
            .iter()
            .filter(|a| a.client.ip() == *source)
            .map(|a| a.server.ip())
            .collect();
        for a in sessions.admins.iter().filter(|a| a.client.ip() == *source) {
            targets.insert((*source, a.server));
        }
        for l in &sessions.listeners {
            let ip = unmapped(l.addr.ip());
            if ip.is_unspecified() {
                for r in reached.iter().filter(|r| Family::of(**r) == family) {
                    targets.insert((*source, SocketAddr::new(*r, l.addr.port())));
                }
            } else if Family::of(ip) == family && (!ip.is_loopback() || source.is_loopback()) {
                targets.insert((*source, SocketAddr::new(ip, l.addr.port())));
            }
        }
    }
    let probes = targets
        .into_iter()
        .map(|(from, to)| probe(ruleset, host, from, to))
        .collect();
    LockoutReport {
        probes,
        nothing_to_check: sources.is_empty(),
    }
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn probe(ruleset: &Ruleset, host: &Host, from: IpAddr, to: SocketAddr) -> Probe {
    let to = SocketAddr::new(unmapped(to.ip()), to.port());
    let from = unmapped(from);
    // The SYN arrives on the interface the host would answer through.
    let in_iface = if host.is_local(from) {
        "lo".to_string()
    } else {
        match host.route(from) {
            RouteDecision::Out { dev, .. } => dev,
            RouteDecision::Local => "lo".to_string(),
            RouteDecision::Unreachable => host
                .interfaces
                .iter()
                .find(|i| i.addrs.iter().any(|a| a.addr == to.ip()))
                .map_or("lo", |i| i.name.as_str())
                .to_string(),
        }
    };
    let mut packet = Packet::new(Protocol::TCP, from, to.ip())
        .ports(PROBE_SOURCE_PORT, to.port())
        .on(&in_iface)
        .syn();
    packet.time = 0.0;
    let mut sim = Simulator::new(ruleset, host.clone());
    let trace = sim.run(&packet);
    let bad = trace
        .branches
        .iter()
        .find(|b| !matches!(b.fate, Fate::DeliveredLocally { .. }));
    let branch = bad.or(trace.branches.first());
    let (fate, rule, hints) = match branch {
        Some(b) => {
            let (table, chain, n) = match &b.fate {
                Fate::Dropped { table, chain, rule }
                | Fate::Rejected {
                    table, chain, rule, ..
                } => (Some(*table), Some(chain.clone()), *rule),
                _ => (None, None, None),
            };
            let rule = b
                .steps
                .iter()
                .rev()
                .find(|s| n.is_some() && s.rule == n && s.table == table && s.chain == chain)
                .and_then(|s| s.rule_text.clone());
            let mut fate = b.fate.to_string();
            if trace.branches.len() > 1 && bad.is_some() {
                let assumed: Vec<String> = b.assumptions.iter().map(|a| a.to_string()).collect();
                fate = format!("{fate} (when {})", assumed.join(", "));
            }
            (fate, rule, b.hints.iter().map(|h| h.text.clone()).collect())
        }
        None => ("no trace".to_string(), None, Vec::new()),
    };
    Probe {
        from,
        to,
        in_iface,
        accepted: bad.is_none() && !trace.branches.is_empty(),
        fate,
        rule,
        hints,
    }
}

/// The source port of probe SYNs: any port not used by the live session works, since the
/// simulator starts with empty conntrack.
const PROBE_SOURCE_PORT: u16 = 50022;

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_ruleset::{parse_save, ParseOptions, Source};

    fn ruleset(text: &str) -> Ruleset {
        parse_save(&Source::new("t", text), ParseOptions::default())
            .unwrap()
            .ruleset
    }

    fn host() -> Host {
        Host::parse(
            "interface eth0 203.0.113.10/24 2001:db8::10/64\n\
             route default via 203.0.113.1 dev eth0\nroute ::/0 via 2001:db8::1 dev eth0\n",
        )
        .unwrap()
    }

    fn sessions() -> Sessions {
        Sessions {
            admins: vec![Admin {
                client: "198.51.100.7:51000".parse().unwrap(),
                server: "203.0.113.10:22".parse().unwrap(),
                origin: AdminOrigin::SshConnection,
            }],
            listeners: vec![
                Listener {
                    addr: "0.0.0.0:22".parse().unwrap(),
                    pid: Some(1),
                },
                Listener {
                    addr: "[::]:22".parse().unwrap(),
                    pid: Some(1),
                },
            ],
        }
    }

    #[test]
    fn accepting_policy_is_safe() {
        let r = check(&Ruleset::default(), &host(), &sessions());
        assert_eq!(r.probes.len(), 1, "{r}");
        assert!(r.is_safe(), "{r}");
        assert_eq!(r.probes[0].in_iface, "eth0");
    }

    #[test]
    fn policy_drop_without_ssh_is_a_lockout_naming_the_policy() {
        let rs = ruleset(
            "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
             -A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 5/sec -j ACCEPT\n\
             -A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n",
        );
        let r = check(&rs, &host(), &sessions());
        assert!(!r.is_safe());
        let p = r.blocked().next().unwrap();
        assert_eq!(p.from.to_string(), "198.51.100.7");
        assert_eq!(p.to.to_string(), "203.0.113.10:22");
        assert_eq!(p.fate, "dropped by filter:INPUT policy");
        // The near miss named is the tcp rule with another port, not the ping rule.
        assert!(
            p.hints[0].contains("filter:INPUT:3 `-p tcp -m tcp --dport 80 -j ACCEPT`"),
            "{r}"
        );
        let text = r.to_string();
        assert!(
            text.contains("LOCKOUT new SSH connection 198.51.100.7 → 203.0.113.10:22"),
            "{text}"
        );
        assert!(text.contains("refusing"), "{text}");
    }

    #[test]
    fn a_drop_rule_for_the_admin_source_is_named() {
        let rs = ruleset(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             -A INPUT -s 198.51.100.0/24 -j DROP\nCOMMIT\n",
        );
        let r = check(&rs, &host(), &sessions());
        let p = r.blocked().next().expect("blocked");
        assert_eq!(p.fate, "dropped by filter:INPUT:1");
        assert_eq!(p.rule.as_deref(), Some("-s 198.51.100.0/24 -j DROP"), "{r}");
    }

    #[test]
    fn every_listener_and_ipv6_admins_are_probed() {
        let mut s = sessions();
        s.admins.push(Admin {
            client: "[2001:db8:9::7]:40000".parse().unwrap(),
            server: "[2001:db8::10]:22".parse().unwrap(),
            origin: AdminOrigin::Socket,
        });
        s.listeners.push(Listener {
            addr: "203.0.113.10:2222".parse().unwrap(),
            pid: None,
        });
        s.listeners.push(Listener {
            addr: "127.0.0.1:2223".parse().unwrap(),
            pid: None,
        });
        let r = check(&Ruleset::default(), &host(), &s);
        let probes: Vec<String> = r
            .probes
            .iter()
            .map(|p| format!("{} {}", p.from, p.to))
            .collect();
        assert_eq!(
            probes,
            [
                "198.51.100.7 203.0.113.10:22",
                "198.51.100.7 203.0.113.10:2222",
                "2001:db8:9::7 [2001:db8::10]:22",
            ]
        );
    }

    #[test]
    fn no_sessions_means_nothing_to_check() {
        let r = check(&Ruleset::default(), &host(), &Sessions::default());
        assert!(r.nothing_to_check && r.is_safe());
    }
}
