# SPDX-License-Identifier: MIT
"""New TCP connections, continuously: each one connects, completes a TLS
handshake (ALPN http/1.1) and closes; with --get PATH it also sends a GET
and reads the status line.  Runs THREADS clients back to back for SECONDS
and prints one JSON object: the outcomes counted by kind.  Anything but
"ok" is a lost connection.

usage: tcp_churn.py HOST PORT SECONDS [--threads N] [--once] [--get PATH]
(--once: one connection per thread, with SECONDS as its timeout)
"""
import argparse
import errno
import json
import socket
import ssl
import threading
import time

KINDS = ("ok", "refused", "reset", "eof", "tls", "timeout", "other")


def classify(e):
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(e, ssl.SSLEOFError):
        return "eof"        # the server closed in the middle of the handshake
    if isinstance(e, ssl.SSLError):
        return "tls"
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, OSError) and e.errno == errno.ECONNRESET:
        return "reset"
    return "other"


def one(ctx, host, port, get, timeout):
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            if get is None:
                return
            s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n"
                       "Connection: close\r\n\r\n" % get).encode())
            line = s.recv(64)
            if not line.startswith(b"HTTP/1.1 2"):
                raise ssl.SSLError("status: %r" % line[:20])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("seconds", type=float)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--once", action="store_true")
    ap.add_argument("--get", default=None)
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    counts = {k: 0 for k in KINDS}
    errors = []
    lock = threading.Lock()
    end = time.monotonic() + a.seconds

    def run():
        while time.monotonic() < end:
            try:
                one(ctx, a.host, a.port, a.get, a.seconds if a.once else 5)
                kind = "ok"
            except Exception as e:  # every failure is counted, none stops us
                kind = classify(e)
                with lock:
                    if len(errors) < 10:
                        errors.append("%s: %r" % (kind, e))
            with lock:
                counts[kind] += 1
            if a.once:
                break

    threads = [threading.Thread(target=run) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts["lost"] = sum(counts[k] for k in KINDS if k != "ok")
    counts["errors"] = errors
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
