# Shorewall with a container zone: docker0 as zone `dock`, WAN port 8080 DNATed to
# 198.51.100.2:80, the container network masqueraded.
for f in interfaces policy rules zones params shorewall.conf; do
    cp /usr/share/doc/shorewall/examples/two-interfaces/$f /etc/shorewall/
done
printf 'NET_IF=eth0\nLOC_IF=docker0\n' >> /etc/shorewall/params
sed -i 's/^loc\b/dock/' /etc/shorewall/zones /etc/shorewall/interfaces
sed -i 's/^loc\t/dock\t/; s/\tloc\t/\tdock\t/' /etc/shorewall/policy /etc/shorewall/rules
printf '?FORMAT 2\nMASQUERADE\t198.51.100.0/24\tNET_IF\n' > /etc/shorewall/snat
printf 'DNAT\tnet\tdock:198.51.100.2:80\ttcp\t8080\n' >> /etc/shorewall/rules
