#!/bin/sh
# Corpus for rampart-nft: every match and target of the ruleset model at least once, in a
# chain where the kernel accepts it. Compiled to tests/golden/corpus.nft and loaded into a
# fresh network namespace by the kernel test.

ipset create bans hash:ip timeout 3600
ipset add bans 192.0.2.7
ipset add bans 192.0.2.8 timeout 300
ipset create nets hash:net
ipset add nets 198.51.100.0/24
ipset add nets 203.0.113.0/25
ipset create nets6 hash:net family inet6
ipset add nets6 2001:db8:1::/48
ipset create svc hash:ip,port
ipset add svc 192.0.2.1,tcp:80
ipset add svc 192.0.2.1,udp:53
ipset create netsvc hash:net,port
ipset add netsvc 192.0.2.0/24,tcp:22
ipset create seen hash:ip
ipset create ports bitmap:port range 1-1024
ipset add ports 22
ipset add ports 80

iptables -P INPUT DROP
iptables -P FORWARD DROP
iptables -N checks
iptables -N logdrop
iptables -A logdrop -j LOG --log-prefix "dropped: " --log-level 6
iptables -A logdrop -j DROP

# Addresses, interfaces, protocols, fragments.
iptables -A INPUT -s 192.0.2.0/24 -d 203.0.113.5 -j ACCEPT
iptables -A INPUT ! -s 198.51.100.7 -i eth+ -j checks
iptables -A INPUT ! -i lo -p gre -j RETURN
iptables -A INPUT ! -p udp -f -j DROP
iptables -A INPUT -p tcp ! -f -m comment --comment "a \"quoted\" comment" -j ACCEPT
# tcp/udp ports, ranges, flags.
iptables -A checks -p tcp --sport 1024:65535 --dport 22 -j ACCEPT
iptables -A checks -p tcp ! --dport 23 --tcp-flags SYN,RST,ACK,FIN SYN -j ACCEPT
iptables -A checks -p tcp --tcp-flags ALL NONE -j logdrop
iptables -A checks -p tcp ! --syn -m state --state NEW -j DROP
iptables -A checks -p udp --dport 53 -j ACCEPT
iptables -A checks -p udp ! --sport 67:68 -j RETURN
# icmp.
iptables -A checks -p icmp --icmp-type echo-request -j ACCEPT
iptables -A checks -p icmp --icmp-type fragmentation-needed -j ACCEPT
iptables -A checks -p icmp ! --icmp-type 3/4 -j RETURN
iptables -A checks -p icmp ! --icmp-type echo-reply -j RETURN
# multiport.
iptables -A checks -p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT
iptables -A checks -p tcp -m multiport ! --sports 1:1023 -j RETURN
iptables -A checks -p udp -m multiport --ports 123,5353 -j ACCEPT
iptables -A checks -p udp -m multiport ! --ports 1000:2000 -j RETURN
# state / conntrack.
iptables -A checks -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A checks -m state ! --state INVALID -j RETURN
iptables -A checks -m conntrack --ctstate DNAT -j ACCEPT
iptables -A checks -m conntrack ! --ctstate SNAT,DNAT --ctproto tcp --ctorigsrc 192.0.2.0/24 ! --ctorigdst 198.51.100.0/24 -j RETURN
iptables -A checks -m conntrack --ctstate UNTRACKED -j ACCEPT
# limit, hashlimit, connlimit, recent.
iptables -A checks -p icmp -m limit --limit 5/second --limit-burst 10 -j ACCEPT
iptables -A checks -m limit --limit 100/minute -j logdrop
iptables -A checks -p tcp --dport 80 -m hashlimit --hashlimit-above 20/second --hashlimit-burst 40 --hashlimit-mode srcip --hashlimit-srcmask 24 --hashlimit-name http -j DROP
iptables -A checks -p tcp -m hashlimit --hashlimit-upto 5/minute --hashlimit-mode srcip,dstport --hashlimit-name perport --hashlimit-htable-expire 60000 -j ACCEPT
iptables -A checks -p tcp -m hashlimit --hashlimit-upto 1/hour --hashlimit-name global -j ACCEPT
# issue 14: byte rates, rates above 10000/s, ICMP code ranges, masks that are no prefix,
# SET adding and deleting at once.
iptables -A checks -p tcp --dport 443 -m hashlimit --hashlimit-above 512kb/s --hashlimit-burst 1mb --hashlimit-mode srcip --hashlimit-name bytes -j DROP
iptables -A checks -p udp -m hashlimit --hashlimit-upto 100000/sec --hashlimit-name fast -j ACCEPT
iptables -A checks -p icmp --icmp-type 3/1:3 -j ACCEPT
iptables -A checks -s 192.0.2.13/255.0.255.0 -j ACCEPT
iptables -A checks -p tcp --dport 25 -j SET --add-set seen src --del-set bans src
iptables -t mangle -A FORWARD -j ECN --ecn-ip-ect 0
iptables -A checks -p tcp --dport 22 -m connlimit --connlimit-above 3 --connlimit-mask 24 -j REJECT --reject-with tcp-reset
iptables -A checks -p tcp --dport 25 -m connlimit --connlimit-upto 10 -j ACCEPT
iptables -A checks -p tcp --dport 22 -m recent --name ssh --set
iptables -A checks -p tcp --dport 22 -m recent --name ssh --update --seconds 60 -j DROP
iptables -A checks -p tcp --dport 22 -m recent --name ssh --rcheck --seconds 60 --rdest -j DROP
iptables -A checks -m recent --name portscan --remove
iptables -A checks -m recent ! --rcheck --name portscan --mask 255.255.255.0 -j RETURN
# ipset matches.
iptables -A checks -m set --match-set bans src -j DROP
iptables -A checks -m set ! --match-set nets dst -j RETURN
iptables -A checks -m set --match-set svc dst,dst -j ACCEPT
iptables -A checks -m set --match-set netsvc src,dst -j ACCEPT
iptables -A checks -p tcp -m set --match-set ports dst -j ACCEPT
# iprange, mac, length, addrtype, mark.
iptables -A checks -m iprange --src-range 192.0.2.10-192.0.2.20 ! --dst-range 203.0.113.1-203.0.113.9 -j ACCEPT
iptables -A checks -m mac --mac-source 00:11:22:33:44:55 -j ACCEPT
iptables -A checks -m mac ! --mac-source 00:11:22:33:44:56 -j RETURN
iptables -A checks -m length --length 1000:1500 -j logdrop
iptables -A checks -m length ! --length 64 -j RETURN
iptables -A checks -m addrtype --dst-type LOCAL -j ACCEPT
iptables -A checks -m addrtype ! --src-type BROADCAST,MULTICAST --limit-iface-in -j RETURN
iptables -A checks -m mark --mark 0x1 -j ACCEPT
iptables -A checks -m mark ! --mark 0x2/0xff -j RETURN
# REJECT variants, goto.
iptables -A checks -p tcp --dport 113 -j REJECT
iptables -A checks -p udp --dport 111 -j REJECT --reject-with icmp-host-prohibited
iptables -A checks -p udp --dport 112 -j REJECT --reject-with icmp-admin-prohibited
iptables -A checks -p udp --dport 137 -g logdrop
iptables -A checks -j LOG
iptables -A checks -j RETURN
iptables -A FORWARD -i eth0 -o ppp0 -j ACCEPT
iptables -A OUTPUT -m addrtype --dst-type LOCAL --limit-iface-out -j ACCEPT
iptables -A OUTPUT -p udp -j REJECT --reject-with icmp-net-unreachable
iptables -A OUTPUT
# nat.
iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 8080 -j DNAT --to-destination 192.0.2.10:80
iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 8443 -j DNAT --to-destination 192.0.2.10-192.0.2.12 --random --persistent
iptables -t nat -A PREROUTING -i eth1 -p tcp --dport 80 -j REDIRECT --to-ports 3128
iptables -t nat -A OUTPUT -p tcp --dport 81 -j REDIRECT
iptables -t nat -A POSTROUTING -o ppp0 -s 192.0.2.0/24 -j SNAT --to-source 203.0.113.2
iptables -t nat -A POSTROUTING -o ppp1 -p udp -j SNAT --to-source 203.0.113.2-203.0.113.4:1024-2048
iptables -t nat -A POSTROUTING -o ppp2 -j MASQUERADE
iptables -t nat -A POSTROUTING -o ppp3 -p tcp -j MASQUERADE --to-ports 1024-2048 --random
# mangle, raw.
iptables -t mangle -A PREROUTING -i eth0 -j MARK --set-mark 0x1
iptables -t mangle -A PREROUTING -i eth1 -j MARK --set-xmark 0x2/0xff
iptables -t mangle -A PREROUTING -i eth2 -j MARK --or-mark 0x4
iptables -t mangle -A PREROUTING -j CONNMARK --restore-mark
iptables -t mangle -A POSTROUTING -j CONNMARK --save-mark
iptables -t mangle -A FORWARD -j CONNMARK --set-mark 0x10/0xf0
iptables -t mangle -A OUTPUT -p tcp --dport 25 -j MARK --set-mark 0x25
iptables -t mangle -A INPUT -j CONNMARK --restore-mark --ctmask 0xff
iptables -t raw -A PREROUTING -p udp --dport 53 -j CT --notrack
iptables -t raw -A OUTPUT -p icmp -j TRACE
iptables -t security -A INPUT -j ACCEPT

# IPv6.
ip6tables -P INPUT DROP
ip6tables -A INPUT -s 2001:db8::/32 -p ipv6-icmp --icmpv6-type echo-request -j ACCEPT
ip6tables -A INPUT -m set --match-set nets6 src -j ACCEPT
ip6tables -A INPUT -p tcp --dport 22 -m hashlimit --hashlimit-upto 10/second --hashlimit-mode srcip --hashlimit-srcmask 64 --hashlimit-name ssh6 -j ACCEPT
ip6tables -A INPUT -p tcp --dport 23 -m recent --name telnet --set -j DROP
ip6tables -A INPUT -p tcp -j REJECT --reject-with tcp-reset
ip6tables -A INPUT -p udp -j REJECT
ip6tables -A INPUT -j REJECT --reject-with icmp6-adm-prohibited
ip6tables -t nat -A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination [2001:db8::10]:80
ip6tables -t nat -A POSTROUTING -o ppp0 -j SNAT --to-source 2001:db8::1-2001:db8::4
