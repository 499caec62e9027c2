# ufw on a web server: incoming denied, SSH rate-limited, HTTP and HTTPS open.
ufw default deny incoming
ufw default allow outgoing
ufw limit 22/tcp
ufw allow 80/tcp
ufw allow 443/tcp
ufw --force enable
