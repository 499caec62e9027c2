#!/usr/bin/env python3
"""Realistic log lines for scripts/bench-logs: sshd (syslog lines as rsyslog writes
/var/log/auth.log, the mix a brute-forced server sees) and nginx access lines (combined
format, scanners among browsers). Seeded: the same file every run. Documentation
addresses only (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).

Usage: bench-logs-gen.py sshd|nginx N > FILE
"""
import random
import sys

rng = random.Random(9)


def addr():
    r = rng.random()
    if r < 0.85:
        return "%s.%d" % (rng.choice(["192.0.2", "198.51.100", "203.0.113"]), rng.randrange(1, 255))
    return "2001:db8::%x:%x" % (rng.randrange(1, 65535), rng.randrange(1, 65535))


USERS = ["root", "admin", "ubuntu", "test", "oracle", "postgres", "git", "user", "pi", "deploy"]


def sshd(n):
    t = 0
    for i in range(n):
        t += rng.randrange(0, 2)
        h, m, s = (t // 3600) % 24, (t // 60) % 60, t % 60
        pre = "Dec  6 %02d:%02d:%02d web1 sshd[%d]: " % (h, m, s, 10000 + i % 5000)
        a, p, u = addr(), rng.randrange(1024, 65535), rng.choice(USERS)
        r = rng.random()
        if r < 0.30:
            msg = "Failed password for %s from %s port %d ssh2" % (u, a, p)
        elif r < 0.42:
            msg = "Failed password for invalid user %s from %s port %d ssh2" % (u, a, p)
        elif r < 0.54:
            msg = "Invalid user %s from %s port %d" % (u, a, p)
        elif r < 0.64:
            msg = "Connection closed by authenticating user %s %s port %d [preauth]" % (u, a, p)
        elif r < 0.70:
            msg = "Disconnected from invalid user %s %s port %d [preauth]" % (u, a, p)
        elif r < 0.76:
            msg = ("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
                   "tty=ssh ruser= rhost=%s  user=%s" % (a, u))
        elif r < 0.82:
            msg = "Received disconnect from %s port %d:11: Bye Bye [preauth]" % (a, p)
        elif r < 0.86:
            msg = "Accepted publickey for deploy from %s port %d ssh2: ED25519 SHA256:%s" % (
                a, p, "x" * 43)
        elif r < 0.90:
            msg = "pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)"
        elif r < 0.94:
            msg = "Connection closed by %s port %d [preauth]" % (a, p)
        else:
            msg = "error: maximum authentication attempts exceeded for %s from %s port %d ssh2" % (
                u, a, p)
        print(pre + msg)


PATHS = ["/", "/index.html", "/css/site.css", "/js/app.js", "/img/logo.png", "/blog/2026/12/hello"]
PROBES = ["/wp-login.php", "/.env", "/phpmyadmin/index.php", "/admin/config.php", "/.git/config"]
UAS = ["Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
       "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
       "curl/7.88.1", "python-requests/2.31.0"]


def nginx(n):
    for i in range(n):
        s = i % 60
        a = addr()
        r = rng.random()
        if r < 0.70:
            path, status = rng.choice(PATHS), rng.choice([200, 200, 200, 304])
        elif r < 0.85:
            path, status = rng.choice(PROBES), 404
        elif r < 0.92:
            path, status = "/admin/", 401
        elif r < 0.96:
            path, status = "/api/login", 429
        else:
            path, status = "/private/", 403
        print('%s - - [06/Dec/2026:18:%02d:%02d +0000] "GET %s HTTP/1.1" %d %d "-" "%s"' % (
            a, (i // 60) % 60, s, path, status, rng.randrange(100, 50000), rng.choice(UAS)))


{"sshd": sshd, "nginx": nginx}[sys.argv[1]](int(sys.argv[2]))
