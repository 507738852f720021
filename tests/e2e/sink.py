#!/usr/bin/env python3
"""Minimal SMTP sink for the mailoauth end-to-end tests.

Dovecot submission relays the mail it accepts to this server. Every message
received is written, atomically, as one file in --dir (msg-000001.eml, ...)
with the envelope first, as header lines:

    X-Envelope-From: <sender>
    X-Envelope-To: <recipient>       (one line per recipient)

followed by the message exactly as received after dot-unstuffing, with line
endings normalised to LF so that tests can grep it.

Standard library only (socketserver). Listens on 127.0.0.1 by default; with
--port 0 the kernel chooses the port, which is written to --port-file once
the socket is listening. SIGTERM and SIGINT make it exit cleanly (status 0).
"""

import argparse
import itertools
import os
import re
import signal
import socketserver
import sys
import threading
import time

MAX_LINE = 1 << 20          # longest command or data line accepted
MAX_MESSAGE = 64 << 20      # largest message accepted
ADDR_RE = re.compile(r"^(?:MAIL\s+FROM|RCPT\s+TO)\s*:\s*(<[^>]*>|\S+)(.*)$", re.I)


class Sink(socketserver.ThreadingTCPServer):
    """The listening server: holds the output directory and the counter."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, addr, outdir, log):
        super().__init__(addr, Session)
        self.outdir = outdir
        self.logfile = log
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.hostname = "sink.e2e.test"

    def log(self, text):
        if not self.logfile:
            return
        line = "%s %s\n" % (time.strftime("%H:%M:%S"), text)
        with self.lock:
            with open(self.logfile, "a", encoding="utf-8", errors="replace") as f:
                f.write(line)

    def store(self, sender, rcpts, data):
        """Write one message atomically; return its file name."""
        with self.lock:
            n = next(self.counter)
        name = "msg-%06d.eml" % n
        head = "X-Envelope-From: <%s>\n" % sender
        head += "".join("X-Envelope-To: <%s>\n" % r for r in rcpts)
        body = data.replace(b"\r\n", b"\n")
        tmp = os.path.join(self.outdir, ".tmp-" + name)
        with open(tmp, "wb") as f:
            f.write(head.encode("utf-8", "replace") + body)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.outdir, name))
        return name


class Session(socketserver.StreamRequestHandler):
    """One SMTP connection."""

    timeout = 300

    def setup(self):
        super().setup()
        self.peer = "%s:%s" % self.client_address[:2]
        self.reset()

    def reset(self):
        self.sender = None
        self.rcpts = []

    def say(self, text):
        self.server.log("%s S: %s" % (self.peer, text.replace("\r\n", " | ")))
        self.wfile.write((text + "\r\n").encode("utf-8"))
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(MAX_LINE + 2)
        if not line:
            return None
        return line.rstrip(b"\r\n")

    def handle(self):
        self.say("220 %s ESMTP mailoauth test sink" % self.server.hostname)
        while True:
            raw = self.readline()
            if raw is None:
                return
            line = raw.decode("utf-8", "replace")
            self.server.log("%s C: %s" % (self.peer, line))
            verb = line.split(" ", 1)[0].upper()
            handler = getattr(self, "cmd_" + verb, None)
            if handler is None:
                self.say("500 5.5.2 command not recognised")
            elif handler(line) is False:
                return

    def cmd_EHLO(self, line):
        self.reset()
        self.say("250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE %d\r\n250 ENHANCEDSTATUSCODES"
                 % (self.server.hostname, MAX_MESSAGE))

    def cmd_HELO(self, line):
        self.reset()
        self.say("250 %s" % self.server.hostname)

    def parse_addr(self, line):
        m = ADDR_RE.match(line)
        if not m:
            return None
        addr = m.group(1)
        return addr[1:-1] if addr.startswith("<") else addr

    def cmd_MAIL(self, line):
        addr = self.parse_addr(line)
        if addr is None:
            return self.say("501 5.5.4 syntax: MAIL FROM:<address>")
        if self.sender is not None:
            return self.say("503 5.5.1 nested MAIL command")
        self.sender = addr
        self.rcpts = []
        self.say("250 2.1.0 ok")

    def cmd_RCPT(self, line):
        if self.sender is None:
            return self.say("503 5.5.1 need MAIL first")
        addr = self.parse_addr(line)
        if not addr:
            return self.say("501 5.5.4 syntax: RCPT TO:<address>")
        self.rcpts.append(addr)
        self.say("250 2.1.5 ok")

    def cmd_DATA(self, line):
        if not self.rcpts:
            return self.say("503 5.5.1 need RCPT first")
        self.say("354 end data with <CR><LF>.<CR><LF>")
        chunks, size = [], 0
        while True:
            raw = self.rfile.readline(MAX_LINE + 2)
            if not raw:
                return False                        # connection lost mid-message
            if raw.rstrip(b"\r\n") == b".":
                break
            if raw.startswith(b"."):
                raw = raw[1:]                       # dot-unstuffing (RFC 5321 4.5.2)
            size += len(raw)
            if size <= MAX_MESSAGE:
                chunks.append(raw)
        if size > MAX_MESSAGE:
            self.reset()
            return self.say("552 5.3.4 message too big")
        name = self.server.store(self.sender, self.rcpts, b"".join(chunks))
        self.server.log("%s stored %s from=<%s> to=%s" % (self.peer, name, self.sender, self.rcpts))
        self.reset()
        self.say("250 2.0.0 ok queued as %s" % name)

    def cmd_RSET(self, line):
        self.reset()
        self.say("250 2.0.0 ok")

    def cmd_NOOP(self, line):
        self.say("250 2.0.0 ok")

    def cmd_QUIT(self, line):
        self.say("221 2.0.0 bye")
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the listening port here (atomically)")
    ap.add_argument("--dir", required=True, help="directory for received messages")
    ap.add_argument("--log", help="append an SMTP transcript here")
    opts = ap.parse_args()

    os.makedirs(opts.dir, exist_ok=True)
    server = Sink((opts.host, opts.port), opts.dir, opts.log)

    def stop(signum, frame):
        # shutdown() waits for serve_forever() to return: call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    port = server.server_address[1]
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, opts.port_file)
    server.log("listening on %s:%d" % (opts.host, port))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        server.log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
