//! Tests of the argv parser: every command, rule option, module and target, the canonical
//! forms, and the exact errors.

use super::*;
use crate::command::Command;
use crate::lex::{split, LexOptions};
use crate::model::*;

/// Parses one `iptables ...`/`ip6tables ...` line.
fn parse(line: &str) -> Result<Vec<Invocation>, ParseError> {
    let src = Source::new("t.sh", line);
    let lexed = split(
        &src,
        LexOptions {
            shell: true,
            lenient: false,
            all_errors: false,
        },
    )
    .expect("lexes");
    let words = &lexed.commands[0].words;
    let family = if words[0].text.starts_with("ip6") {
        Family::Ipv6
    } else {
        Family::Ipv4
    };
    parse_args(&src, &words[1..], family)
}

fn ok(line: &str) -> Vec<Invocation> {
    parse(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn err(line: &str) -> ParseError {
    match parse(line) {
        Ok(inv) => panic!("{line} parsed: {inv:?}"),
        Err(e) => e,
    }
}

/// The spec of a one-rule `-A` line.
fn spec(line: &str) -> RuleSpec {
    let mut invs = ok(line);
    assert_eq!(invs.len(), 1, "{line}");
    match invs.remove(0).command {
        Command::Append { rule, .. } => rule.spec,
        other => panic!("not an append: {other:?}"),
    }
}

fn only_match(line: &str) -> Match {
    let mut s = spec(line);
    assert_eq!(s.matches.len(), 1, "{line}");
    s.matches.remove(0)
}

fn target(line: &str) -> Target {
    match spec(line).action {
        Some(Action::Jump(t)) => t,
        other => panic!("{line}: {other:?}"),
    }
}

fn same(a: &str, b: &str) {
    assert_eq!(spec(a), spec(b), "{a}  vs  {b}");
}

#[test]
fn canonical_forms_agree() {
    same(
        "iptables -A INPUT -p tcp --dport 22",
        "iptables -A INPUT -p tcp -m tcp --destination-port ssh",
    );
    same(
        "iptables -A INPUT -p tcp --syn",
        "iptables -A INPUT -p tcp --tcp-flags FIN,SYN,RST,ACK SYN",
    );
    same(
        "iptables -A INPUT -s 1.2.3.4",
        "iptables -A INPUT --src 1.2.3.4/255.255.255.255",
    );
    same(
        "iptables -A INPUT -s 10.1.2.3/8",
        "iptables -A INPUT --source 10.0.0.0/8",
    );
    same("iptables -A INPUT -p all", "iptables -A INPUT");
    same(
        "iptables -A INPUT -p tcp -m tcp --dport 1 -m tcp --sport 2",
        "iptables -A INPUT -p tcp --sport 2 --dport 1",
    );
    same(
        "iptables -A INPUT -m limit",
        "iptables -A INPUT -m limit --limit 3/hour --limit-burst 5",
    );
    same(
        "iptables -A INPUT -m limit --limit 60/minute",
        "iptables -A INPUT -m limit --limit 1/sec",
    );
    same(
        "iptables -A INPUT -m connlimit --connlimit-above 2",
        "iptables -A INPUT -m connlimit --connlimit-above 2 --connlimit-mask 32 --connlimit-saddr",
    );
    same(
        "iptables -A INPUT -m recent --set",
        "iptables -A INPUT -m recent --set --name DEFAULT --mask 255.255.255.255 --rsource",
    );
    same(
        "iptables -A INPUT -j LOG --log-level warning",
        "iptables -A INPUT -j LOG",
    );
    same(
        "iptables -A INPUT -p tcp --dport 010",
        "iptables -A INPUT -p tcp --dport 8",
    );
    same(
        "iptables -A INPUT -j REJECT",
        "iptables -A INPUT -j REJECT --reject-with icmp-port-unreachable",
    );
    same(
        "ip6tables -A INPUT -j REJECT",
        "ip6tables -A INPUT -j REJECT --reject-with port-unreach",
    );
}

#[test]
fn address_lists_expand_sources_outer() {
    let invs = ok("iptables -A INPUT -s 1.1.1.1,2.2.2.2 -d 3.3.3.3,4.4.4.4 -j ACCEPT");
    let pairs: Vec<(String, String)> = invs
        .iter()
        .map(|inv| match &inv.command {
            Command::Append { rule, .. } => (
                rule.spec.source.as_ref().unwrap().value.to_string(),
                rule.spec.destination.as_ref().unwrap().value.to_string(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    let expect = [
        ("1.1.1.1/32", "3.3.3.3/32"),
        ("1.1.1.1/32", "4.4.4.4/32"),
        ("2.2.2.2/32", "3.3.3.3/32"),
        ("2.2.2.2/32", "4.4.4.4/32"),
    ];
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(pairs, expect);
    // -I inserts each at the same position, so the kernel ends up with them reversed.
    let invs = ok("iptables -I INPUT 3 -s 5.5.5.5,6.6.6.6 -j DROP");
    assert_eq!(invs.len(), 2);
    for inv in &invs {
        assert!(matches!(inv.command, Command::Insert { position: 3, .. }));
    }
    let e = err("iptables -A INPUT ! -s 1.1.1.1,2.2.2.2 -j DROP");
    assert!(matches!(e.kind, ErrorKind::BadNegation(_)));
    let e = err("iptables -R INPUT 1 -s 1.1.1.1,2.2.2.2 -j DROP");
    assert!(matches!(e.kind, ErrorKind::Conflict(..)));
}

#[test]
fn commands_parse() {
    let cmd = |line: &str| ok(line).remove(0).command;
    assert!(matches!(
        cmd("iptables -I INPUT -j DROP"),
        Command::Insert { position: 1, .. }
    ));
    assert!(matches!(
        cmd("iptables --insert INPUT 4 -j DROP"),
        Command::Insert { position: 4, .. }
    ));
    assert_eq!(
        cmd("iptables -D INPUT 2"),
        Command::DeleteNum {
            chain: "INPUT".into(),
            number: 2
        }
    );
    assert!(matches!(
        cmd("iptables --delete INPUT -p tcp -j DROP"),
        Command::DeleteSpec { .. }
    ));
    assert!(matches!(
        cmd("iptables -R INPUT 2 -j DROP"),
        Command::Replace { number: 2, .. }
    ));
    assert_eq!(cmd("iptables -N X"), Command::NewChain("X".into()));
    assert_eq!(cmd("iptables -X"), Command::DeleteChain(None));
    assert_eq!(
        cmd("iptables --delete-chain X"),
        Command::DeleteChain(Some("X".into()))
    );
    assert_eq!(cmd("iptables -F"), Command::Flush(None));
    assert_eq!(
        cmd("iptables -t nat --flush PREROUTING"),
        Command::Flush(Some("PREROUTING".into()))
    );
    assert_eq!(
        cmd("iptables -Z INPUT 3"),
        Command::Zero(Some("INPUT".into()), Some(3))
    );
    assert_eq!(cmd("iptables --zero"), Command::Zero(None, None));
    assert_eq!(
        cmd("iptables -P INPUT DROP"),
        Command::Policy {
            chain: "INPUT".into(),
            policy: Policy::Drop,
            counters: Counters::default()
        }
    );
    assert_eq!(
        cmd("iptables -E OLD NEW"),
        Command::Rename {
            old: "OLD".into(),
            new: "NEW".into()
        }
    );
    let inv = ok("iptables -w 5 -v -n -t mangle -A PREROUTING -c 10 20 -j ACCEPT").remove(0);
    assert_eq!(inv.table, TableKind::Mangle);
    match inv.command {
        Command::Append { rule, .. } => assert_eq!(
            rule.counters,
            Counters {
                packets: 10,
                bytes: 20
            }
        ),
        other => panic!("{other:?}"),
    }
    assert!(ok("iptables -L").is_empty());
    assert!(ok("iptables -nvL INPUT").is_empty());
    assert!(ok("iptables -S").is_empty());
    assert!(ok("iptables --list INPUT").is_empty());
    let e = err("iptables -A INPUT -F");
    assert_eq!(e.kind, ErrorKind::Conflict("-A".into(), "-F".into()));
    let e = err("iptables -F INPUT -p tcp");
    assert_eq!(e.kind, ErrorKind::Conflict("-p".into(), "-F".into()));
    let e = err("iptables -P INPUT REJECT");
    assert!(matches!(e.kind, ErrorKind::BadValue { .. }));
    let e = err("iptables -p tcp");
    assert_eq!(e.kind, ErrorKind::Structure("no command given".into()));
}

#[test]
fn rule_options_parse() {
    let s = spec("iptables -A FORWARD ! -i eth+ -o wg0 -p 47 -f ! -d 10.0.0.0/255.0.0.0");
    assert_eq!(
        s.in_interface,
        Some(Neg {
            negated: true,
            value: Interface("eth+".into())
        })
    );
    assert_eq!(s.out_interface, Some(Neg::plain(Interface("wg0".into()))));
    assert_eq!(s.protocol, Some(Neg::plain(Protocol(47))));
    assert_eq!(s.fragment, Some(true));
    assert_eq!(s.destination.unwrap().value.to_string(), "10.0.0.0/8");
    assert_eq!(spec("iptables -A INPUT ! -f").fragment, Some(false));
    assert_eq!(
        spec("ip6tables -A INPUT -p icmpv6").protocol,
        Some(Neg::plain(Protocol::ICMPV6))
    );
    assert_eq!(
        spec("ip6tables -A INPUT -p ipv6-icmp").protocol,
        Some(Neg::plain(Protocol::ICMPV6))
    );
    assert_eq!(
        spec("iptables -A INPUT ! -p udp").protocol,
        Some(Neg {
            negated: true,
            value: Protocol::UDP
        })
    );
    assert!(matches!(
        err("iptables -A INPUT -i 0123456789abcdef").kind,
        ErrorKind::BadValue { .. }
    ));
    assert_eq!(spec("iptables -A INPUT").action, None);
    assert_eq!(
        spec("iptables -A INPUT -g X").action,
        Some(Action::Goto("X".into()))
    );
    assert_eq!(
        spec("iptables -A INPUT --goto X").action,
        Some(Action::Goto("X".into()))
    );
    assert_eq!(
        target("iptables -A INPUT --jump X"),
        Target::Chain("X".into())
    );
    assert!(matches!(
        err("ip6tables -A INPUT -s 1.2.3.4").kind,
        ErrorKind::BadValue { .. }
    ));
}

#[test]
fn protocol_modules() {
    let port = |lo, hi| Neg::plain(PortRange { lo, hi });
    assert_eq!(
        only_match("iptables -A INPUT -p tcp --sport :1023 ! --dport 1024: ! --syn"),
        Match::Tcp(TcpMatch {
            sport: Some(port(0, 1023)),
            dport: Some(Neg {
                negated: true,
                value: PortRange {
                    lo: 1024,
                    hi: 65535
                }
            }),
            flags: Some(Neg {
                negated: true,
                value: TcpFlagsMatch::SYN
            }),
        })
    );
    assert_eq!(
        only_match("iptables -A INPUT -p tcp --tcp-flags ALL NONE"),
        Match::Tcp(TcpMatch {
            flags: Some(Neg::plain(TcpFlagsMatch {
                mask: TcpFlags(0x3f),
                comp: TcpFlags(0)
            })),
            ..TcpMatch::default()
        })
    );
    assert_eq!(
        only_match("iptables -A INPUT -p udp --source-port 53 --dport 100:200"),
        Match::Udp(UdpMatch {
            sport: Some(port(53, 53)),
            dport: Some(port(100, 200))
        })
    );
    assert_eq!(
        only_match("iptables -A INPUT -p icmp --icmp-type echo-request"),
        Match::Icmp(Neg::plain(IcmpType {
            ty: Some(8),
            code: None,
            code_max: None
        }))
    );
    assert_eq!(
        only_match("iptables -A INPUT -p icmp -m icmp --icmp-type any"),
        Match::Icmp(Neg::plain(IcmpType {
            ty: None,
            code: None,
            code_max: None
        }))
    );
    assert_eq!(
        only_match("ip6tables -A INPUT -p icmpv6 --icmpv6-type 1/3"),
        Match::Icmp6(Neg::plain(IcmpType {
            ty: Some(1),
            code: Some(3),
            code_max: None
        }))
    );
    assert_eq!(
        only_match("iptables -A INPUT -p tcp -m multiport --dports http,https,8000:8080"),
        Match::Multiport(MultiportMatch {
            side: PortSide::Destination,
            ports: Neg::plain(vec![
                PortRange::single(80),
                PortRange::single(443),
                PortRange { lo: 8000, hi: 8080 }
            ]),
        })
    );
    assert!(matches!(
        only_match("iptables -A INPUT -p udp -m multiport ! --source-ports 1,2"),
        Match::Multiport(MultiportMatch {
            side: PortSide::Source,
            ports: Neg { negated: true, .. }
        })
    ));
    assert!(matches!(
        only_match("iptables -A INPUT -p tcp -m multiport --ports 1"),
        Match::Multiport(MultiportMatch {
            side: PortSide::Either,
            ..
        })
    ));
}

#[test]
fn stateful_and_rate_modules() {
    assert_eq!(
        only_match("iptables -A INPUT -m state --state NEW,ESTABLISHED"),
        Match::State(Neg::plain(CtStates(CtStates::NEW | CtStates::ESTABLISHED)))
    );
    let m = only_match(
        "iptables -A INPUT -m conntrack ! --ctstate INVALID,DNAT --ctproto tcp --ctorigsrc 10.0.0.0/8 ! --ctorigdst 1.2.3.4",
    );
    let Match::Conntrack(c) = m else { panic!() };
    assert_eq!(
        c.state,
        Some(Neg {
            negated: true,
            value: CtStates(CtStates::INVALID | CtStates::DNAT)
        })
    );
    assert_eq!(c.proto, Some(Neg::plain(Protocol::TCP)));
    assert!(c.orig_dst.unwrap().negated);
    assert_eq!(
        only_match("iptables -A INPUT -m limit --limit 5/m --limit-burst 10"),
        Match::Limit(LimitMatch {
            rate: Rate {
                count: 5,
                unit: RateUnit::Minute
            },
            burst: 10,
            negated: false
        })
    );
    let m = only_match(
        "iptables -A INPUT -m hashlimit --hashlimit-above 10/sec --hashlimit-burst 7 --hashlimit-mode srcip,dstport --hashlimit-name foo --hashlimit-srcmask 24 --hashlimit-dstmask 16 --hashlimit-htable-expire 5000",
    );
    assert_eq!(
        m,
        Match::Hashlimit(Box::new(HashlimitMatch {
            name: "foo".into(),
            mode: LimitMode::Above,
            limit: HashlimitLimit::Packets {
                rate: Rate {
                    count: 10,
                    unit: RateUnit::Second
                },
                burst: 7,
            },
            key: HashlimitKey {
                src_ip: true,
                dst_port: true,
                ..HashlimitKey::default()
            },
            src_mask: Some(24),
            dst_mask: Some(16),
            expire_ms: Some(5000),
            max: None,
            size: None,
            gc_interval_ms: None,
            rate_match: None,
        }))
    );
    let Match::Hashlimit(h) =
        only_match("iptables -A INPUT -m hashlimit --hashlimit 60/min --hashlimit-name a")
    else {
        panic!()
    };
    assert_eq!(
        (h.mode, h.limit, h.expire_ms),
        (
            LimitMode::Upto,
            HashlimitLimit::Packets {
                rate: Rate {
                    count: 1,
                    unit: RateUnit::Second
                },
                burst: 5
            },
            Some(60_000)
        )
    );
    // Byte rates: the kernel's cost, the burst in multiples of the rate (rounded up),
    // and the longer default expiry that comes with a burst.
    let Match::Hashlimit(h) = only_match(
        "iptables -A INPUT -m hashlimit --hashlimit-upto 4kb/s --hashlimit-burst 17kb --hashlimit-name a",
    ) else {
        panic!()
    };
    let HashlimitLimit::Bytes(b) = h.limit else {
        panic!("{h:?}")
    };
    assert_eq!(
        (
            b.bytes_per_second(),
            b.burst,
            b.burst_bytes(),
            h.expire_ms()
        ),
        (4096, 5, Some(20480), 60_000)
    );
    // --hashlimit-rate-match keeps the rate per second and the unit as its interval.
    let Match::Hashlimit(h) = only_match(
        "iptables -A INPUT -m hashlimit --hashlimit-upto 7/hour --hashlimit-name a --hashlimit-rate-match",
    ) else {
        panic!()
    };
    assert_eq!((h.rate_match, h.expire_ms), (Some(3600), Some(3_600_000)));
    for (bad, why) in [
        (
            "--hashlimit-upto 10mb/s --hashlimit-burst 1mb",
            "burst cannot be smaller than 10486704b",
        ),
        ("--hashlimit-upto 2000000/sec", "too fast"),
        (
            "--hashlimit-upto 10/sec --hashlimit-htable-gcinterval 0",
            "0 milliseconds",
        ),
        (
            "--hashlimit-upto 10/sec --hashlimit-rate-interval 0",
            "1 or more",
        ),
        (
            "--hashlimit-upto 10/sec --hashlimit-burst 1mb",
            "between 1 and 1000000",
        ),
    ] {
        let text = format!("iptables -A INPUT -m hashlimit {bad} --hashlimit-name a");
        let e = err(&text).to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
    assert_eq!(
        only_match("iptables -A INPUT -m connlimit --connlimit-upto 10 --connlimit-mask 24 --connlimit-daddr"),
        Match::Connlimit(ConnlimitMatch { mode: LimitMode::Upto, count: 10, mask: Some(24), by_destination: true })
    );
    assert_eq!(
        only_match("iptables -A INPUT -m recent --name X ! --update --seconds 60 --hitcount 4 --rttl --reap --rdest --mask 255.255.0.0"),
        Match::Recent(RecentMatch {
            name: "X".into(),
            command: RecentCommand::Update,
            negated: true,
            seconds: Some(60),
            hitcount: Some(4),
            rttl: true,
            reap: true,
            by_destination: true,
            mask: Some(16),
        })
    );
    for (opt, cmd) in [
        ("--rcheck", RecentCommand::Rcheck),
        ("--remove", RecentCommand::Remove),
    ] {
        let Match::Recent(r) = only_match(&format!("iptables -A INPUT -m recent {opt}")) else {
            panic!()
        };
        assert_eq!(r.command, cmd);
    }
}

#[test]
fn other_modules() {
    assert_eq!(
        only_match("iptables -A INPUT -m comment --comment 'hello world'"),
        Match::Comment("hello world".into())
    );
    assert_eq!(
        only_match("iptables -A INPUT -m set ! --match-set blocked src,dst"),
        Match::Set(SetMatch {
            name: "blocked".into(),
            dirs: vec![SetDir::Src, SetDir::Dst],
            negated: true
        })
    );
    let Match::Iprange(r) = only_match(
        "iptables -A INPUT -m iprange --src-range 1.1.1.1-1.1.1.5 ! --dst-range 2.2.2.2",
    ) else {
        panic!()
    };
    assert_eq!(r.src.unwrap().value.to_string(), "1.1.1.1-1.1.1.5");
    assert!(r.dst.unwrap().negated);
    assert_eq!(
        only_match("iptables -A INPUT -m mac --mac-source aa:BB:cc:dd:ee:0f"),
        Match::Mac(Neg::plain(MacAddr([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f])))
    );
    assert_eq!(
        only_match("iptables -A INPUT -m length ! --length 100:200"),
        Match::Length(Neg {
            negated: true,
            value: LengthRange { lo: 100, hi: 200 }
        })
    );
    assert_eq!(
        only_match("iptables -A INPUT -m length --length 100"),
        Match::Length(Neg::plain(LengthRange { lo: 100, hi: 100 }))
    );
    assert_eq!(
        only_match("iptables -A INPUT -m addrtype --src-type LOCAL,BROADCAST ! --dst-type UNICAST --limit-iface-in"),
        Match::Addrtype(AddrtypeMatch {
            src: Some(Neg::plain(AddrTypes(0b1100))),
            dst: Some(Neg { negated: true, value: AddrTypes(0b10) }),
            limit_iface_in: true,
            limit_iface_out: false,
        })
    );
    assert_eq!(
        only_match("iptables -A INPUT -m mark ! --mark 0x10/0xff"),
        Match::Mark(Neg {
            negated: true,
            value: MarkValue {
                value: 16,
                mask: 255
            }
        })
    );
    assert_eq!(
        only_match("iptables -A INPUT --match mark --mark 5"),
        Match::Mark(Neg::plain(MarkValue {
            value: 5,
            mask: u32::MAX
        }))
    );
}

#[test]
fn targets_parse() {
    assert_eq!(target("iptables -A INPUT -j ACCEPT"), Target::Accept);
    assert_eq!(target("iptables -A INPUT -j DROP"), Target::Drop);
    assert_eq!(target("iptables -A INPUT -j RETURN"), Target::Return);
    assert_eq!(
        target("iptables -A INPUT -j REJECT --reject-with admin-prohib"),
        Target::Reject(RejectWith::IcmpAdminProhibited)
    );
    for (alias, r) in [
        ("no-route", RejectWith::Icmp6NoRoute),
        ("adm-prohibited", RejectWith::Icmp6AdmProhibited),
        ("addr-unreach", RejectWith::Icmp6AddrUnreachable),
        ("port-unreach", RejectWith::Icmp6PortUnreachable),
        ("icmp6-port-unreachable", RejectWith::Icmp6PortUnreachable),
    ] {
        assert_eq!(
            target(&format!(
                "ip6tables -A INPUT -j REJECT --reject-with {alias}"
            )),
            Target::Reject(r)
        );
    }
    assert_eq!(
        target("iptables -A INPUT -p tcp -j REJECT --reject-with tcp-reset"),
        Target::Reject(RejectWith::TcpReset)
    );
    assert_eq!(
        target("iptables -A INPUT -j LOG --log-prefix 'x: ' --log-level info"),
        Target::Log(LogTarget {
            prefix: Some("x: ".into()),
            level: Some(6),
            flags: Default::default(),
        })
    );
    assert_eq!(
        target("iptables -A INPUT -j LOG --log-level 7"),
        Target::Log(LogTarget {
            prefix: None,
            level: Some(7),
            flags: Default::default(),
        })
    );
    let range = |a: &str| Some(a.parse::<rampart_prefix::AddrRange>().unwrap());
    assert_eq!(
        target("iptables -t nat -A POSTROUTING -p tcp -j SNAT --to-source 1.2.3.4-1.2.3.8:100-200 --random --persistent"),
        Target::Snat(NatTarget {
 port_offset: None, addrs: range("1.2.3.4-1.2.3.8"), ports: Some(PortRange { lo: 100, hi: 200 }), random: true, persistent: true })
    );
    assert_eq!(
        target("iptables -t nat -A PREROUTING -p tcp -j DNAT --to-destination :80"),
        Target::Dnat(NatTarget {
            port_offset: None,
            addrs: None,
            ports: Some(PortRange::single(80)),
            random: false,
            persistent: false
        })
    );
    assert_eq!(
        target("ip6tables -t nat -A PREROUTING -p tcp -j DNAT --to-destination [2001:db8::1]:80"),
        Target::Dnat(NatTarget {
            port_offset: None,
            addrs: range("2001:db8::1"),
            ports: Some(PortRange::single(80)),
            random: false,
            persistent: false
        })
    );
    assert_eq!(
        target("ip6tables -t nat -A PREROUTING -j DNAT --to-destination 2001:db8::1"),
        Target::Dnat(NatTarget {
            port_offset: None,
            addrs: range("2001:db8::1"),
            ports: None,
            random: false,
            persistent: false
        })
    );
    assert_eq!(
        target("iptables -t nat -A POSTROUTING -p udp -j MASQUERADE --to-ports 1000-2000 --random"),
        Target::Masquerade(MasqueradeTarget {
            ports: Some(PortRange { lo: 1000, hi: 2000 }),
            random: true
        })
    );
    assert_eq!(
        target("iptables -t nat -A PREROUTING -p tcp -j REDIRECT --to-ports 8080"),
        Target::Redirect(MasqueradeTarget {
            ports: Some(PortRange::single(8080)),
            random: false
        })
    );
    let xm = |value, mask| XMark { value, mask };
    for (op, x) in [
        ("--set-mark 5", xm(5, u32::MAX)),
        ("--set-mark 5/0xff", xm(5, 0xff)),
        ("--and-mark 0xf0", xm(0, 0xffff_ff0f)),
        ("--or-mark 3", xm(3, 3)),
        ("--xor-mark 3", xm(3, 0)),
        ("--set-xmark 0x3/0x7", xm(3, 7)),
        ("--set-xmark 3", xm(3, u32::MAX)),
    ] {
        assert_eq!(
            target(&format!("iptables -t mangle -A PREROUTING -j MARK {op}")),
            Target::Mark(x),
            "{op}"
        );
        assert_eq!(
            target(&format!(
                "iptables -t mangle -A PREROUTING -j CONNMARK {op}"
            )),
            Target::Connmark(ConnmarkTarget::Set(x)),
            "{op}"
        );
    }
    assert_eq!(
        target("iptables -t mangle -A PREROUTING -j CONNMARK --save-mark"),
        Target::Connmark(ConnmarkTarget::Save {
            nfmask: u32::MAX,
            ctmask: u32::MAX
        })
    );
    assert_eq!(
        target("iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xf"),
        Target::Connmark(ConnmarkTarget::Restore { nfmask: 0xff, ctmask: 0xf })
    );
    assert_eq!(
        target("iptables -t mangle -A PREROUTING -j CONNMARK --save-mark --mask 0xff"),
        Target::Connmark(ConnmarkTarget::Save {
            nfmask: 0xff,
            ctmask: 0xff
        })
    );
    assert_eq!(
        target("iptables -t raw -A PREROUTING -j CT --notrack"),
        Target::Notrack
    );
    // Issue 14: the same kernel state, but iptables-save prints each by its own name.
    assert_eq!(
        target("iptables -t raw -A PREROUTING -j NOTRACK"),
        Target::NotrackAlias
    );
    assert_eq!(target("iptables -t raw -A OUTPUT -j TRACE"), Target::Trace);
}

/// The message, and hint if any, of an error.
fn message(line: &str) -> (String, Option<String>) {
    let e = err(line);
    (e.kind.to_string(), e.hint)
}

#[test]
fn errors_have_exact_text() {
    let e = err("iptables -A INPUT --dport 22 -j ACCEPT");
    assert_eq!(
        e.to_string(),
        "t.sh:1:19: unknown or unsupported option `--dport`\n  \
         | iptables -A INPUT --dport 22 -j ACCEPT\n  \
         |                   ^^^^^^^\n  \
         = hint: add `-p tcp` (or `-p udp`) before `--dport`"
    );
    assert_eq!(
        message("iptables -A INPUT -p tcp --dports 80,443"),
        (
            "unknown or unsupported option `--dports`".into(),
            Some("use `-m multiport --dports`".into())
        )
    );
    let (msg, hint) = message("iptables -A INPUT -m bogus");
    assert_eq!(msg, "unsupported match module `bogus`");
    assert!(hint
        .unwrap()
        .starts_with("supported modules: tcp, udp, icmp, multiport"));
    assert_eq!(
        message("iptables -A INPUT -m limit --limit 1/s --burst 3"),
        (
            "unknown or unsupported option `--burst`".into(),
            Some("-m limit options: --limit, --limit-burst".into())
        )
    );
    assert_eq!(
        message("iptables -A INPUT -m conntrack --ctzone 1"),
        (
            "unknown or unsupported option `--ctzone`".into(),
            Some(
                "-m conntrack options: --ctstate, --ctproto, --ctorigsrc, --ctorigdst, \
                 --ctreplsrc, --ctrepldst, --ctorigsrcport, --ctorigdstport, --ctreplsrcport, \
                 --ctrepldstport, --ctstatus, --ctexpire, --ctdir"
                    .into()
            )
        )
    );
    assert_eq!(
        message("iptables -A INPUT -j LOG --log-tcp-seqence"),
        (
            "unknown or unsupported option `--log-tcp-seqence`".into(),
            Some(
                "-j LOG options: --log-prefix, --log-level, --log-tcp-sequence, \
                 --log-tcp-options, --log-ip-options, --log-uid, --log-macdecode"
                    .into()
            )
        )
    );
    assert_eq!(
        message("iptables -A INPUT -s ! 1.2.3.4"),
        (
            "`!` cannot be used here: `!` after `-s`".into(),
            Some("put `!` before the option: `! -s VALUE`".into())
        )
    );
    assert_eq!(
        message("iptables -A INPUT -s example"),
        (
            "bad value `example` for `-s`: `example` is not an IP address (rampart does not resolve host names: write the address)".into(),
            Some("rampart does not resolve host names: write the address".into())
        )
    );
    assert_eq!(
        message("iptables -A POSTROUTING -j SNAT --to-source 1.2.3.4"),
        (
            "target `SNAT` is not allowed in filter/POSTROUTING".into(),
            Some("SNAT works in the nat table: add `-t nat`".into())
        )
    );
    assert_eq!(
        message("iptables -A OUTPUT -i lo"),
        (
            "`-i` cannot be used in chain `OUTPUT`".into(),
            Some("allowed in PREROUTING, INPUT, FORWARD".into())
        )
    );
    assert_eq!(
        message("iptables -A INPUT -o lo"),
        (
            "`-o` cannot be used in chain `INPUT`".into(),
            Some("allowed in FORWARD, OUTPUT, POSTROUTING".into())
        )
    );
    assert_eq!(
        message("iptables -A INPUT -p udp -m tcp --dport 1"),
        (
            "`-m tcp` needs `-p tcp`".into(),
            Some("add `-p tcp` before it".into())
        )
    );
    assert_eq!(
        message("iptables -A INPUT -j REJECT --reject-with tcp-reset"),
        (
            "`--reject-with tcp-reset` needs `-p tcp`".into(),
            Some("add `-p tcp` before it".into())
        )
    );
    assert_eq!(
        message("iptables -A INPUT -j LOG --log-prefix 123456789012345678901234567890").0,
        "bad value `123456789012345678901234567890` for `--log-prefix`: 30 characters; the kernel allows at most 29"
    );
    assert_eq!(
        message("iptables -A INPUT -s 1.1.1.1 -s 2.2.2.2").0,
        "option `-s` given twice"
    );
    assert_eq!(
        message("iptables -A INPUT -p tcp --dport 1 --dport 2").0,
        "option `--dport` given twice"
    );
    assert_eq!(
        message("iptables -A INPUT -m limit ! --limit 1/s").0,
        "`!` cannot be used here: `--limit` cannot be negated"
    );
    assert_eq!(
        message("iptables -A INPUT -m recent --set --update").0,
        "`--update` conflicts with `--set/--rcheck/--update/--remove`"
    );
    assert_eq!(
        message("iptables -A INPUT -m hashlimit --hashlimit-upto 1/s").0,
        "option `-m hashlimit --hashlimit-name` needs a value"
    );
    assert_eq!(
        message("iptables -A INPUT -p tcp --sport 10:5").0,
        "bad value `10:5` for `--sport`: range start is after its end"
    );
    assert_eq!(
        message("iptables -A INPUT -j TCPMSS").0,
        "`-j TCPMSS` needs `-p tcp`"
    );
    assert_eq!(
        message("iptables -A INPUT -j CLUSTERIP --new").0,
        "unsupported target `CLUSTERIP`"
    );
    assert_eq!(
        message("iptables -A INPUT -m multiport --dports 1,2").0,
        "`-m multiport` needs `-p tcp` or `-p udp`"
    );
    assert_eq!(
        message("iptables -A OUTPUT -m addrtype --src-type LOCAL --limit-iface-in").0,
        "`--limit-iface-in` cannot be used in chain `OUTPUT`"
    );
    assert_eq!(
        message("iptables -t bogus -A INPUT").0,
        "unknown table `bogus`"
    );
    assert_eq!(
        message("iptables -A INPUT -A").0,
        "option `-A` needs a value"
    );
    assert_eq!(
        message("iptables -t mangle -A INPUT -j REJECT").0,
        "target `REJECT` is not allowed in mangle/INPUT"
    );
    assert_eq!(
        message("iptables -A INPUT -p tcp ! --syn --tcp-flags ALL SYN").0,
        "`--syn` conflicts with `--tcp-flags`"
    );
    assert_eq!(
        message("iptables -A INPUT -j CT --zone 1").0,
        "target `CT` is not allowed in filter/INPUT"
    );
    assert_eq!(
        message("iptables -t raw -A PREROUTING -j CT --zone 1 --zonez 2").0,
        "unknown or unsupported option `--zonez`"
    );
    assert_eq!(
        message("ip6tables -A INPUT -p icmp -m icmp --icmp-type 8").0,
        "unsupported match module `icmp`"
    );
}

#[test]
fn set_and_nflog_targets_parse_and_print_as_iptables_save() {
    let ban = "iptables -A INPUT -j SET --add-set ban_4 src --exist --timeout 3600";
    assert_eq!(
        target(ban),
        Target::Set(SetTarget {
            op: SetOp::Add,
            set: "ban_4".into(),
            dirs: vec![SetDir::Src],
            timeout: Some(3600),
            exist: true,
        })
    );
    assert_eq!(
        crate::rule_args(&spec(ban)),
        "-j SET --add-set ban_4 src --exist --timeout 3600"
    );
    let unban = "iptables -A INPUT -j SET --del-set ban_4 src,dst";
    assert_eq!(
        crate::rule_args(&spec(unban)),
        "-j SET --del-set ban_4 src,dst"
    );
    let log = "iptables -A INPUT -j NFLOG --nflog-group 5 --nflog-prefix \"rampart-ban web\" --nflog-threshold 1";
    assert_eq!(
        target(log),
        Target::Nflog(NflogTarget {
            group: 5,
            prefix: Some("rampart-ban web".into()),
            size: None,
            threshold: Some(1),
        })
    );
    // iptables-save 1.8.9 prints a threshold of 1 (only 0 means "not set").
    assert_eq!(
        crate::rule_args(&spec(log)),
        "-j NFLOG --nflog-prefix \"rampart-ban web\" --nflog-group 5 --nflog-threshold 1"
    );
    let (msg, hint) = message("iptables -A INPUT -j SET --del-set ban_4 src --timeout 5");
    assert_eq!(msg, "`--timeout` conflicts with `--del-set`");
    assert_eq!(hint.as_deref(), Some("--timeout goes with --add-set"));
    let (msg, _) = message("iptables -A INPUT -j SET");
    assert!(msg.contains("--add-set, --del-set or --map-set"), "{msg}");
    // Adding and deleting in one rule, and mapping, print in xt_set's order.
    let both =
        spec("iptables -t mangle -A FORWARD -j SET --del-set b dst --add-set a src --timeout 5");
    assert_eq!(
        crate::rule_args(&both),
        "-j SET --add-set a src --timeout 5 --del-set b dst"
    );
    let (msg, hint) = message("iptables -A FORWARD -j SET --map-set m src --map-mark");
    assert_eq!(
        msg,
        "target `SET --map-set` is not allowed in filter/FORWARD"
    );
    assert_eq!(
        hint.as_deref(),
        Some("the kernel maps set data in the mangle table only")
    );
}
