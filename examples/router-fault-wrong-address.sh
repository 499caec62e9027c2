#!/bin/sh
# FAULTY boundary router (fault: SNAT --to-source 203.0.113.20, a typo for the
# router's address 203.0.113.2: packets leave with an address nobody answers
# for, so the replies are lost on the WAN).
# Otherwise identical to router.sh.
#
#   eth0: LAN 192.0.2.0/24, the router is 192.0.2.1
#   ppp0: WAN 203.0.113.2/24, upstream router 203.0.113.1 (default route)

iptables -F
iptables -X
iptables -t nat -F

# The router itself: SSH from the LAN only, ping from anywhere, replies.
iptables -P INPUT DROP
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -i eth0 -p tcp --dport 22 -m state --state NEW -j ACCEPT
iptables -A INPUT -p icmp --icmp-type echo-request -j ACCEPT
iptables -P OUTPUT ACCEPT

# Routed traffic: nothing passes unless allowed below.
iptables -P FORWARD DROP
# The LAN may open connections to the Internet ...
iptables -A FORWARD -i eth0 -o ppp0 -m state --state NEW,ESTABLISHED,RELATED -j ACCEPT
# ... and only the replies come back in.
iptables -A FORWARD -i ppp0 -o eth0 -m state --state ESTABLISHED,RELATED -j ACCEPT

# Everything leaving on the WAN gets the router's public address as source,
# so that replies find their way back.
iptables -t nat -A POSTROUTING -o ppp0 -j SNAT --to-source 203.0.113.20
