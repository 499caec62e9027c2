//! IPv6 extension headers: a packet carries the ones it lists (none by default), so the
//! modules that look for one decide instead of forking, as the kernel does.

use rampart_ruleset::{parse_save, Family, ParseOptions, Ruleset, Source};
use rampart_sim::{ExtHeader, Fate, Packet, Simulator};

use crate::util::*;

fn rules6(save: &str) -> Ruleset {
    let opts = ParseOptions {
        family: Some(Family::Ipv6),
        ..ParseOptions::default()
    };
    parse_save(&Source::new("test", save), opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .ruleset
}

fn input_drop6(m: &str) -> Ruleset {
    rules6(&format!(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT {m} -j DROP\nCOMMIT\n"
    ))
}

fn inbound6(headers: &str) -> Packet {
    let mut p = Packet::tcp("2001:db8:1::7", 40000, "2001:db8:1::2", 80)
        .on("eth0")
        .syn();
    p.ext_headers = ExtHeader::parse_list(headers).unwrap();
    p
}

/// The fate and the number of branches.
fn run(rs: &Ruleset, p: &Packet) -> (bool, usize) {
    let t = Simulator::new(rs, server()).run(p);
    let dropped = matches!(t.branches[0].fate, Fate::Dropped { .. });
    (dropped, t.branches.len())
}

#[test]
fn ufw_routing_header_type_0_rule_decides() {
    // ufw6's before-input: `-m rt --rt-type 0 -j DROP`.
    let rs = input_drop6("-m rt --rt-type 0");
    assert_eq!(run(&rs, &inbound6("")), (false, 1), "no routing header");
    assert_eq!(run(&rs, &inbound6("route:0")), (true, 1));
    assert_eq!(run(&rs, &inbound6("hop,route:2")), (false, 1));
    assert_eq!(run(&rs, &inbound6("route")).1, 2, "type not given: both");
    // Negated options still need the header (ip6t_rt returns false without it).
    let rs = input_drop6("-m rt ! --rt-type 0");
    assert_eq!(run(&rs, &inbound6("")), (false, 1));
    assert_eq!(run(&rs, &inbound6("route:2")), (true, 1));
    let rs = input_drop6("-m rt --rt-type 0 --rt-segsleft 0");
    assert_eq!(run(&rs, &inbound6("")), (false, 1));
    assert_eq!(run(&rs, &inbound6("route:0")).1, 2, "segments left unknown");
    assert!(inbound6("hop,route:0")
        .to_string()
        .ends_with("ext-headers hop,route:0"));
}

#[test]
fn header_modules_need_their_header() {
    for (m, header) in [
        ("-m hbh", "hop"),
        ("-m dst --dst-len 8", "dst"),
        ("-m ah --ahspi 500", "ah"),
        ("-m srh --srh-next-hdr 6", "route:4"),
    ] {
        let rs = input_drop6(m);
        assert_eq!(run(&rs, &inbound6("")), (false, 1), "{m} without {header}");
        let (dropped, n) = run(&rs, &inbound6(header));
        assert!(dropped, "{m} with {header}: the matching branch first");
        let options = m.contains("--");
        assert_eq!(n, if options { 2 } else { 1 }, "{m}: details unknown");
    }
    let rs = input_drop6("-m srh");
    assert_eq!(
        run(&rs, &inbound6("route:0")),
        (false, 1),
        "type 0 is no SRH"
    );
}

#[test]
fn no_rule_sees_a_fragment_header() {
    // Defragmentation removes it before the raw table (checked on kernel 6.18 with an
    // atomic fragment): `-m frag` never matches, ipv6header does not count it.
    let frag = inbound6("frag");
    assert_eq!(run(&input_drop6("-m frag"), &frag), (false, 1));
    assert_eq!(run(&input_drop6("-m frag --fragmore"), &frag), (false, 1));
    let exact = input_drop6("-m ipv6header --header protocol");
    assert_eq!(run(&exact, &frag), (true, 1));
    let t = Simulator::new(&input_drop6("-m frag"), server()).run(&frag);
    assert!(t.to_string().contains("removes the fragment header"), "{t}");
}

#[test]
fn ipv6header_reads_the_header_chain() {
    let plain = inbound6("");
    let routed = inbound6("hop,route:0");
    let exact = input_drop6("-m ipv6header --header protocol");
    assert_eq!(run(&exact, &plain), (true, 1), "upper layer only");
    assert_eq!(run(&exact, &routed), (false, 1));
    let soft = input_drop6("-m ipv6header --header hop-by-hop --soft");
    assert_eq!(run(&soft, &plain), (false, 1));
    assert_eq!(run(&soft, &routed), (true, 1), "at least hop-by-hop");
    let none_of = input_drop6("-m ipv6header ! --header hop-by-hop,ipv6-route --soft");
    assert_eq!(run(&none_of, &plain), (true, 1), "neither present");
    assert_eq!(run(&none_of, &routed), (false, 1));
    let not_exact = input_drop6("-m ipv6header ! --header protocol");
    assert_eq!(run(&not_exact, &plain), (false, 1));
    assert_eq!(run(&not_exact, &routed), (true, 1));
}
