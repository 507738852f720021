#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench-sink.py - the SMTP server at the far end of tests/bench/postfix-throughput:
# it accepts mail as fast as it can and only counts it.
#
#   bench-sink.py --port-file F --status-file S --user U --password P --token-file T
#
# Listens on 127.0.0.1 (port 0: the kernel's choice, written to --port-file),
# offers PIPELINING and AUTH PLAIN XOAUTH2, and requires AUTH before MAIL.
# AUTH takes an initial response or the 334 continuation. Both mechanisms cost
# the same: one base64 decode and one set lookup of the decoded bytes.
#   PLAIN:   [U] NUL U NUL P
#   XOAUTH2: user=U ^A auth=Bearer TOKEN ^A ^A, TOKEN read from --token-file
#            at the first XOAUTH2 AUTH (the bench writes it after starting us)
# Anything else gets 535 and is counted. Messages are read and dropped.
#
# Every 50 ms, if something changed, it replaces --status-file with one line
#   messages=N auths=A failures=F connections=C last=EPOCH
# (totals since start; last: wall-clock time of the latest message, so a
# reader polling the file still learns exactly when the Nth message arrived).
# Runs until SIGTERM/SIGINT. Needs Python 3 only (standard library).
#
# SECURITY: test tool; loopback only; the token and password are never logged.
# DIAGNOSTICS: start-up errors go to stderr with a non-zero exit; protocol
# errors are answered to the client and counted, never logged.

import argparse
import asyncio
import base64
import binascii
import os
import signal
import time

MAX_LINE = 65536  # a command or AUTH line; a longer one drops the connection
GREETING = b"220 sink.bench.test ESMTP bench-sink\r\n"
EHLO = (b"250-sink.bench.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
        b"250 AUTH PLAIN XOAUTH2\r\n")


class Sink:
    """Configuration and counters shared by all sessions."""

    def __init__(self, args):
        self.args = args
        user, password = args.user.encode(), args.password.encode()
        self.accept = {
            "PLAIN": frozenset({b"\0" + user + b"\0" + password,
                                user + b"\0" + user + b"\0" + password}),
            "XOAUTH2": None,  # loaded at the first XOAUTH2 AUTH
        }
        self.messages = self.auths = self.failures = self.connections = 0
        self.last = 0.0
        self.dirty = True

    def accepted(self, mech):
        """accepted - the set of decoded responses that pass for MECH"""
        if self.accept[mech] is None:
            try:
                with open(self.args.token_file, encoding="ascii") as f:
                    token = f.read().strip()
            except OSError:
                return frozenset()  # not written yet: refuse, do not cache
            if token:
                self.accept[mech] = frozenset({b"user=%s\x01auth=Bearer %s\x01\x01"
                                               % (self.args.user.encode(), token.encode())})
            return self.accept[mech] or frozenset()
        return self.accept[mech]

    def write_status(self):
        """write_status - replace the status file if a counter changed"""
        if not self.dirty:
            return
        self.dirty = False
        tmp = self.args.status_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write("messages=%d auths=%d failures=%d connections=%d last=%.6f\n"
                    % (self.messages, self.auths, self.failures, self.connections, self.last))
        os.replace(tmp, self.args.status_file)


