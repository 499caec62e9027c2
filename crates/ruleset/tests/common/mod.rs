//! Shared by the kernel tests: the command corpus, normalisation.
#![allow(dead_code)] // each test crate uses its own part

use rampart_ruleset::Ruleset;

/// Command lines covering every supported module and target.
pub const COMMANDS: &[&str] = &[
    "iptables -N LOGDROP",
    "iptables -A LOGDROP -m limit --limit 5/min -j LOG --log-prefix 'dropped: ' --log-level info",
    "iptables -A LOGDROP -j DROP",
    "iptables -P FORWARD DROP",
    "iptables -A INPUT -i lo -j ACCEPT",
    "iptables -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT",
    "iptables -A INPUT -m conntrack --ctstate INVALID -j DROP",
    "iptables -A INPUT -p tcp --dport ssh -s 192.0.2.0/24,198.51.100.7 -j ACCEPT",
    "iptables -A INPUT -p tcp -m multiport --dports http,https,8000:8080 -j ACCEPT",
    "iptables -A INPUT -p tcp --syn -m connlimit --connlimit-above 20 --connlimit-mask 24 -j REJECT --reject-with tcp-reset",
    "iptables -A INPUT -p tcp --tcp-flags ALL NONE -j DROP",
    "iptables -A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN --sport 1:1023 -j DROP",
    "iptables -A INPUT -p udp --sport 53 --dport 1024: -j ACCEPT",
    "iptables -A INPUT -p icmp --icmp-type echo-request -m limit --limit 1/s --limit-burst 4 -j ACCEPT",
    "iptables -A INPUT -p icmp --icmp-type 3/4 -j ACCEPT",
    "iptables -A INPUT -p icmp -m icmp --icmp-type any -j ACCEPT",
    "iptables -A INPUT -m hashlimit --hashlimit-above 10/sec --hashlimit-burst 20 --hashlimit-mode srcip --hashlimit-name web --hashlimit-srcmask 24 --hashlimit-htable-expire 60000 -j DROP",
    "iptables -A INPUT -m hashlimit --hashlimit 60/min --hashlimit-name flat",
    "iptables -A INPUT -p tcp --dport 22 -m recent --name ssh --set --rsource",
    "iptables -A INPUT -p tcp --dport 22 -m recent --name ssh --update --seconds 60 --hitcount 4 --rttl -j LOGDROP",
    "iptables -A INPUT -m recent ! --rcheck --rdest --mask 255.255.255.0 --seconds 5 --reap",
    "iptables -A INPUT -m comment --comment 'allow web' -m iprange --src-range 10.0.0.1-10.0.0.50 ! --dst-range 10.1.0.1-10.1.0.9 -j ACCEPT",
    "iptables -A INPUT -m mac --mac-source 00:11:22:33:44:55 -j ACCEPT",
    "iptables -A INPUT -m length --length 1000:1500 -j DROP",
    "iptables -A INPUT -m addrtype --dst-type BROADCAST,MULTICAST --limit-iface-in -j DROP",
    "iptables -A INPUT -m mark ! --mark 0x1/0xff -j RETURN",
    "iptables -A INPUT -f -j DROP",
    "iptables -A INPUT ! -s 10.0.0.0/255.0.0.0 -i eth+ -p 47 -j DROP",
    "iptables -A INPUT -p all -d 192.0.2.9 -j LOG",
    "iptables -A INPUT -j REJECT --reject-with icmp-host-prohibited",
    "iptables -A INPUT -j REJECT",
    "iptables -I INPUT 2 -s 203.0.113.1,203.0.113.2 -d 192.0.2.1,192.0.2.2 -j DROP",
    "iptables -A INPUT -j REJECT --reject-with admin-prohib",
    "iptables -A INPUT -p tcp -j REJECT --reject-with tcp-rst",
    "iptables -A INPUT -p icmp --icmp-type ping",
    "iptables -A INPUT -p icmp --icmp-type ttl-exceeded",
    "iptables -A INPUT -m conntrack --ctstate SNAT,UNTRACKED",
    "iptables -A INPUT -m addrtype --src-type unicast",
    "iptables -A INPUT -p tcp --tcp-flags syn,ack ack",
    "iptables -A INPUT -m length --length :100",
    "iptables -A INPUT -p TCP --dport 1",
    "iptables -A INPUT -p 6 --dport 010",
    "iptables -A INPUT -m limit --limit 2/day",
    "iptables -A INPUT -m limit --limit 7/h",
    "iptables -A INPUT -m multiport -p tcp --dports 1,2",
    "iptables -A INPUT -m limit --limit 7/min --limit-burst 3",
    "iptables -A INPUT -m limit --limit 13/hour",
    "iptables -A INPUT -m limit --limit 1000/sec",
    "iptables -A INPUT -m limit --limit 3/day",
    "iptables -A INPUT -m limit --limit 90/hour",
    "iptables -A INPUT -m hashlimit --hashlimit 7/min --hashlimit-name a",
    "iptables -A INPUT -m hashlimit --hashlimit 13/hour --hashlimit-name b",
    "iptables -A INPUT -m hashlimit --hashlimit 1000/sec --hashlimit-name c",
    "iptables -A INPUT -m hashlimit --hashlimit-upto 90/hour --hashlimit-name d --hashlimit-dstmask 16 --hashlimit-mode dstip,srcport",
    "iptables -N WEB",
    "iptables -A WEB -j RETURN",
    "iptables -A FORWARD -g WEB",
    "iptables -E WEB WEB2",
    "iptables -A FORWARD -o eth0 -m conntrack --ctproto tcp --ctorigsrc 10.0.0.0/8 ! --ctorigdst 10.0.0.1 -j ACCEPT",
    "iptables -D INPUT 3",
    "iptables -R INPUT 1 -i lo -m comment --comment loopback -j ACCEPT",
    "iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE",
    "iptables -t nat -A POSTROUTING -p tcp -o eth1 -j MASQUERADE --to-ports 1024-2048 --random",
    "iptables -t nat -A POSTROUTING -s 10.0.0.0/8 -j SNAT --to-source 192.0.2.1-192.0.2.5 --persistent",
    "iptables -t nat -A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 10.0.0.2:8080",
    "iptables -t nat -A PREROUTING -p tcp --dport 8443 -j REDIRECT --to-ports 443",
    "iptables -t mangle -A PREROUTING -j MARK --set-mark 0x10/0xf0",
    "iptables -t mangle -A PREROUTING -j MARK --or-mark 4",
    "iptables -t mangle -A PREROUTING -j MARK --and-mark 0xff00",
    "iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark --mask 0xff",
    "iptables -t mangle -A POSTROUTING -j CONNMARK --save-mark",
    "iptables -t mangle -A FORWARD -j CONNMARK --set-xmark 0x1/0x3",
    "iptables -t raw -A PREROUTING -p udp --dport 53 -j CT --notrack",
    "iptables -t raw -A OUTPUT -j NOTRACK",
    "iptables -t raw -A PREROUTING -p tcp --dport 9 -j TRACE",
    "ip6tables -A INPUT -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT",
    "ip6tables -A INPUT -p icmpv6 --icmpv6-type 1/3 -j ACCEPT",
    "ip6tables -A INPUT -s 2001:db8::/32,2001:db8:1::1 -p tcp --dport 443 -j ACCEPT",
    "ip6tables -A INPUT -p tcp -j REJECT --reject-with adm-prohibited",
    "ip6tables -A INPUT -j REJECT",
    "ip6tables -t nat -A PREROUTING -p tcp --dport 80 -j DNAT --to-destination [2001:db8::2]:8080",
    "ip6tables -A INPUT -m connlimit --connlimit-upto 5 --connlimit-mask 64 --connlimit-daddr -j ACCEPT",
    "ip6tables -A INPUT -m recent --name x --rcheck --mask ffff:ffff:ffff:ffff:: -j DROP",
];

/// Tables in a fixed order with counters cleared: counters are runtime state.
pub fn normalised(mut rs: Ruleset) -> Ruleset {
    rs.tables.sort_by_key(|t| (t.family, t.kind));
    for chain in rs.tables.iter_mut().flat_map(|t| &mut t.chains) {
        chain.counters = Default::default();
        for rule in &mut chain.rules {
            rule.counters = Default::default();
        }
    }
    rs
}
