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

/// What reaches the sender of each packet, in order.
fn answered(sim: &mut Simulator<'_>, packets: impl IntoIterator<Item = Packet>) -> Vec<bool> {
    packets
        .into_iter()
        .map(|p| {
            let t = sim.run(&p);
            t.branches[0]
                .answer
                .as_ref()
                .is_some_and(|a| a.reaches_sender())
        })
        .collect()
}

#[test]
fn icmp_errors_are_rate_limited_per_destination() {
    // Kernel 6.18, 20 datagrams at once to a REJECT: 6 errors (IcmpOutRateLimitHost 14).
    let rs = rules(SERVER);
    let mut sim = Simulator::new(&rs, server());
    let burst = |from: &'static str, t0: f64| {
        (0..20u16).map(move |i| {
            Packet::udp(from, 40000 + i, "203.0.113.2", 53)
                .on("eth0")
                .at(t0 + f64::from(i) * 0.001)
        })
    };
    let got = answered(&mut sim, burst("198.51.100.7", 1.0));
    assert_eq!(got.iter().filter(|a| **a).count(), 6, "{got:?}");
    assert!(got[..6].iter().all(|a| *a));
    // Another destination has its own bucket; a second later the first has one more.
    let other = answered(&mut sim, burst("198.51.100.8", 1.0));
    assert_eq!(other.iter().filter(|a| **a).count(), 6, "{other:?}");
    let later = Packet::udp("198.51.100.7", 41000, "203.0.113.2", 53)
        .on("eth0")
        .at(2.1);
    assert_eq!(
        answered(&mut sim, [later.clone(), later.at(2.11)]),
        [true, false]
    );
    let t = sim.run(
        &Packet::udp("198.51.100.7", 41001, "203.0.113.2", 53)
            .on("eth0")
            .at(2.2),
    );
    assert!(
        matches!(&t.branches[0].answer, Some(Answer::Unsent { reason }) if reason.contains("rate limit")),
        "{t}"
    );
    // Resets are not rate limited.
    let syns = (0..20u16).map(|i| {
        Packet::tcp("198.51.100.9", 40000 + i, "203.0.113.2", 22)
            .on("eth0")
            .syn()
            .at(3.0)
    });
    assert!(answered(&mut sim, syns).iter().all(|a| *a));
}

#[test]
fn answers_have_no_owner() {
    // A reset has no socket; an ICMP error comes from the kernel's socket, which exists
    // but has no uid: owner tests decide without forking.
    let rs = rules(
        "*filter
:INPUT ACCEPT [0:0]
:OUTPUT DROP [0:0]
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A INPUT -p udp -j REJECT
-A OUTPUT -m owner --uid-owner 0 -j ACCEPT
-A OUTPUT -m owner --socket-exists -j ACCEPT
COMMIT
",
    );
    let mut sim = Simulator::new(&rs, server());
    let syn = Packet::tcp("198.51.100.7", 40000, "203.0.113.2", 22)
        .on("eth0")
        .syn();
    let dns = Packet::udp("198.51.100.7", 40001, "203.0.113.2", 53).on("eth0");
    assert_eq!(answered(&mut sim, [syn, dns]), [false, true]);
    let b = branch(
        &rs,
        &Packet::udp("198.51.100.7", 40002, "203.0.113.2", 53).on("eth0"),
    );
    let (_, path) = sent(&b);
    assert!(path.assumptions.is_empty(), "{:?}", path.assumptions);
}
