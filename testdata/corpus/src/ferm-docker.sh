# ferm on a host forwarding to a container: port 8080 DNATed to 198.51.100.2:80.
cat > /etc/ferm/ferm.conf <<'FERM'
@def $WAN = eth0;
@def $DOCK = docker0;
table filter {
    chain INPUT {
        policy DROP;
        mod conntrack ctstate (ESTABLISHED RELATED) ACCEPT;
        interface lo ACCEPT;
        proto tcp dport ssh ACCEPT;
    }
    chain FORWARD {
        policy DROP;
        mod conntrack ctstate (ESTABLISHED RELATED) ACCEPT;
        interface $DOCK outerface $WAN ACCEPT;
        interface $WAN outerface $DOCK daddr 198.51.100.2 proto tcp dport http mod conntrack ctstate DNAT ACCEPT;
    }
}
table nat {
    chain PREROUTING interface $WAN proto tcp dport 8080 DNAT to 198.51.100.2:80;
    chain POSTROUTING saddr 198.51.100.0/24 outerface !$DOCK MASQUERADE;
}
FERM
