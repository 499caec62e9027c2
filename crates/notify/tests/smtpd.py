"""A real SMTP server for rampart-notify's tests (aiosmtpd, Debian's python3-aiosmtpd).

Usage: smtpd.py MODE PORT OUTDIR [CERT KEY] [USER PASSWORD]
  MODE    plain | starttls (STARTTLS offered and required) | tls (implicit TLS)
  PORT    0 picks a free one; the port is printed on stdout once listening
Each message received is written to OUTDIR/N.eml with X-Test-* headers recording the
envelope, whether TLS was on and whether the client authenticated. Runs until stdin closes.
"""
import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

mode, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cert = key = user = password = None
rest = sys.argv[4:]
if mode != "plain":
    cert, key, rest = rest[0], rest[1], rest[2:]
if rest:
    user, password = rest[0], rest[1]


class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(outdir) if f.endswith(".eml")])
        head = "X-Test-From: %s\nX-Test-To: %s\nX-Test-Tls: %s\nX-Test-Auth: %s\n" % (
            envelope.mail_from,
            ",".join(envelope.rcpt_tos),
            session.ssl is not None or mode == "tls",
            bool(session.authenticated),
        )
        tmp = os.path.join(outdir, ".%d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(head.encode() + envelope.original_content)
        os.rename(tmp, os.path.join(outdir, "%d.eml" % n))
        return "250 OK queued"


def authenticate(server, session, envelope, mechanism, data):
    ok = data.login == user.encode() and data.password == password.encode()
    return AuthResult(success=ok)


if port == 0:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
ctx = None
if mode != "plain":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
kw = dict(hostname="127.0.0.1", port=port, server_hostname="mx.test")
if user:
    kw.update(authenticator=authenticate, auth_required=True, auth_require_tls=True)
if mode == "starttls":
    kw.update(tls_context=ctx, require_starttls=True)
elif mode == "tls":
    kw.update(ssl_context=ctx)
controller = Controller(Handler(), **kw)
controller.start()
print(port, flush=True)
sys.stdin.read()
controller.stop()
