#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile and heavy clients of mailoauthd's socket, for test-daemon-abuse.sh.

Standard library only. Every command prints one line of "key=value" fields
(no token ever: the only request sent is HELLO, or garbage).

  abuse.py hold SOCKET N STATUS STOP
      opens N connections at once and keeps every one busy with "HELLO 1"
      every 2 s (well inside the daemon's idle time). Appends to STATUS
      "ready opened=N answered=N" once every connection has had an answer,
      and a "round=R ..." line every 2 s; once the file STOP exists it
      closes them all and appends "final opened=N open=O answered=A
      closed_by_daemon=C bad=B pings=P".
  abuse.py slow SOCKET drip|silent MAXSECS [READY]
      a client that never finishes its line: drip sends one byte every
      2 s (the daemon's idle time is 10 s), silent sends nothing. Creates
      the file READY once connected. Prints "closed=yes bytes=N answer=..."
      once the daemon hangs up, or "closed=no ..." after MAXSECS.
  abuse.py send SOCKET KIND
      sends one kind of bad input, then reads until the daemon closes (at
      most 30 s). Prints "closed=yes|no lines=N answer=FIRST-LINE" with
      the answer's non-printable bytes escaped. KIND: line-1024 and
      line-1025 (a request of exactly that many bytes with its LF),
      long-line, long-nolf, megabyte, random, nul, nul-only, utf8,
      utf8-verb, cr-only, cr-lines, newlines.
"""

import os
import random
import resource
import selectors
import socket
import struct
import sys
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connect(path, timeout=20):
    """a blocking connect that waits (at most TIMEOUT s) while the daemon's
    backlog is full; Python's own timeout would fail at once with EAGAIN"""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                 struct.pack("ll", timeout, 0))
    s.connect(path)
    return s


def printable(data):
    return "".join(chr(b) if 0x20 <= b < 0x7F else "\\x%02x" % b for b in data)


# ---------------------------------------------------------------- hold

def hold(path, n, status, stop):
    raise_nofile(n + 64)
    sel = selectors.DefaultSelector()
    conns = []

    def out(line):
        with open(status, "a") as f:
            f.write(line + "\n")

    for _ in range(n):
        s = connect(path)
        s.setblocking(False)
        c = {"sock": s, "buf": b"", "open": True, "answered": 0, "waiting": False}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    bad = closed = rounds = 0
    ready = False
    while not os.path.exists(stop):
        # a ping for every connection whose last ping was answered
        for c in conns:
            if c["open"] and not c["waiting"]:
                try:
                    c["sock"].send(b"HELLO 1\n")
                    c["waiting"] = True
                except OSError:
                    c["open"] = False
                    closed += 1
                    sel.unregister(c["sock"])
        period = time.monotonic() + 2
        while time.monotonic() < period:
            for key, _ in sel.select(timeout=0.2):
                c = key.data
                try:
                    data = c["sock"].recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    c["open"] = False
                    closed += 1
                    sel.unregister(c["sock"])
                    continue
                c["buf"] += data
                while b"\n" in c["buf"]:
                    line, c["buf"] = c["buf"].split(b"\n", 1)
                    if line.startswith(b"OK proto=1 "):
                        c["answered"] += 1
                    else:
                        bad += 1
                    c["waiting"] = False
        rounds += 1
        answered = sum(1 for c in conns if c["answered"])
        still_open = sum(1 for c in conns if c["open"])
        if not ready and answered == n:
            ready = True
            out("ready opened=%d answered=%d" % (n, answered))
        out("round=%d open=%d answered=%d closed_by_daemon=%d bad=%d"
            % (rounds, still_open, answered, closed, bad))
    still_open = sum(1 for c in conns if c["open"])
    answered = sum(1 for c in conns if c["answered"])
    pings = sum(c["answered"] for c in conns)
    for c in conns:
        c["sock"].close()
    out("final opened=%d open=%d answered=%d closed_by_daemon=%d bad=%d pings=%d"
        % (n, still_open, answered, closed, bad, pings))


# ---------------------------------------------------------------- slow

def slow(path, mode, maxsecs, ready=None):
    s = connect(path)
    if ready:
        open(ready, "w").close()
    s.settimeout(0.2)
    line = b"TOKEN work" + b"x" * 1000
    sent = 0
    start = time.monotonic()
    next_byte = start
    answer = b""
    while time.monotonic() - start < maxsecs:
        if mode == "drip" and time.monotonic() >= next_byte:
            try:
                s.send(line[sent % len(line):sent % len(line) + 1])
                sent += 1
            except OSError:
                break
            next_byte += 2
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            break
        if not data:
            break
        answer += data
    else:
        print("closed=no bytes=%d answer=%s" % (sent, printable(answer[:200])))
        return
    print("closed=yes bytes=%d answer=%s" % (sent, printable(answer[:200])))


# ---------------------------------------------------------------- send

def payload(kind):
    rnd = random.Random(6)	# the same bytes every run
    # four arguments of 320, 320, 320 and 48 or 49 bytes
    big = b"OAUTHBEARER " + b" ".join([b"a" * 320, b"u" * 320, b"h" * 320])
    return {
        "line-1024": big + b" " + b"1" * 48 + b"\n",
        "line-1025": big + b" " + b"1" * 49 + b"\n",
        "long-line": b"TOKEN " + b"a" * 1100 + b"\n",
        "long-nolf": b"A" * 5000,
        "megabyte": b"x" * (1 << 20),
        "random": bytes(rnd.getrandbits(8) for _ in range(65536)),
        "nul": b"TOKEN w\x00rk\n",
        "nul-only": b"\x00" * 4096,
        "utf8": b"TOKEN w\xc3\x28rk\xff\n",
        "utf8-verb": "T\u00d6KEN work\n".encode(),
        "cr-only": b"\r" * 4096,
        "cr-lines": b"HELLO 1\rTOKEN work\r",
        "newlines": b"\n" * 1000000,
    }[kind]


def send(path, kind):
    data = payload(kind)
    s = connect(path)
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    off = 0
    got = b""
    closed = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not closed:
        for _, ev in sel.select(timeout=1):
            if ev & selectors.EVENT_READ:
                try:
                    chunk = s.recv(65536)
                except BlockingIOError:
                    chunk = None
                except OSError:
                    chunk = b""
                if chunk == b"":
                    closed = True
                elif chunk:
                    got += chunk
            if ev & selectors.EVENT_WRITE and not closed:
                try:
                    off += s.send(data[off:off + 65536])
                except BlockingIOError:
                    pass
                except OSError:
                    off = len(data)	# the daemon hung up: stop sending
                if off >= len(data):
                    try:
                        s.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    sel.modify(s, selectors.EVENT_READ)
    s.close()
    first = got.split(b"\n", 1)[0]
    print("closed=%s lines=%d answer=%s" % ("yes" if closed else "no",
                                             got.count(b"\n"), printable(first[:300])))


def main(argv):
    if len(argv) == 6 and argv[1] == "hold":
        hold(argv[2], int(argv[3]), argv[4], argv[5])
    elif len(argv) in (5, 6) and argv[1] == "slow":
        slow(argv[2], argv[3], float(argv[4]), argv[5] if len(argv) == 6 else None)
    elif len(argv) == 4 and argv[1] == "send":
        send(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
