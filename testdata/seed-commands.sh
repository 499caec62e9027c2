#!/bin/sh
# Every command form the ruleset-engine issue lists, as administrators write them.
# `rampart check testdata/seed-commands.sh` must accept all of it (tests/cli/check.rs).
IPT=/sbin/iptables
sudo iptables -t filter -F
sudo /sbin/iptables -X
iptables -N LOGDROP
iptables --new-chain syn_flood
iptables -E syn_flood SYN_FLOOD
iptables -P INPUT DROP
iptables --policy FORWARD DROP
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -m conntrack --ctstate NEW,INVALID -j LOGDROP
$IPT -A INPUT -s 192.0.2.0/24,198.51.100.7 -d 203.0.113.1 -p tcp --dport 22 -j ACCEPT
iptables -I INPUT 2 ! -s 192.0.2.0/255.255.255.0 -p udp --sport 53 --dport 1024:65535 -j ACCEPT
iptables --insert FORWARD -i eth+ -o ppp0 -p tcp --syn -j SYN_FLOOD
iptables -A INPUT -f -j DROP
iptables -A INPUT -p tcp --tcp-flags SYN,RST SYN,RST -j DROP
iptables -A INPUT -p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT
iptables -A INPUT -p icmp --icmp-type echo-request -m limit --limit 1/s --limit-burst 4 -j ACCEPT
iptables -A INPUT -p tcp --dport 80 -m hashlimit --hashlimit-upto 50/min --hashlimit-burst 200 \
    --hashlimit-mode srcip --hashlimit-name http -j ACCEPT
iptables -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 20 --connlimit-mask 24 -j REJECT --reject-with tcp-reset
iptables -A INPUT -p tcp --dport 22 -m state --state NEW -m recent --set --name SSH
iptables -A INPUT -p tcp --dport 22 -m state --state NEW -m recent --update --seconds 60 --hitcount 4 --name SSH -j DROP
iptables -A INPUT -m comment --comment "blocked neighbourhood" -s 203.0.113.0/24 -j DROP
ipset create blacklist hash:net family inet maxelem 131072
ipset add blacklist 198.51.100.0/24
iptables -A INPUT -m set --match-set blacklist src -j DROP
iptables -A INPUT -m iprange --src-range 192.0.2.10-192.0.2.20 -j ACCEPT
iptables -A INPUT -m mac --mac-source 00:11:22:33:44:55 -j ACCEPT
iptables -A INPUT -m length --length 1400:1500 -j LOG --log-prefix "big: " --log-level 4
iptables -A INPUT -m addrtype --dst-type BROADCAST -j DROP
iptables -A INPUT -m mark --mark 0x1/0xff -j ACCEPT
iptables -A LOGDROP -j LOG --log-prefix "dropped: "
iptables -A LOGDROP -j DROP
iptables -A SYN_FLOOD -m limit --limit 100/s --limit-burst 150 -j RETURN
iptables -A SYN_FLOOD -j DROP
iptables -A INPUT -p tcp -g SYN_FLOOD
iptables -A INPUT -j REJECT --reject-with icmp-host-prohibited
iptables -D INPUT -j REJECT --reject-with icmp-host-prohibited
iptables -D INPUT 1
iptables -R INPUT 1 -i lo -j ACCEPT
iptables -Z INPUT
iptables -t nat -A POSTROUTING -o ppp0 -j SNAT --to-source 203.0.113.2
iptables -t nat -A POSTROUTING -o eth1 -j MASQUERADE
iptables -t nat -A PREROUTING -i ppp0 -p tcp --dport 8080 -j DNAT --to-destination 192.0.2.10:80
iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 80 -j REDIRECT --to-ports 3128
iptables -t mangle -A PREROUTING -p tcp --dport 25 -j MARK --set-mark 1
iptables -t mangle -A PREROUTING -j CONNMARK --save-mark
iptables -t raw -A PREROUTING -p udp --dport 53 -j CT --notrack
iptables -t raw -A OUTPUT -p udp --sport 53 -j NOTRACK
iptables -t raw -A PREROUTING -p tcp --dport 2222 -j TRACE
ip6tables -A INPUT -p icmpv6 --icmpv6-type echo-request -j ACCEPT
ip6tables -A INPUT -s 2001:db8::/32 -p tcp --dport 22 -j ACCEPT
