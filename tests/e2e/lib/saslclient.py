#!/usr/bin/env python3
"""XOAUTH2 / OAUTHBEARER test client for the end-to-end tests (stdlib only).

curl 7.88 (Debian 12) always picks OAUTHBEARER when the server offers both
mechanisms, even with --login-options AUTH=XOAUTH2 (curl issue #10259), so the
tests drive XOAUTH2 -- and OAUTHBEARER where they want to check the protocol
precisely -- with this client.

  saslclient.py imap --port P --mech XOAUTH2 --user U --token T [--source IP]
      authenticates, then prints "INBOX messages=N"
  saslclient.py smtp --port P --mech OAUTHBEARER --user U --token T \
      [--from A --to B --subject S] [--source IP]
      authenticates, and sends one message when --to is given

Exit status: 0 success, 1 authentication rejected, 2 any other error. The
server's error challenge, if any, is printed to stderr as "challenge: ...".
"""

import argparse
import base64
import email.utils
import imaplib
import smtplib
import socket
import sys


def initial_response(mech, user, token, host, port):
    if mech == "XOAUTH2":
        return "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)
    return "n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (
        user.replace("=", "=3D").replace(",", "=2C"), host, port, token)


class Mechanism:
    """SASL callback for imaplib/smtplib: the initial response, then the
    client's answer to an error challenge (empty for XOAUTH2, ^A for
    OAUTHBEARER as RFC 7628 3.2.3 asks)."""

    def __init__(self, opts):
        self.opts = opts
        self.steps = 0

    def __call__(self, challenge=None):
        self.steps += 1
        if self.steps == 1 and not challenge:
            o = self.opts
            return initial_response(o.mech, o.user, o.token, o.host, o.port)
        text = challenge.decode("utf-8", "replace") if isinstance(challenge, bytes) else str(challenge)
        print("challenge: %s" % text, file=sys.stderr)
        return "" if self.opts.mech == "XOAUTH2" else "\x01"


class IMAP(imaplib.IMAP4):
    """imaplib.IMAP4 with an optional source address."""

    def __init__(self, host, port, source, timeout):
        self.source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        src = (self.source, 0) if self.source else None
        return socket.create_connection((self.host, self.port), timeout, source_address=src)


def run_imap(opts):
    conn = IMAP(opts.host, opts.port, opts.source, opts.timeout)
    try:
        mech = Mechanism(opts)
        try:
            conn.authenticate(opts.mech, lambda chal: mech(chal).encode("utf-8"))
        except imaplib.IMAP4.error as e:
            print("authentication failed: %s" % e, file=sys.stderr)
            return 1
        typ, data = conn.status("INBOX", "(MESSAGES)")
        text = data[0].decode() if data and data[0] else ""
        count = text.rsplit("MESSAGES", 1)[-1].strip(" ()") if "MESSAGES" in text else "?"
        print("INBOX messages=%s" % count)
        conn.logout()
        return 0
    finally:
        try:
            conn.shutdown()
        except OSError:
            pass


def run_smtp(opts):
    src = (opts.source, 0) if opts.source else None
    with smtplib.SMTP(opts.host, opts.port, timeout=opts.timeout, source_address=src) as s:
        s.ehlo("client.e2e.test")
        mech = Mechanism(opts)
        # Like Postfix and curl, send the initial response on the AUTH line only
        # when the line stays within 512 octets; otherwise after an empty 334.
        # (Dovecot 2.3 answers "500 5.5.2 Line too long" to AUTH lines over ~1 KB,
        # which a real JWT access token easily makes.)
        ir = initial_response(opts.mech, opts.user, opts.token, opts.host, opts.port)
        inline = len("AUTH %s " % opts.mech) + len(base64.b64encode(ir.encode())) + 2 <= 512
        try:
            s.auth(opts.mech, mech, initial_response_ok=inline)
        except smtplib.SMTPAuthenticationError as e:
            print("authentication failed: %s %s" % (e.smtp_code, e.smtp_error.decode("utf-8", "replace")),
                  file=sys.stderr)
            return 1
        if opts.to:
            sender = opts.sender or opts.user
            msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n\r\n%s\r\n"
                   % (sender, opts.to, opts.subject, email.utils.formatdate(),
                      email.utils.make_msgid(domain="client.e2e.test"), opts.body))
            s.sendmail(sender, [opts.to], msg)
            print("sent")
    return 0


def main():
    ap = argparse.ArgumentParser(description="XOAUTH2/OAUTHBEARER test client")
    ap.add_argument("protocol", choices=("imap", "smtp"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--source", help="local address to connect from, e.g. 127.0.0.2")
    ap.add_argument("--mech", default="XOAUTH2", type=str.upper, choices=("XOAUTH2", "OAUTHBEARER"))
    ap.add_argument("--user", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--from", dest="sender")
    ap.add_argument("--to")
    ap.add_argument("--subject", default="e2e test message")
    ap.add_argument("--body", default="sent by tests/e2e/lib/saslclient.py")
    ap.add_argument("--timeout", type=float, default=20)
    opts = ap.parse_args()
    try:
        return run_imap(opts) if opts.protocol == "imap" else run_smtp(opts)
    except (OSError, imaplib.IMAP4.error, smtplib.SMTPException) as e:
        print("error: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
