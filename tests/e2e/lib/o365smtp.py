#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A scripted SMTP server that answers like Office 365 (smtp.office365.com:587),
for the end-to-end tests of `mailoauth test` (stdlib only, loopback only).

  o365smtp.py --cert server.pem --key server.key --port-file FILE
              [--scenario NAME | --scenario-file FILE] [--log FILE]

It listens on two ports of 127.0.0.1 chosen by the kernel and writes
"STARTTLS-PORT TLS-PORT" to --port-file once listening: the first speaks plain
SMTP with STARTTLS (like port 587), the second TLS from the start (like 465).
Like Office 365 it offers STARTTLS but no AUTH before TLS, and `AUTH LOGIN
XOAUTH2` after it (no OAUTHBEARER). The scenario -- read from --scenario-file
at every connection when given, so one server serves a whole test -- picks
the failure, with the exact lines Microsoft (or Google) sends:

  success        everything accepted
  auth-5.7.3     535 5.7.3 Authentication unsuccessful
  tenant         535 5.7.139 ... SmtpClientAuthentication is disabled for the Tenant
  mailbox        535 5.7.139 ... SmtpClientAuthentication is disabled for the Mailbox
  secdefaults    535 5.7.139 ... user is locked by your organization's security defaults policy
  criteria       535 5.7.139 ... the request did not meet the criteria to be authenticated successfully
  basic          550 5.7.30 Basic authentication is not supported for Client Submission
  hve            501 5.5.127 (high-volume email: the token expires too soon)
  sendas         550 5.7.60 to MAIL FROM unless the sender is the user who logged in
  sendasdenied   554 5.2.252 SendAsDenied at the end of DATA
  authlogin      only AUTH LOGIN after STARTTLS
  nostarttls     no STARTTLS offered
  gmail          Google's way: a 334 error challenge, then a multi-line 535-5.7.8
  busy           421 4.3.2 as the greeting
  garbage        an HTTP answer instead of a greeting
  silent         no greeting at all
  inject         an extra line after the STARTTLS answer, in the same packet
  echo           a hostile server: its 535 repeats the token it was sent

