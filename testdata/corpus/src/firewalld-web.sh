# firewalld on a web server: eth0 in the public zone (ssh and dhcpv6-client by default),
# HTTP and HTTPS added.
firewall-offline-cmd --zone=public --add-interface=eth0
firewall-offline-cmd --zone=public --add-service=http --add-service=https
