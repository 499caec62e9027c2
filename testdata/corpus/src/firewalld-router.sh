# firewalld on a LAN router: eth0 external (masquerading), eth1 internal, a policy
# accepting LAN -> WAN forwarding.
firewall-offline-cmd --zone=external --add-interface=eth0
firewall-offline-cmd --zone=internal --add-interface=eth1
firewall-offline-cmd --new-policy=lan-out
firewall-offline-cmd --policy=lan-out --add-ingress-zone=internal
firewall-offline-cmd --policy=lan-out --add-egress-zone=external
firewall-offline-cmd --policy=lan-out --set-target=ACCEPT
