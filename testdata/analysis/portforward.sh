#!/bin/sh
# A router (LAN eth0 192.0.2.1/24, WAN ppp0 203.0.113.2) forwarding its WAN port 8080 to
# the web server 192.0.2.10:80 inside (examples/router.host describes the host).
iptables -P INPUT DROP
iptables -P FORWARD DROP
iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -i eth0 -p tcp --dport 22 -j ACCEPT
iptables -A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A FORWARD -i ppp0 -o eth0 -d 192.0.2.10 -p tcp --dport 80 -j ACCEPT
iptables -t nat -A PREROUTING -i ppp0 -p tcp --dport 8080 -j DNAT --to-destination 192.0.2.10:80
iptables -t nat -A POSTROUTING -o ppp0 -j SNAT --to-source 203.0.113.2
