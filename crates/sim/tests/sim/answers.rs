//! A REJECT's answer is a packet of the host's own: it crosses OUTPUT and POSTROUTING,
//! attached to the rejected packet's connection, and the host's rules may stop it (the
//! sender then sees a timeout), or the kernel sends none at all.

use rampart_ruleset::{parse_save, ParseOptions, Ruleset, Source};
use rampart_sim::{count_hits, Answer, Branch, CtState, Event, Fate, Packet, Simulator, Step};

use crate::util::*;

fn rules(save: &str) -> Ruleset {
    parse_save(&Source::new("test", save), ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .ruleset
}

/// shorewall's shape: OUTPUT lets RELATED and ESTABLISHED out, everything else is
/// rejected again (a reset of a reset is never sent).
const SERVER: &str = "*filter
:INPUT ACCEPT [0:0]
:OUTPUT DROP [0:0]
-A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset
-A INPUT -p udp -j REJECT --reject-with icmp-port-unreachable
-A INPUT -p icmp -j REJECT --reject-with icmp-host-unreachable
-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset
COMMIT
";

fn branch(rs: &Ruleset, p: &Packet) -> Branch {
    let t = Simulator::new(rs, server()).run(p);
    assert_eq!(t.branches.len(), 1, "{t}");
    assert!(matches!(t.branches[0].fate, Fate::Rejected { .. }), "{t}");
    t.branches[0].clone()
}

fn sent(b: &Branch) -> (&Packet, &Branch) {
    match &b.answer {
        Some(Answer::Sent { packet, branch }) => (packet, branch),
        other => panic!("no answer sent: {other:?}"),
    }
}

fn conntrack_of(b: &Branch) -> CtState {
    b.steps
        .iter()
        .find_map(|s: &Step| match &s.event {
            Event::Conntrack { state, .. } => Some(*state),
            _ => None,
        })
        .expect("a conntrack step")
}

#[test]
fn a_reset_is_related_and_leaves() {
    let rs = rules(SERVER);
    let syn = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22)
        .on("eth0")
        .syn();
    let b = branch(&rs, &syn);
    let (rst, path) = sent(&b);
    assert_eq!(
        rst.to_string(),
        "tcp 203.0.113.2:22 → 198.51.100.7:40000 [RST,ACK] local ttl 64"
    );
    assert_eq!(conntrack_of(path), CtState::Related);
    assert!(matches!(path.fate, Fate::SentOut { .. }), "{:?}", path.fate);
    assert!(b.answer.as_ref().unwrap().reaches_sender());
    // The kernel counts the answer's rules too.
    let t = Simulator::new(&rs, server()).run(&syn);
    let hits = count_hits([&t]);
    assert!(
        hits.keys().any(|h| h.chain == "OUTPUT" && h.rule == 1),
        "{hits:?}"
    );
}

#[test]
fn a_reset_for_an_invalid_segment_meets_output_alone() {
    // A lone FIN opens no connection: INVALID, so its reset is attached to none and is
    // INVALID too: OUTPUT rejects it, and no reset answers a reset.
    let rs = rules(SERVER);
    let fin = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22)
        .on("eth0")
        .flags(rampart_ruleset::TcpFlags::FIN | rampart_ruleset::TcpFlags::ACK);
    let b = branch(&rs, &fin);
    let (rst, path) = sent(&b);
    assert_eq!(
        rst.tcp_flags,
        Some(rampart_ruleset::TcpFlags(rampart_ruleset::TcpFlags::RST))
    );
    assert_eq!(conntrack_of(path), CtState::Invalid);
    assert!(
        matches!(path.fate, Fate::Rejected { .. }),
        "{:?}",
        path.fate
    );
    assert!(!b.answer.as_ref().unwrap().reaches_sender());
    let text = Simulator::new(&rs, server()).run(&fin).to_string();
    assert!(text.contains("the sender sees a timeout"), "{text}");
}

#[test]
fn the_kernel_sends_no_answer_to_a_reset_or_an_error() {
    let rs = rules(SERVER);
    let rst = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22)
        .on("eth0")
        .flags(rampart_ruleset::TcpFlags::RST);
    let b = branch(&rs, &rst);
    assert!(
        matches!(&b.answer, Some(Answer::Unsent { reason }) if reason.contains("reset")),
        "{:?}",
        b.answer
    );
    let mut unreachable = Packet::new(
        rampart_ruleset::Protocol::ICMP,
        "198.51.100.7".parse().unwrap(),
        "203.0.113.2".parse().unwrap(),
    )
    .on("eth0");
    unreachable.icmp_type = Some(3);
    unreachable.icmp_code = Some(3);
    unreachable.ct_state = Some(CtState::New);
    let b = branch(&rs, &unreachable);
    assert!(
        matches!(&b.answer, Some(Answer::Unsent { reason }) if reason.contains("ICMP error")),
        "{:?}",
        b.answer
    );
}

#[test]
fn an_icmp_error_comes_from_the_address_asked() {
    let rs = rules(SERVER);
    let dns = Packet::udp("198.51.100.7", 40000, "203.0.113.2", 53).on("eth0");
    let b = branch(&rs, &dns);
    let (err, path) = sent(&b);
    assert_eq!(
        err.to_string(),
        "icmp 203.0.113.2 → 198.51.100.7 type 3/3 local ttl 64"
    );
    assert_eq!(conntrack_of(path), CtState::Related);
    assert!(matches!(path.fate, Fate::SentOut { .. }));
}

#[test]
fn a_forwarded_answer_follows_the_nat_binding() {
    let rs = rules(
        "*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -i ppp0 -p tcp --dport 8080 -j DNAT --to-destination 192.0.2.10:80
COMMIT
*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -p tcp -j REJECT --reject-with tcp-reset
-A FORWARD -p udp -j REJECT
COMMIT
",
    );
    let mut sim = Simulator::new(&rs, router());
    let syn = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 8080)
        .on("ppp0")
        .syn();
    let t = sim.run(&syn);
    let (_, path) = sent(&t.branches[0]);
    assert_eq!(
        path.fate,
        Fate::SentOut {
            out_iface: "ppp0".into(),
            src: "203.0.113.2".parse().unwrap(),
            dst: "198.51.100.7".parse().unwrap(),
            sport: Some(8080),
            dport: Some(40000),
        },
        "the client sees the address it asked"
    );
    // An error the router sends about a packet it forwards comes from its own address
    // towards the sender, untranslated.
    let dns = Packet::udp("192.0.2.7", 40001, "198.51.100.9", 53).on("eth0");
    let t = sim.run(&dns);
    let (err, path) = sent(&t.branches[0]);
    assert_eq!(err.src, "192.0.2.1".parse::<std::net::IpAddr>().unwrap());
    assert!(
        matches!(&path.fate, Fate::SentOut { out_iface, src, .. } if out_iface == "eth0" && *src == err.src),
        "{:?}",
        path.fate
    );
}
