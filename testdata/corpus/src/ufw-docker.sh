# ufw on a host forwarding to a container (Docker-like): port 8080 on the WAN DNATed to
# 198.51.100.2:80 on docker0, the container network masqueraded, the forward allowed
# by a route rule.
{
    printf '*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n'
    printf -- '-A PREROUTING -i eth0 -p tcp --dport 8080 -j DNAT --to-destination 198.51.100.2:80\n'
    printf -- '-A POSTROUTING -s 198.51.100.0/24 ! -o docker0 -j MASQUERADE\nCOMMIT\n\n'
    cat /etc/ufw/before.rules
} > /etc/ufw/before.rules.new
mv /etc/ufw/before.rules.new /etc/ufw/before.rules
ufw default deny incoming
ufw allow 22/tcp
ufw route allow in on docker0 out on eth0
ufw route allow proto tcp from any to 198.51.100.2 port 80
ufw --force enable
