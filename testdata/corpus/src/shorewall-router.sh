# Shorewall's two-interfaces example (a LAN router), masquerading the LAN.
for f in interfaces policy rules zones params shorewall.conf stoppedrules; do
    cp /usr/share/doc/shorewall/examples/two-interfaces/$f /etc/shorewall/
done
printf 'NET_IF=eth0\nLOC_IF=eth1\n' >> /etc/shorewall/params
printf '?FORMAT 2\nMASQUERADE\t192.0.2.0/24\tNET_IF\n' > /etc/shorewall/snat
