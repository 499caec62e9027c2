# ufw on a LAN router (the Ubuntu guide's recipe): forwarding LAN -> WAN routed, NAT
# by a MASQUERADE in before.rules, SSH from the LAN only.
{
    printf '*nat\n:POSTROUTING ACCEPT [0:0]\n'
    printf -- '-A POSTROUTING -s 192.0.2.0/24 -o eth0 -j MASQUERADE\nCOMMIT\n\n'
    cat /etc/ufw/before.rules
} > /etc/ufw/before.rules.new
mv /etc/ufw/before.rules.new /etc/ufw/before.rules
ufw default deny incoming
ufw allow in on eth1 to any port 22 proto tcp
ufw route allow in on eth1 out on eth0
ufw --force enable
