//! Parse → print of the modules of issue 14 without a kernel: each pair is a rule as
//! written and the line the real `iptables-save` 1.8.9 printed for it (recorded in a
//! network namespace; `crates/ruleset/tests/matches_kernel.rs` checks the whole table
//! against the live kernel).

use crate::model::Family;
use crate::{parse_save, to_save, ParseOptions, Source};

/// (family, table, `CHAIN options` as written, the line iptables-save printed).
const PAIRS: &[(u8, &str, &str, &str)] = &[
        (4, "filter", "OUTPUT -m owner --uid-owner 0", "-A OUTPUT -m owner --uid-owner 0"),
        (4, "filter", "OUTPUT -m owner --uid-owner 0-100 --gid-owner 5 --socket-exists", "-A OUTPUT -m owner --socket-exists --uid-owner 0-100 --gid-owner 5"),
        (4, "filter", "OUTPUT -m owner ! --uid-owner root ! --socket-exists", "-A OUTPUT -m owner ! --socket-exists ! --uid-owner 0"),
        (4, "filter", "OUTPUT -m owner --gid-owner 10 --suppl-groups", "-A OUTPUT -m owner --gid-owner 10 --suppl-groups"),
        (4, "filter", "OUTPUT -m owner --uid-owner 1000-1000", "-A OUTPUT -m owner --uid-owner 1000"),
        (4, "filter", "INPUT -m pkttype ! --pkt-type multicast", "-A INPUT -m pkttype ! --pkt-type multicast"),
        (4, "filter", "INPUT -m pkttype --pkt-type unicast", "-A INPUT -m pkttype --pkt-type unicast"),
        (4, "filter", "INPUT -m connmark --mark 0x1", "-A INPUT -m connmark --mark 0x1"),
        (4, "filter", "INPUT -m connmark ! --mark 1/0xff", "-A INPUT -m connmark ! --mark 0x1/0xff"),
        (4, "filter", "INPUT -m mark --mark 5/0xffffffff", "-A INPUT -m mark --mark 0x5"),
        (4, "filter", "INPUT -m ttl --ttl-eq 64", "-A INPUT -m ttl --ttl-eq 64"),
        (4, "filter", "INPUT -m ttl ! --ttl-eq 64", "-A INPUT -m ttl ! --ttl-eq 64"),
        (4, "filter", "INPUT -m ttl --ttl-lt 10", "-A INPUT -m ttl --ttl-lt 10"),
        (6, "filter", "INPUT -m hl --hl-eq 255", "-A INPUT -m hl --hl-eq 255"),
        (6, "filter", "INPUT -m hl ! --hl-eq 255", "-A INPUT -m hl ! --hl-eq 255"),
        (6, "filter", "INPUT -m hl --hl-gt 3", "-A INPUT -m hl --hl-gt 3"),
        (4, "filter", "INPUT -m dscp --dscp 0x2e", "-A INPUT -m dscp --dscp 0x2e"),
        (4, "filter", "INPUT -m dscp --dscp 46", "-A INPUT -m dscp --dscp 0x2e"),
        (4, "filter", "INPUT -m dscp ! --dscp-class EF", "-A INPUT -m dscp ! --dscp 0x2e"),
        (4, "filter", "INPUT -m dscp --dscp-class AF41", "-A INPUT -m dscp --dscp 0x22"),
        (4, "filter", "INPUT -m tos --tos 0x10", "-A INPUT -m tos --tos 0x10/0xff"),
        (4, "filter", "INPUT -m tos --tos Minimize-Delay", "-A INPUT -m tos --tos 0x10/0x3f"),
        (4, "filter", "INPUT -m tos ! --tos 0x10/0x3f", "-A INPUT -m tos ! --tos 0x10/0x3f"),
        (4, "filter", "INPUT -m tos --tos 8", "-A INPUT -m tos --tos 0x08/0xff"),
        (4, "filter", "INPUT -m time --timestart 08:00 --timestop 17:00", "-A INPUT -m time --timestart 08:00:00 --timestop 17:00:00 --datestop 2038-01-19T03:14:07"),
        (4, "filter", "INPUT -m time --weekdays 1,2,3 --kerneltz", "-A INPUT -m time --weekdays Mon,Tue,Wed --datestop 2038-01-19T03:14:07 --kerneltz"),
        (4, "filter", "INPUT -m time --monthdays 1,15,31 ! --weekdays Sat,Sun", "-A INPUT -m time --monthdays 1,15,31 --weekdays Mon,Tue,Wed,Thu,Fri --datestop 2038-01-19T03:14:07"),
        (4, "filter", "INPUT -m time --datestart 2024-01-01 --datestop 2025-01-01T12:00:00", "-A INPUT -m time --datestart 2024-01-01T00:00:00 --datestop 2025-01-01T12:00:00"),
        (4, "filter", "INPUT -m time --timestart 22:00 --timestop 06:00 --contiguous", "-A INPUT -m time --timestart 22:00:00 --timestop 06:00:00 --datestop 2038-01-19T03:14:07 --contiguous"),
        (4, "filter", "INPUT -m time --utc --timestart 1:2:3", "-A INPUT -m time --timestart 01:02:03 --timestop 23:59:59 --datestop 2038-01-19T03:14:07"),
        (4, "filter", "INPUT -m string --string \"CF-Connecting-IP: 192.0.2.1\" --algo bm", "-A INPUT -m string --string \"CF-Connecting-IP: 192.0.2.1\" --algo bm"),
        (4, "filter", "INPUT -m string --algo kmp --string abc --from 10 --to 100 --icase", "-A INPUT -m string --string \"abc\" --algo kmp --from 10 --to 100 --icase"),
        (4, "filter", "INPUT -m string --algo bm ! --string \"x y\"", "-A INPUT -m string ! --string \"x y\" --algo bm"),
        (4, "filter", "INPUT -m string --algo bm --hex-string \"|41 42|C\"", "-A INPUT -m string --string \"ABC\" --algo bm"),
        (4, "filter", "INPUT -m string --algo bm --string \"a\\\"b\"", "-A INPUT -m string --string \"a\\\"b\" --algo bm"),
        (4, "filter", "INPUT -m statistic --mode nth --every 3 --packet 1", "-A INPUT -m statistic --mode nth --every 3 --packet 1"),
        (4, "filter", "INPUT -m statistic --mode random --probability 0.1", "-A INPUT -m statistic --mode random --probability 0.10000000009"),
        (4, "filter", "INPUT -m statistic --mode random ! --probability 0.25", "-A INPUT -m statistic --mode random ! --probability 0.25000000000"),
        (4, "filter", "INPUT -m statistic --mode nth ! --every 2 --packet 0", "-A INPUT -m statistic --mode nth ! --every 2 --packet 0"),
        (4, "filter", "INPUT -m helper --helper ftp", "-A INPUT -m helper --helper ftp"),
        (4, "filter", "INPUT -m helper ! --helper sip", "-A INPUT -m helper ! --helper sip"),
        (4, "filter", "INPUT -m policy --dir in --pol none", "-A INPUT -m policy --dir in --pol none"),
        (4, "filter", "INPUT -m policy --dir in --pol ipsec --proto 50", "-A INPUT -m policy --dir in --pol ipsec --proto esp"),
        (4, "filter", "INPUT -m policy --dir in --pol ipsec --strict --spi 0x10 --next --proto ah", "-A INPUT -m policy --dir in --pol ipsec --strict --spi 0x10 --next --proto ah"),
        (4, "raw", "PREROUTING -m rpfilter", "-A PREROUTING -m rpfilter"),
        (4, "raw", "PREROUTING -m rpfilter --loose --validmark --accept-local --invert", "-A PREROUTING -m rpfilter --loose --validmark --accept-local --invert"),
        (4, "mangle", "PREROUTING -m rpfilter --invert", "-A PREROUTING -m rpfilter --invert"),
        (4, "filter", "INPUT -m physdev --physdev-in eth0 --physdev-out eth1", "-A INPUT -m physdev --physdev-in eth0 --physdev-out eth1"),
        (4, "filter", "FORWARD -m physdev ! --physdev-is-bridged --physdev-is-in ! --physdev-is-out", "-A FORWARD -m physdev --physdev-is-in ! --physdev-is-out ! --physdev-is-bridged"),
        (4, "filter", "FORWARD -m physdev --physdev-out veth+", "-A FORWARD -m physdev --physdev-out veth+"),
        (4, "filter", "INPUT -p tcp -m tcpmss --mss 1400", "-A INPUT -p tcp -m tcpmss --mss 1400"),
        (4, "filter", "INPUT -p tcp -m tcpmss ! --mss 1000:1500", "-A INPUT -p tcp -m tcpmss ! --mss 1000:1500"),
        (4, "filter", "INPUT -p sctp -m sctp --dport 80", "-A INPUT -p sctp -m sctp --dport 80"),
        (4, "filter", "INPUT -p sctp -m sctp --sport 1:2 ! --dport 3 --chunk-types any DATA,INIT", "-A INPUT -p sctp -m sctp --sport 1:2 ! --dport 3 --chunk-types any DATA,INIT"),
        (4, "filter", "INPUT -p sctp -m sctp --chunk-types only DATA:Be,ABORT:T", "-A INPUT -p sctp -m sctp --chunk-types only DATA:Be,ABORT:T"),
        (4, "filter", "INPUT -p sctp -m sctp ! --chunk-types all INIT", "-A INPUT -p sctp -m sctp ! --chunk-types all INIT"),
        (4, "filter", "INPUT -p sctp --dport 80", "-A INPUT -p sctp -m sctp --dport 80"),
        (4, "filter", "INPUT -m devgroup --src-group 1", "-A INPUT -m devgroup --src-group 0x1"),
        (4, "filter", "INPUT -m u32 --u32 \"0>>22&0x3C@12>>26&0x3F=0x29\"", "-A INPUT -m u32 --u32 \"0x0>>0x16&0x3c@0xc>>0x1a&0x3f=0x29\""),
        (4, "filter", "INPUT -m u32 ! --u32 \"6&0xFF=1&&4&0x3FFF=0\"", "-A INPUT -m u32 ! --u32 \"0x6&0xff=0x1&&0x4&0x3fff=0x0\""),
        (4, "filter", "INPUT -m u32 --u32 \"0 >> 22 & 0x3C @ 0 >> 24 = 0x29:0x30,5\"", "-A INPUT -m u32 --u32 \"0x0>>0x16&0x3c@0x0>>0x18=0x29:0x30,0x5\""),
        (6, "filter", "INPUT -m frag --fragid 5", "-A INPUT -m frag --fragid 5"),
        (6, "filter", "INPUT -m frag ! --fragid 1:10 --fraglen 8 --fragres --fragfirst", "-A INPUT -m frag ! --fragid 1:10 --fraglen 8 --fragres --fragfirst"),
        (6, "filter", "INPUT -m frag --fragmore", "-A INPUT -m frag --fragmore"),
        (6, "filter", "INPUT -m frag --fraglast", "-A INPUT -m frag --fraglast"),
        (6, "filter", "INPUT -m rt --rt-type 0 --rt-segsleft 0", "-A INPUT -m rt --rt-type 0 --rt-segsleft 0"),
        (6, "filter", "INPUT -m rt ! --rt-type 2 --rt-len 10 ! --rt-segsleft 1:5", "-A INPUT -m rt ! --rt-type 2 ! --rt-segsleft 1:5 --rt-len 10"),
        (6, "filter", "INPUT -m rt --rt-type 0 --rt-0-res --rt-0-addrs 2001:db8::1,2001:db8::2 --rt-0-not-strict", "-A INPUT -m rt --rt-type 0 --rt-0-res --rt-0-addrs 2001:db8::1,2001:db8::2 --rt-0-not-strict"),
        (6, "filter", "INPUT -m hbh --hbh-len 8", "-A INPUT -m hbh --hbh-len 8"),
        (6, "filter", "INPUT -m hbh ! --hbh-len 8 --hbh-opts 1:2,5", "-A INPUT -m hbh ! --hbh-len 8 --hbh-opts 1:2,5"),
        (6, "filter", "INPUT -m dst --dst-len 8 --dst-opts 1,2:4", "-A INPUT -m dst --dst-len 8 --dst-opts 1,2:4"),
        (6, "filter", "INPUT -m ipv6header --header frag --soft", "-A INPUT -m ipv6header --header ipv6-frag --soft"),
        (6, "filter", "INPUT -m ipv6header ! --header hop,ipv6-route,ipv6-frag,ah,esp,ipv6-nonxt,ipv6-opts,prot", "-A INPUT -m ipv6header ! --header hop-by-hop,ipv6-opts,ipv6-route,ipv6-frag,ah,esp,ipv6-nonxt,protocol"),
        (6, "filter", "INPUT -m ipv6header --header 44", "-A INPUT -m ipv6header --header ipv6-frag"),
        (6, "filter", "INPUT -m ipv6header --header ipv6-frag,ipv6-nonxt", "-A INPUT -m ipv6header --header ipv6-frag,ipv6-nonxt"),
        (4, "filter", "INPUT -p ah -m ah --ahspi 5", "-A INPUT -p ah -m ah --ahspi 5"),
        (4, "filter", "INPUT -p ah -m ah ! --ahspi 5:10", "-A INPUT -p ah -m ah ! --ahspi 5:10"),
        (6, "filter", "INPUT -m ah --ahspi 5 --ahlen 3 --ahres", "-A INPUT -m ah --ahspi 5 --ahlen 3 --ahres"),
        (4, "filter", "INPUT -p esp -m esp --espspi 1:2", "-A INPUT -p esp -m esp --espspi 1:2"),
        (4, "filter", "INPUT -p dccp -m dccp --sport 1 --dport 2:3 --dccp-types REQUEST,DATA --dccp-option 5", "-A INPUT -p dccp -m dccp --sport 1 --dport 2:3 --dccp-types REQUEST,DATA --dccp-option 5"),
        (4, "filter", "INPUT -p dccp -m dccp ! --dccp-types RESET", "-A INPUT -p dccp -m dccp ! --dccp-types RESET"),
        (6, "filter", "INPUT -p mh -m mh --mh-type binding-update", "-A INPUT -p mobility-header -m mh --mh-type 5"),
        (6, "filter", "INPUT -p mh -m mh ! --mh-type 1:2", "-A INPUT -p mobility-header -m mh ! --mh-type 1:2"),
        (6, "filter", "INPUT -p ipv6-mh -m mh --mh-type 5", "-A INPUT -p mobility-header -m mh --mh-type 5"),
        (6, "filter", "INPUT -m eui64", "-A INPUT -m eui64"),
        (4, "filter", "INPUT -p tcp -m ecn --ecn-tcp-cwr ! --ecn-tcp-ece --ecn-ip-ect 2", "-A INPUT -p tcp -m ecn ! --ecn-tcp-ece --ecn-tcp-cwr --ecn-ip-ect 2"),
        (4, "filter", "INPUT -m ecn --ecn-ip-ect 1", "-A INPUT -m ecn --ecn-ip-ect 1"),
        (4, "filter", "INPUT -m connbytes --connbytes 10 --connbytes-dir original --connbytes-mode packets", "-A INPUT -m connbytes --connbytes 10 --connbytes-mode packets --connbytes-dir original"),
        (4, "filter", "INPUT -m connbytes ! --connbytes 10:100 --connbytes-dir both --connbytes-mode bytes", "-A INPUT -m connbytes ! --connbytes 10:100 --connbytes-mode bytes --connbytes-dir both"),
        (4, "filter", "INPUT -m connbytes --connbytes :100 --connbytes-dir reply --connbytes-mode avgpkt", "-A INPUT -m connbytes --connbytes 0:100 --connbytes-mode avgpkt --connbytes-dir reply"),
        (4, "filter", "INPUT -m connlabel --label 1", "-A INPUT -m connlabel --label \"1\""),
        (4, "filter", "INPUT -m connlabel ! --label 5 --set", "-A INPUT -m connlabel ! --label \"5\" --set"),
        (4, "filter", "INPUT -m quota --quota 1000", "-A INPUT -m quota --quota 1000"),
        (4, "filter", "INPUT -m quota ! --quota 5", "-A INPUT -m quota ! --quota 5"),
        (4, "filter", "INPUT -m socket", "-A INPUT -m socket"),
        (4, "filter", "INPUT -m socket --transparent --nowildcard --restore-skmark", "-A INPUT -m socket --transparent --nowildcard --restore-skmark"),
        (4, "mangle", "PREROUTING -m socket --transparent", "-A PREROUTING -m socket --transparent"),
        (4, "filter", "OUTPUT -m cgroup --cgroup 10", "-A OUTPUT -m cgroup --cgroup 10"),
        (4, "filter", "INPUT -m cpu --cpu 1", "-A INPUT -m cpu --cpu 1"),
        (4, "filter", "INPUT -m cpu ! --cpu 0", "-A INPUT -m cpu ! --cpu 0"),
        (4, "filter", "INPUT -m realm --realm 5", "-A INPUT -m realm --realm 0x5"),
        (4, "filter", "INPUT -m realm ! --realm 0x5/0xff", "-A INPUT -m realm ! --realm 0x5/0xff"),
        (4, "filter", "INPUT -m cluster --cluster-total-nodes 2 --cluster-local-node 1 --cluster-hash-seed 0xdeadbeef", "-A INPUT -m cluster --cluster-local-nodemask 0x00000001 --cluster-total-nodes 2 --cluster-hash-seed 0xdeadbeef"),
        (6, "filter", "INPUT -m srh --srh-next-hdr 17", "-A INPUT -m srh --srh-next-hdr 17"),
        (6, "filter", "INPUT -m srh ! --srh-hdr-len-eq 8 --srh-segs-left-gt 1 --srh-last-entry-lt 3 --srh-tag 5", "-A INPUT -m srh ! --srh-hdr-len-eq 8 --srh-segs-left-gt 1 --srh-last-entry-lt 3 --srh-tag 5"),
        (6, "filter", "INPUT -m srh --srh-psid 2001:db8::1/64 --srh-nsid 2001:db8::2 --srh-lsid 2001:db8::3/128", "-A INPUT -m srh --srh-psid 2001:db8::1/64 --srh-nsid 2001:db8::2/128 --srh-lsid 2001:db8::3/128"),
        (4, "filter", "INPUT -m bpf --bytecode \"4,48 0 0 9,21 0 1 6,6 0 0 1,6 0 0 0\"", "-A INPUT -m bpf --bytecode \"4,48 0 0 9,21 0 1 6,6 0 0 1,6 0 0 0\""),
        (4, "filter", "INPUT -p tcp -m osf --genre Linux", "-A INPUT -p tcp -m osf --genre Linux"),
        (4, "filter", "INPUT -p tcp -m osf ! --genre Windows --ttl 0", "-A INPUT -p tcp -m osf ! --genre Windows --ttl 0"),
        (4, "filter", "INPUT -m conntrack --ctorigsrcport 80 --ctorigdstport 1:2 --ctreplsrc 192.0.2.1 --ctrepldst 192.0.2.0/24 --ctreplsrcport 5 --ctrepldstport 6", "-A INPUT -m conntrack --ctreplsrc 192.0.2.1 --ctrepldst 192.0.2.0/24 --ctorigsrcport 80 --ctorigdstport 1:2 --ctreplsrcport 5 --ctrepldstport 6"),
        (4, "filter", "INPUT -m conntrack ! --ctorigsrcport 80 ! --ctreplsrc 192.0.2.1", "-A INPUT -m conntrack ! --ctreplsrc 192.0.2.1 ! --ctorigsrcport 80"),
        (4, "filter", "INPUT -m conntrack --ctstatus ASSURED,SEEN_REPLY", "-A INPUT -m conntrack --ctstatus SEEN_REPLY,ASSURED"),
        (4, "filter", "INPUT -m conntrack ! --ctstatus EXPECTED,CONFIRMED,NONE", "-A INPUT -m conntrack ! --ctstatus EXPECTED,CONFIRMED"),
        (4, "filter", "INPUT -m conntrack --ctexpire 10:100", "-A INPUT -m conntrack --ctexpire 10:100"),
        (4, "filter", "INPUT -m conntrack ! --ctexpire 10 --ctdir ORIGINAL", "-A INPUT -m conntrack ! --ctexpire 10 --ctdir ORIGINAL"),
        (4, "filter", "INPUT -m conntrack --ctdir REPLY --ctstate NEW --ctproto tcp", "-A INPUT -m conntrack --ctstate NEW --ctproto 6 --ctdir REPLY"),
        (4, "filter", "INPUT -m conntrack --ctproto 6 --ctorigsrc 192.0.2.1 --ctorigdst 192.0.2.0/24 --ctstate NEW,ESTABLISHED --ctstatus ASSURED --ctexpire 5 --ctdir ORIGINAL --ctorigsrcport 1 --ctorigdstport 2 --ctreplsrc 192.0.2.3 --ctrepldst 192.0.2.4 --ctreplsrcport 3 --ctrepldstport 4", "-A INPUT -m conntrack --ctstate NEW,ESTABLISHED --ctproto 6 --ctorigsrc 192.0.2.1 --ctorigdst 192.0.2.0/24 --ctreplsrc 192.0.2.3 --ctrepldst 192.0.2.4 --ctorigsrcport 1 --ctorigdstport 2 --ctreplsrcport 3 --ctrepldstport 4 --ctstatus ASSURED --ctexpire 5 --ctdir ORIGINAL"),
        (4, "filter", "INPUT -m conntrack --ctorigsrcport 1:1", "-A INPUT -m conntrack --ctorigsrcport 1"),
        (4, "filter", "INPUT -m conntrack --ctorigsrcport ssh", "-A INPUT -m conntrack --ctorigsrcport 22"),
        (4, "filter", "INPUT -m conntrack --ctstate DNAT,SNAT", "-A INPUT -m conntrack --ctstate SNAT,DNAT"),
];