class Session(asyncio.Protocol):
    """One SMTP connection: a line parser, or a DATA body scanner."""

    def __init__(self, sink):
        self.sink = sink
        self.buf = bytearray()
        self.transport = None
        self.authed = False
        self.auth_mech = None  # set while waiting for a 334 continuation
        self.in_data = False
        self.rcpts = 0
        self.mail = False

    def connection_made(self, transport):
        self.transport = transport
        self.sink.connections += 1
        self.sink.dirty = True
        transport.write(GREETING)

    def data_received(self, data):
        self.buf += data
        out = []
        while not self.transport.is_closing():
            if self.in_data:
                if self.buf.startswith(b".\r\n"):
                    end = 3
                else:
                    end = self.buf.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    end += 5
                del self.buf[:end]
                self.in_data = False
                out.append(self.message_done())
                continue
            nl = self.buf.find(b"\n")
            if nl < 0:
                if len(self.buf) > MAX_LINE:
                    self.transport.close()
                break
            line = bytes(self.buf[:nl]).rstrip(b"\r")
            del self.buf[:nl + 1]
            reply = self.command(line)
            out.append(reply)
            if reply.startswith(b"221"):
                self.transport.write(b"".join(out))
                self.transport.close()
                return
        if out:
            self.transport.write(b"".join(out))

    def message_done(self):
        sink = self.sink
        sink.messages += 1
        sink.last = time.time()
        sink.dirty = True
        self.mail, self.rcpts = False, 0
        return b"250 2.0.0 Ok: counted\r\n"

    def auth(self, mech, response):
        sink = self.sink
        sink.auths += 1
        sink.dirty = True
        try:
            decoded = base64.b64decode(response, validate=True)
        except (binascii.Error, ValueError):
            decoded = None
        if decoded in sink.accepted(mech):
            self.authed = True
            return b"235 2.7.0 Authentication successful\r\n"
        sink.failures += 1
        return b"535 5.7.8 Authentication credentials invalid\r\n"

    def command(self, line):
        if self.auth_mech is not None:  # the answer to our 334
            mech, self.auth_mech = self.auth_mech, None
            if line == b"*":
                return b"501 5.0.0 Authentication cancelled\r\n"
            return self.auth(mech, line)
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            self.mail, self.rcpts = False, 0
            return EHLO if verb == b"EHLO" else b"250 sink.bench.test\r\n"
        if verb == b"AUTH":
            words = line.split()
            mech = words[1].upper().decode("ascii", "replace") if len(words) > 1 else ""
            if self.authed:
                return b"503 5.5.1 Already authenticated\r\n"
            if mech not in self.sink.accept:
                return b"504 5.5.4 Unrecognized authentication type\r\n"
            if len(words) == 2:
                self.auth_mech = mech
                return b"334 \r\n"
            return self.auth(mech, b"" if words[2] == b"=" else words[2])
        if verb == b"MAIL":
            if not self.authed:
                return b"530 5.7.0 Authentication required\r\n"
            self.mail, self.rcpts = True, 0
            return b"250 2.1.0 Ok\r\n"
        if verb == b"RCPT":
            if not self.mail:
                return b"503 5.5.1 Need MAIL first\r\n"
            self.rcpts += 1
            return b"250 2.1.5 Ok\r\n"
        if verb == b"DATA":
            if not self.rcpts:
                return b"503 5.5.1 Need RCPT first\r\n"
            self.in_data = True
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if verb == b"RSET":
            self.mail, self.rcpts = False, 0
            return b"250 2.0.0 Ok\r\n"
        if verb == b"NOOP":
            return b"250 2.0.0 Ok\r\n"
        if verb == b"QUIT":
            return b"221 2.0.0 Bye\r\n"
        return b"502 5.5.2 Command not recognized\r\n"


async def main():
    parser = argparse.ArgumentParser(description="counting SMTP sink for the Postfix benchmark")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--status-file", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--token-file", required=True)
    args = parser.parse_args()

    sink = Sink(args)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    server = await loop.create_server(lambda: Session(sink), "127.0.0.1", 0, backlog=256)
    sink.write_status()
    with open(args.port_file + ".tmp", "w", encoding="ascii") as f:
        f.write("%d\n" % server.sockets[0].getsockname()[1])
    os.replace(args.port_file + ".tmp", args.port_file)

    async def flush():
        while True:
            await asyncio.sleep(0.05)
            sink.write_status()

    flusher = asyncio.ensure_future(flush())
    await stop
    flusher.cancel()
    server.close()
    sink.write_status()


if __name__ == "__main__":
    asyncio.run(main())
