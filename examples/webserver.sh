#!/bin/sh
# A single web server on the Internet (the classic "basic iptables" guide).
# eth0 203.0.113.5/24, default gateway 203.0.113.1.

# Start from a clean table: flush all rules and delete user chains.
iptables -F
iptables -X

# Default policies: nothing comes in or is routed through unless a rule
# below says so; everything the server itself sends is allowed.
iptables -P INPUT DROP
iptables -P FORWARD DROP
iptables -P OUTPUT ACCEPT

# Loopback traffic is always allowed (local services talk over lo).
iptables -A INPUT -i lo -j ACCEPT

# Replies to connections we opened, and related ICMP errors, come back in.
iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT

# New connections to SSH, HTTP and HTTPS are allowed.
iptables -A INPUT -p tcp --dport 22 -m state --state NEW -j ACCEPT
iptables -A INPUT -p tcp --dport 80 -m state --state NEW -j ACCEPT
iptables -A INPUT -p tcp --dport 443 -m state --state NEW -j ACCEPT

# Answer ping.
iptables -A INPUT -p icmp --icmp-type echo-request -j ACCEPT

# Everything else hits the DROP policy.
# Note: this script only writes IPv4 rules. IPv6 is not filtered at all
# (no ip6tables rules), the classic pitfall the .probes file pins down.