fn printed(family: u8, table: &str, rule: &str) -> Result<String, String> {
    let family = if family == 6 {
        Family::Ipv6
    } else {
        Family::Ipv4
    };
    let text = format!("*{table}\n-A {rule}\nCOMMIT\n");
    let opts = ParseOptions {
        family: Some(family),
        ..ParseOptions::default()
    };
    let parsed = parse_save(&Source::new("t", text.as_str()), opts).map_err(|e| e.to_string())?;
    let out = to_save(&parsed.ruleset, family, false);
    out.lines()
        .find(|l| l.starts_with("-A "))
        .map(str::to_string)
        .ok_or(out)
}

#[test]
fn modules_print_as_iptables_save_printed_them() {
    for (family, table, rule, want) in PAIRS {
        let got = printed(*family, table, rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!(&got, want, "{rule}");
        // The printed form reads back to itself.
        let again = printed(*family, table, &got[3..]).unwrap();
        assert_eq!(&again, want, "{got}");
    }
}

#[test]
fn refusals_say_what_and_how() {
    let err = |family, table, rule| printed(family, table, rule).unwrap_err();
    assert!(err(4, "filter", "INPUT -m owner --uid-owner 0")
        .contains("`-m owner` cannot be used in chain `INPUT`"));
    assert!(err(4, "filter", "OUTPUT -m owner --uid-owner www-data")
        .contains("`www-data` is a name: write the numeric id (`id -u www-data`)"));
    assert!(err(4, "filter", "INPUT -m string --string abc")
        .contains("option `-m string --algo` needs a value"));
    assert!(err(
        4,
        "filter",
        "INPUT -m statistic --mode nth --every 2 --packet 2"
    )
    .contains("--packet 2 is not below --every 2"));
    assert!(err(4, "filter", "INPUT -m time --timestart 25:00")
        .contains("a time of day is hh:mm or hh:mm:ss"));
    assert!(err(4, "filter", "INPUT -m rpfilter")
        .contains("-m rpfilter: not allowed in the filter table"));
    assert!(err(4, "raw", "OUTPUT -m rpfilter")
        .contains("`-m rpfilter` cannot be used in chain `OUTPUT`"));
    assert!(err(4, "filter", "INPUT -p udp -m tcpmss --mss 1400").contains("needs `-p tcp`"));
    assert!(err(6, "filter", "INPUT -m ttl --ttl-eq 1")
        .contains("hint: `-m ttl` is an iptables module (ip6tables has -m hl)"));
    assert!(err(4, "filter", "INPUT -m u32 --u32 bogus").contains("`bogus` has no `=`"));
    assert!(err(
        4,
        "filter",
        "INPUT -m policy --dir in --pol ipsec --mode transport --next --proto esp"
    )
    .contains("--next without --strict"));
}
