#!/bin/sh
# Web server that limits new HTTP connections: on average 50 per minute,
# bursts of up to 200; new HTTP connections over the limit are dropped.
# eth0 203.0.113.5/24, gateway 203.0.113.1.

iptables -F
iptables -X

iptables -P INPUT DROP
iptables -P FORWARD DROP
iptables -P OUTPUT ACCEPT

iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -p tcp --dport 22 -m state --state NEW -j ACCEPT

# New HTTP connections under the limit are accepted ...
iptables -A INPUT -p tcp --dport 80 -m state --state NEW -m limit --limit 50/minute --limit-burst 200 -j ACCEPT
# ... and the ones over the limit are dropped.
iptables -A INPUT -p tcp --dport 80 -m state --state NEW -j DROP
