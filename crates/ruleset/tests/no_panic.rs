//! Parsers of untrusted input never panic: arbitrary text, and near-valid command lines
//! built from real tokens, either parse or return errors.

use proptest::prelude::*;
use rampart_ruleset::{parse_any, parse_save, parse_script, ParseOptions, Source};

/// Tokens that steer the parsers into every branch: commands, options, modules, targets,
/// values both valid and not, quotes, pasted typography and shell syntax.
const TOKENS: &[&str] = &[
    "iptables",
    "ip6tables",
    "ipset",
    "sudo",
    "-t",
    "nat",
    "mangle",
    "raw",
    "-A",
    "-I",
    "-D",
    "-R",
    "-N",
    "-X",
    "-F",
    "-Z",
    "-P",
    "-E",
    "INPUT",
    "FORWARD",
    "POSTROUTING",
    "X",
    "-s",
    "-d",
    "192.0.2.1/24",
    "2001:db8::/32",
    "-i",
    "eth+",
    "-o",
    "-p",
    "tcp",
    "udp",
    "icmp",
    "all",
    "-f",
    "!",
    "--dport",
    "22:25",
    "--sport",
    "-m",
    "multiport",
    "--dports",
    "80,443",
    "state",
    "--state",
    "NEW,ESTABLISHED",
    "conntrack",
    "--ctstate",
    "limit",
    "--limit",
    "10/s",
    "--limit-burst",
    "hashlimit",
    "--hashlimit-upto",
    "--hashlimit-name",
    "recent",
    "--set",
    "--update",
    "--seconds",
    "--hitcount",
    "set",
    "--match-set",
    "src",
    "comment",
    "--comment",
    "\"x y\"",
    "'q'",
    "-j",
    "-g",
    "ACCEPT",
    "DROP",
    "REJECT",
    "--reject-with",
    "tcp-reset",
    "LOG",
    "--log-prefix",
    "SNAT",
    "--to-source",
    "203.0.113.1:1000-2000",
    "DNAT",
    "--to-destination",
    "MASQUERADE",
    "MARK",
    "--set-mark",
    "0x1/0xff",
    "CT",
    "--notrack",
    "create",
    "add",
    "hash:net",
    "hash:ip,port",
    "198.51.100.0/24",
    "192.0.2.1,tcp:80",
    "timeout",
    "maxelem",
    "-exist",
    "*filter",
    ":INPUT",
    "[1:2]",
    "COMMIT",
    "\u{2013}comment",
    "\u{201c}x\u{201d}",
    "$V",
    "V=1",
    ";",
    "\\",
    "#",
    "|",
    "0",
    "65536",
    "-1",
    "",
];

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..14).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let src = Source::new("fuzz", text);
        for lenient in [false, true] {
            let opts = ParseOptions { lenient, ..ParseOptions::default() };
            let _ = parse_script(&src, opts);
            let _ = parse_save(&src, opts);
            let _ = parse_any(&src, opts);
        }
    }

    #[test]
    fn token_soup_never_panics(lines in prop::collection::vec(line(), 1..6)) {
        let count = lines.len() as u32;
        let src = Source::new("fuzz", lines.join("\n"));
        for lenient in [false, true] {
            let opts = ParseOptions { lenient, ..ParseOptions::default() };
            for result in [parse_script(&src, opts), parse_save(&src, opts)] {
                if let Err(errors) = result {
                    prop_assert!(!errors.0.is_empty());
                    for e in &errors.0 {
                        // Every error points into the text (or just past its end).
                        prop_assert!(e.span.line >= 1 && e.span.line <= count + 1, "{e}");
                        prop_assert!(e.to_string().starts_with("fuzz:"), "{e}");
                    }
                }
            }
        }
    }
}
