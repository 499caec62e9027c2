//! Focused kernel-vs-simulator tests of the causes found by the corpus differential
//! (`corpus.rs`): each a minimal ruleset and a few probes, loaded in a lab and traced,
//! every fate stated and checked on both sides (see `differential` in `main.rs`).
//!
//! - A REJECT's answer crosses the host's own OUTPUT: shorewall lets out only RELATED and
//!   ESTABLISHED packets per interface, so resets and ICMP errors towards a zone without
//!   such a rule, and resets of INVALID segments (attached to no connection), are stopped
//!   there and the sender times out; no reset answers a reset.
//! - ICMPv6 errors reach a connecting TCP socket (firewalld's IPv6 REJECT): the lab reads
//!   the error even when it arrives while `connect` still holds the socket.
//! - IPv6 extension headers (ufw6's `-m rt --rt-type 0 -j DROP`): a plain packet has none,
//!   so the modules that look for one do not match, in the kernel as in `trace`.

use rampart_ruleset::{parse_save, Family, ParseOptions, Ruleset, Source};
use rampart_sim::Host;

use crate::spec::parse_probes;
use crate::{differential, Example, RulesFrom, Topology};

/// The differential test of `v4` / `v6` (iptables-save texts, either empty) on `host`.
fn inline(name: &str, host: &str, v4: &'static str, v6: &'static str, probes: &str) {
    let host = Host::parse(host).unwrap_or_else(|e| panic!("{name} host: {e}"));
    let probes = parse_probes(probes).unwrap_or_else(|e| panic!("{name} probes: {e}"));
    let mut ruleset = Ruleset::default();
    for (text, family) in [(v4, Family::Ipv4), (v6, Family::Ipv6)] {
        if text.is_empty() {
            continue;
        }
        let opts = ParseOptions {
            family: Some(family),
            ..ParseOptions::default()
        };
        let parsed = parse_save(&Source::new(name, text), opts)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .ruleset;
        ruleset.tables.extend(parsed.tables);
    }
    let topo = Topology::plan(&host, &probes).unwrap_or_else(|e| panic!("{name}: {e}"));
    differential(
        Example {
            name: name.to_string(),
            rules_from: RulesFrom::Inline { v4, v6 },
            topo,
            probes,
            ruleset,
        },
        &[],
    );
}

#[test]
fn sim_kernel_reject_answers_cross_output() {
    inline(
        "reject-answers",
        "interface eth0 203.0.113.2/24\ninterface eth1 198.51.100.1/24\n",
        "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset
-A INPUT -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable
-A OUTPUT -o eth0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset
COMMIT
",
        "",
        "# Answers out eth0 are RELATED and let out.
tcp 203.0.113.2:22 from 203.0.113.7 in eth0 => rejected
udp 203.0.113.2:53 from 203.0.113.7 in eth0 => rejected
tcp/ACK 203.0.113.2:22 from 203.0.113.9 in eth0 => rejected
tcp 203.0.113.2:80 from 203.0.113.7 in eth0 => delivered
# Out eth1 the reset is rejected again (no reset answers a reset) and the ICMP error
# meets the DROP policy: the sender times out.
tcp 198.51.100.1:22 from 198.51.100.7 in eth1 => dropped
udp 198.51.100.1:53 from 198.51.100.7 in eth1 => dropped
# An INVALID segment's reset is attached to no connection: INVALID itself in OUTPUT.
tcp/FIN,ACK 203.0.113.2:22 from 203.0.113.8 in eth0 => dropped
# No reset answers a reset.
tcp/RST 203.0.113.2:22 from 203.0.113.8 in eth0 => dropped
",
    );
}

#[test]
fn sim_kernel_icmp6_reject_reaches_a_connecting_socket() {
    inline(
        "icmp6-reject",
        "interface eth0 2001:db8:5::2/64\n",
        "",
        "*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 25 -j REJECT --reject-with icmp6-port-unreachable
-A INPUT -p tcp -m tcp --dport 26 -j REJECT --reject-with icmp6-adm-prohibited
COMMIT
",
        "# Once the neighbours know each other, each error is answered within the SYN's
# own transmission, while connect still holds the socket.
tcp [2001:db8:5::2]:80 from 2001:db8:5::7 in eth0 => delivered
tcp [2001:db8:5::2]:25 from 2001:db8:5::7 in eth0 => rejected
tcp [2001:db8:5::2]:26 from 2001:db8:5::7 in eth0 => rejected
tcp [2001:db8:5::2]:25 from 2001:db8:5::7 in eth0 => rejected
tcp [2001:db8:5::2]:26 from 2001:db8:5::7 in eth0 => rejected
tcp [2001:db8:5::2]:25 from 2001:db8:5::7 in eth0 => rejected
",
    );
}

#[test]
fn sim_kernel_ipv6_extension_header_rules_miss_plain_packets() {
    inline(
        "ipv6-ext-headers",
        "interface eth0 2001:db8:5::2/64\n",
        "",
        "*filter
:INPUT DROP [0:0]
-A INPUT -m rt --rt-type 0 -j DROP
-A INPUT -m rt ! --rt-type 0 -j DROP
-A INPUT -m frag -j DROP
-A INPUT -m hbh -j DROP
-A INPUT -m ipv6header --header hop-by-hop,ipv6-route --soft -j DROP
-A INPUT -m ipv6header ! --header protocol -j DROP
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
",
        "tcp [2001:db8:5::2]:80 from 2001:db8:5::7 in eth0 => delivered
tcp [2001:db8:5::2]:22 from 2001:db8:5::7 in eth0 => dropped
icmp 2001:db8:5::2 from 2001:db8:5::7 in eth0 => delivered
",
    );
}

#[test]
fn sim_kernel_ipv6_extension_headers_on_real_packets() {
    // Datagrams from a raw socket carrying a hop-by-hop, destination options or routing
    // (type 0, no segments left) header: each module finds its own header only.
    inline(
        "ipv6-ext-headers-real",
        "interface eth0 2001:db8:5::2/64\n",
        "",
        "*filter
:INPUT ACCEPT [0:0]
-A INPUT -p udp -m udp --dport 5001 -m rt --rt-type 0 -j DROP
-A INPUT -p udp -m udp --dport 5002 -m hbh -j DROP
-A INPUT -p udp -m udp --dport 5003 -m ipv6header --header ipv6-opts --soft -j DROP
-A INPUT -p udp -m udp --dport 5004 -m ipv6header --header protocol -j DROP
-A INPUT -p udp -m udp --dport 5005 -m rt ! --rt-type 0 -j DROP
COMMIT
",
        "udp/route0 [2001:db8:5::2]:5001 from 2001:db8:5::7 in eth0 => dropped
udp/raw [2001:db8:5::2]:5001 from 2001:db8:5::7 in eth0 => delivered
udp/hop [2001:db8:5::2]:5002 from 2001:db8:5::7 in eth0 => dropped
udp/route0 [2001:db8:5::2]:5002 from 2001:db8:5::7 in eth0 => delivered
udp/dst [2001:db8:5::2]:5003 from 2001:db8:5::7 in eth0 => dropped
udp/hop [2001:db8:5::2]:5003 from 2001:db8:5::7 in eth0 => delivered
udp/raw [2001:db8:5::2]:5004 from 2001:db8:5::7 in eth0 => dropped
udp/hop [2001:db8:5::2]:5004 from 2001:db8:5::7 in eth0 => delivered
udp/route0 [2001:db8:5::2]:5005 from 2001:db8:5::7 in eth0 => delivered
udp/raw [2001:db8:5::2]:5005 from 2001:db8:5::7 in eth0 => delivered
",
    );
}
