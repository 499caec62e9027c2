//! Synthetic rulesets of any size, for benchmarks and scale tests.
//!
//! Rules mix the shapes real rulesets are made of (per-address drops, port accepts,
//! multiport with conntrack, logging with comments) and use only documentation addresses
//! below `.200` of each range, so a packet from `203.0.113.250` matches none of them and
//! walks the whole chain: the worst case for a linear ruleset.
use std::fmt::Write as _;

/// An `iptables-save` text with `rules` rules in `filter INPUT` (policy DROP).
pub fn synthetic_save(rules: usize) -> String {
    const NETS: [&str; 3] = ["192.0.2", "198.51.100", "203.0.113"];
    let mut out = String::with_capacity(rules * 80 + 128);
    out.push_str("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..rules {
        let addr = format!("{}.{}", NETS[i % 3], (i / 3) % 200);
        let port = 1000 + i / 600;
        let _ = match i % 4 {
            0 => writeln!(out, "-A INPUT -s {addr}/32 -p tcp -m tcp --dport {port} -j DROP"),
            1 => writeln!(out, "-A INPUT -s {addr}/32 -p udp -m udp --dport {port} -j ACCEPT"),
            2 => writeln!(
                out,
                "-A INPUT -s {addr}/32 -p tcp -m multiport --dports {port},{} -m conntrack --ctstate NEW -j ACCEPT",
                port + 1
            ),
            _ => writeln!(
                out,
                "-A INPUT -d {addr}/32 -m comment --comment \"rule {i}\" -j LOG --log-prefix \"r{i} \""
            ),
        };
    }
    out.push_str("COMMIT\n");
    out
}
