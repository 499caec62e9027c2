# firewalld on a host forwarding to a container: docker0 trusted, WAN port 8080
# forwarded to 198.51.100.2:80, the public zone masquerading.
firewall-offline-cmd --zone=public --add-interface=eth0
firewall-offline-cmd --zone=trusted --add-interface=docker0
firewall-offline-cmd --zone=public --add-masquerade
firewall-offline-cmd --zone=public --add-forward-port=port=8080:proto=tcp:toport=80:toaddr=198.51.100.2
