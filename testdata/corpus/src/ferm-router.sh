# ferm on a LAN router: LAN -> WAN forwarded and masqueraded, SSH from the LAN.
cat > /etc/ferm/ferm.conf <<'FERM'
@def $WAN = eth0;
@def $LAN = eth1;
table filter {
    chain INPUT {
        policy DROP;
        mod state state INVALID DROP;
        mod state state (ESTABLISHED RELATED) ACCEPT;
        interface lo ACCEPT;
        interface $LAN proto tcp dport ssh ACCEPT;
        proto icmp ACCEPT;
    }
    chain FORWARD {
        policy DROP;
        mod state state INVALID DROP;
        mod state state (ESTABLISHED RELATED) ACCEPT;
        interface $LAN outerface $WAN ACCEPT;
    }
    chain OUTPUT policy ACCEPT;
}
table nat chain POSTROUTING saddr 192.0.2.0/24 outerface $WAN MASQUERADE;
FERM
