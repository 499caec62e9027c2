#!/bin/sh
# "Secure your server": default deny in every direction, then open only
# what the server needs. eth0 203.0.113.5/24, gateway 203.0.113.1.

iptables -F
iptables -X

# Default DROP everywhere: nothing in, nothing out, nothing through.
iptables -P INPUT DROP
iptables -P FORWARD DROP
iptables -P OUTPUT DROP

# Loopback in both directions.
iptables -A INPUT -i lo -j ACCEPT
iptables -A OUTPUT -o lo -j ACCEPT

# Traffic belonging to connections already allowed, both directions.
iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT

# SSH in.
iptables -A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT

# Out: DNS (UDP and TCP), HTTP and HTTPS (package updates), NTP.
iptables -A OUTPUT -p udp --dport 53 -m conntrack --ctstate NEW -j ACCEPT
iptables -A OUTPUT -p tcp --dport 53 -m conntrack --ctstate NEW -j ACCEPT
iptables -A OUTPUT -p tcp --dport 80 -m conntrack --ctstate NEW -j ACCEPT
iptables -A OUTPUT -p tcp --dport 443 -m conntrack --ctstate NEW -j ACCEPT
iptables -A OUTPUT -p udp --dport 123 -m conntrack --ctstate NEW -j ACCEPT

# Log the rest, then refuse it. Incoming traffic is silently DROPped (a
# scanner learns nothing and has to wait for its timeouts); outgoing traffic
# is REJECTed so that a local program that is not allowed out fails at once
# instead of hanging.
iptables -A INPUT -j LOG --log-prefix "INPUT denied: "
iptables -A INPUT -j DROP
iptables -A OUTPUT -j LOG --log-prefix "OUTPUT denied: "
iptables -A OUTPUT -j REJECT