The log (--log) shows the dialogue with the AUTH arguments left out.
"""

import argparse
import base64
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time

HOST = "SN4PR0201CA0045.namprd02.prod.outlook.com"
STAMP = "[%s 2024-05-01T10:00:00.000Z 08DC69C5D4E3F2A1]" % HOST
LINE_MAX = 16384

AUTH_FAILURES = {
    "auth-5.7.3": "535 5.7.3 Authentication unsuccessful " + STAMP,
    "tenant": "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
              "for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. " + STAMP,
    "mailbox": "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
               "for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. " + STAMP,
    "secdefaults": "535 5.7.139 Authentication unsuccessful, user is locked by your organization's "
                   "security defaults policy. Contact your administrator. " + STAMP,
    "criteria": "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria "
                "to be authenticated successfully. Contact your administrator. " + STAMP,
    "basic": "550 5.7.30 Basic authentication is not supported for Client Submission. " + STAMP,
    "hve": "501 5.5.127 Authentication unsuccessful, the token expires too soon. Use a token "
           "that is valid for at least 15 minutes. " + STAMP,
}

GMAIL_CHALLENGE = {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"}
GMAIL_535 = ["535-5.7.8 Username and Password not accepted. For more information, go to",
             "535 5.7.8  https://support.google.com/mail/?p=BadCredentials "
             "a1-20020a170906000100b00a1b2c3d4e5fsm1234567ejb.12 - gsmtp"]


class Options:
    scenario = "success"
    scenario_file = None
    log = None
    ctx = None
    lock = threading.Lock()


def scenario():
    if Options.scenario_file:
        try:
            with open(Options.scenario_file) as f:
                return f.read().strip() or "success"
        except OSError:
            return "success"
    return Options.scenario


def log(line):
    if not Options.log:
        return
    with Options.lock, open(Options.log, "a") as f:
        f.write("%s %s\n" % (time.strftime("%H:%M:%S"), line))


class Session:
    def __init__(self, sock, implicit):
        self.sock = sock
        self.tls = implicit
        self.reader = sock.makefile("rb")
        self.scenario = scenario()
        self.user = None
        self.authed = False
        self.sender = None

    def send(self, *lines):
        data = "".join(line + "\r\n" for line in lines).encode()
        for line in lines:
            log("S: " + line)
        self.sock.sendall(data)

    def readline(self):
        line = self.reader.readline(LINE_MAX)
        if not line:
            return None
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        return text

    def ehlo(self, name):
        lines = ["%s Hello [127.0.0.1]" % HOST, "SIZE 157286400", "PIPELINING", "DSN",
                 "ENHANCEDSTATUSCODES"]
        if not self.tls and self.scenario != "nostarttls":
            lines.append("STARTTLS")
        if self.tls:
            lines.append("AUTH LOGIN" if self.scenario == "authlogin" else "AUTH LOGIN XOAUTH2")
        lines += ["8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"]
        self.send(*["250-" + l for l in lines[:-1]], "250 " + lines[-1])

    def starttls(self):
        if self.tls or self.scenario == "nostarttls":
            self.send("503 5.5.1 Bad command sequence " + STAMP)
            return True
        if self.scenario == "inject":
            self.send("220 2.0.0 SMTP server ready", "250 2.0.0 injected before TLS")
        else:
            self.send("220 2.0.0 SMTP server ready")
        self.reader = None
        try:
            self.sock = Options.ctx.wrap_socket(self.sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log("TLS handshake failed: %s" % e)
            return False
        self.tls = True
        self.reader = self.sock.makefile("rb")
        log("TLS started: %s" % self.sock.version())
        return True

    def check_xoauth2(self, b64):
        """The user of a well-formed XOAUTH2 response, else None."""
        try:
            raw = base64.b64decode(b64, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        parts = raw.split("\x01")
        if len(parts) != 4 or parts[2:] != ["", ""] or not parts[0].startswith("user=") \
                or not parts[1].startswith("auth=Bearer ") or len(parts[1]) <= 12:
            return None
        return parts[0][5:]

    def auth(self, args):
        if not self.tls:
            self.send("504 5.7.4 Unrecognized authentication type " + STAMP)
            return True
        mech = args[0].upper() if args else ""
        if mech != "XOAUTH2" or (self.scenario == "authlogin"):
            self.send("504 5.7.4 Unrecognized authentication type " + STAMP)
            return True
        if len(args) > 1:
            response = args[1]
        else:
            self.send("334 ")
            response = self.readline()
            if response is None:
                return False
            log("C: [the XOAUTH2 response, %d bytes]" % len(response))
        self.user = self.check_xoauth2(response)
        if not self.user:
            self.send("535 5.7.3 Authentication unsuccessful " + STAMP)
            return True
        if self.scenario == "echo":
            token = base64.b64decode(response).decode().split("\x01")[1][12:]
            log("S: 535 5.7.3 Authentication unsuccessful for [the token] " + STAMP)
            self.sock.sendall(("535 5.7.3 Authentication unsuccessful for %s %s\r\n"
                               % (token, STAMP)).encode())
            return True
        if self.scenario in AUTH_FAILURES:
            self.send(AUTH_FAILURES[self.scenario])
            return True
        if self.scenario == "gmail":
            self.send("334 " + base64.b64encode(json.dumps(GMAIL_CHALLENGE).encode()).decode())
            answer = self.readline()
            if answer is None:
                return False
            log("C: %r" % answer)
            self.send(*GMAIL_535)
            return True
        self.authed = True
        self.send("235 2.7.0 Authentication successful")
        return True

    def mail(self, arg):
        if not self.authed:
            self.send("530 5.7.57 Client not authenticated to send mail. " + STAMP)
            return
        sender = arg.partition(":")[2].strip().strip("<>")
        if self.scenario == "sendas" and sender.lower() != (self.user or "").lower():
            self.send("550 5.7.60 SMTP; Client does not have permissions to send as this sender "
                      + STAMP)
            return
        self.sender = sender
        self.send("250 2.1.0 Sender OK")

    def data(self):
        if not self.sender:
            self.send("503 5.5.1 Bad command sequence " + STAMP)
            return True
        self.send("354 Start mail input; end with <CRLF>.<CRLF>")
        size = 0
        while True:
            line = self.readline()
            if line is None:
                return False
            if line == ".":
                break
            size += len(line) + 2
            if size > 1 << 20:
                return False
        log("C: [a message of %d bytes]" % size)
        if self.scenario == "sendasdenied":
            self.send("554 5.2.252 SendAsDenied; %s not allowed to send as %s; "
                      "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; "
                      "Failed to process message due to a permanent exception with message "
                      "[BeginDiagnosticData]Cannot submit message. 0.35250:0A006F8A, "
                      "1.36674:0A000000, 1.61250:00000000 [Hostname=%s]"
                      % (self.user, self.sender, HOST))
        else:
            self.send("250 2.0.0 OK <%d.mailoauth-test@%s> [Hostname=%s]"
                      % (int(time.time()), HOST, HOST))
        self.sender = None
        return True

    def run(self):
        sc = self.scenario
        log("connection (%s, scenario %s)" % ("TLS" if self.tls else "plain", sc))
        if sc == "silent":
            self.sock.settimeout(30)
            self.readline()
            return
        if sc == "garbage":
            self.send("HTTP/1.1 400 Bad Request", "Content-Length: 0", "")
            return
        if sc == "busy":
            self.send("421 4.3.2 Service not available, closing transmission channel " + STAMP)
            return
        self.send("220 %s Microsoft ESMTP MAIL Service ready at Wed, 1 May 2024 10:00:00 +0000"
                  % HOST)
        while True:
            line = self.readline()
            if line is None:
                return
            verb, _, rest = line.partition(" ")
            verb = verb.upper()
            log("C: " + (("AUTH %s [not shown]" % rest.split(" ")[0]) if verb == "AUTH" else line))
            if verb in ("EHLO", "HELO"):
                self.ehlo(rest)
            elif verb == "STARTTLS":
                if not self.starttls():
                    return
            elif verb == "AUTH":
                if not self.auth(rest.split()):
                    return
            elif verb == "MAIL":
                self.mail(rest)
            elif verb == "RCPT":
                if self.sender:
                    self.send("250 2.1.5 Recipient OK")
                else:
                    self.send("503 5.5.1 Bad command sequence " + STAMP)
            elif verb == "DATA":
                if not self.data():
                    return
            elif verb == "RSET":
                self.sender = None
                self.send("250 2.0.0 Resetting")
            elif verb == "NOOP":
                self.send("250 2.0.0 OK")
            elif verb == "QUIT":
                self.send("221 2.0.0 Service closing transmission channel")
                return
            else:
                self.send("500 5.3.3 Unrecognized command " + STAMP)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        implicit = self.server.implicit
        try:
            if implicit:
                sock = Options.ctx.wrap_socket(sock, server_side=True)
            Session(sock, implicit).run()
        except (OSError, ssl.SSLError) as e:
            log("connection ended: %s" % e)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, implicit):
        self.implicit = implicit
        super().__init__(("127.0.0.1", 0), Handler)


def main():
    ap = argparse.ArgumentParser(description="an SMTP server that answers like Office 365")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--scenario", default="success")
    ap.add_argument("--scenario-file")
    ap.add_argument("--log")
    opts = ap.parse_args()
    Options.scenario = opts.scenario
    Options.scenario_file = opts.scenario_file
    Options.log = opts.log
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(opts.cert, opts.key)
    Options.ctx = ctx

    servers = [Server(False), Server(True)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (servers[0].server_address[1], servers[1].server_address[1]))
    os.rename(tmp, opts.port_file)
    log("listening on %d (STARTTLS) and %d (TLS)"
        % (servers[0].server_address[1], servers[1].server_address[1]))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    for s in servers:
        s.shutdown()
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
