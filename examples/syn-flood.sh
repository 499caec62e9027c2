#!/bin/sh
# Web server with SYN-flood protection: new TCP connections (SYN packets)
# go through the syn_flood chain, which lets 100 per second through (with a
# burst of 150) and logs and drops the excess.
# eth0 203.0.113.5/24, gateway 203.0.113.1.

iptables -F
iptables -X

iptables -P INPUT DROP
iptables -P FORWARD DROP
iptables -P OUTPUT ACCEPT

# The rate-limiting chain.
iptables -N syn_flood
# Under the limit: go back to INPUT and continue with the next rule.
iptables -A syn_flood -m limit --limit 100/s --limit-burst 150 -j RETURN
# Over the limit: log it and drop it.
iptables -A syn_flood -j LOG --log-prefix "SYN flood: "
iptables -A syn_flood -j DROP

# Every SYN (new TCP connection attempt) is checked first.
iptables -A INPUT -p tcp --syn -j syn_flood

# Web server basics.
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT
iptables -A INPUT -p tcp --dport 80 -m conntrack --ctstate NEW -j ACCEPT
iptables -A INPUT -p tcp --dport 443 -m conntrack --ctstate NEW -j ACCEPT
iptables -A INPUT -p icmp --icmp-type echo-request -j ACCEPT
