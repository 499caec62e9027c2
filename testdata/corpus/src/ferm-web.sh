# ferm on a web server (the shape of ferm's own examples).
cat > /etc/ferm/ferm.conf <<'FERM'
@def $TCP_SERVICES = (ssh http https);
domain (ip ip6) table filter {
    chain INPUT {
        policy DROP;
        mod conntrack ctstate INVALID DROP;
        mod conntrack ctstate (ESTABLISHED RELATED) ACCEPT;
        interface lo ACCEPT;
        proto tcp dport $TCP_SERVICES ACCEPT;
    }
    chain OUTPUT policy ACCEPT;
    chain FORWARD policy DROP;
}
domain ip table filter chain INPUT proto icmp icmp-type echo-request ACCEPT;
domain ip6 table filter chain INPUT proto ipv6-icmp ACCEPT;
FERM
