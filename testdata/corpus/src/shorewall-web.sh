# Shorewall's one-interface example (a standalone server) with SSH, HTTP and HTTPS open.
cp /usr/share/doc/shorewall/examples/one-interface/interfaces \
   /usr/share/doc/shorewall/examples/one-interface/policy \
   /usr/share/doc/shorewall/examples/one-interface/rules \
   /usr/share/doc/shorewall/examples/one-interface/zones \
   /usr/share/doc/shorewall/examples/one-interface/params \
   /usr/share/doc/shorewall/examples/one-interface/shorewall.conf /etc/shorewall/
printf 'NET_IF=eth0\n' >> /etc/shorewall/params
printf 'SSH(ACCEPT)\tnet\t$FW\nWeb(ACCEPT)\tnet\t$FW\n' >> /etc/shorewall/rules
