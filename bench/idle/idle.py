#!/usr/bin/env python3
"""fairlead-bench-idle: what idle and slow connections cost a server.

    idle.py --host 127.0.0.1 --port P --ca CA --server-pid PID
            [--idle 10000] [--dribble 1000] [--hold 10] [--ready FILE] [--out FILE]

Opens --idle TCP connections that never send a byte, then measures the
server's resident memory; then opens --dribble TLS connections that send a
request's headers one byte per second and never finish them (slowloris);
while both are held for --hold seconds it asks GET /api/v1/health on a
fresh connection, and writes --ready so that a caller can try a signed
check-in meanwhile. At the end it counts the connections the server closed.
The result is one JSON object (stdout, and --out).

Python standard library only; loopback only; every wait is bounded.
"""
import argparse
import errno
import json
import resource
import select
import socket
import ssl
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_idle(host, port, n, deadline_s):
    """n non-blocking connects; returns the sockets that connected in time."""
    ep = select.epoll()
    pending, done, failed = {}, [], 0
    end = time.monotonic() + deadline_s
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((host, port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            failed += 1
            continue
        pending[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLOUT)
        # drain completions as we go, so the backlog is not all in flight
        if len(pending) >= 512:
            failed += _drain(ep, pending, done, 0.05)
    while pending and time.monotonic() < end:
        failed += _drain(ep, pending, done, 0.2)
    for s in pending.values():  # never completed: the server did not take them
        ep.unregister(s.fileno())
        s.close()
    failed += len(pending)
    ep.close()
    return done, failed


def _drain(ep, pending, done, timeout):
    failed = 0
    for fd, _ in ep.poll(timeout):
        s = pending.pop(fd)
        ep.unregister(fd)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            done.append(s)
        else:
            s.close()
            failed += 1
    return failed


def still_open(socks):
    """Connections the server has not closed (no EOF, no reset)."""
    p = select.poll()
    for s in socks:
        p.register(s.fileno(), select.POLLIN)
    gone = set()
    for fd, ev in p.poll(0):
        if ev & (select.POLLHUP | select.POLLERR):
            gone.add(fd)
            continue
        try:
            if socket.socket(fileno=socket.dup(fd)).recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                gone.add(fd)
        except BlockingIOError:
            pass
        except OSError:
            gone.add(fd)
    return len(socks) - len(gone)


def health(host, port, ctx, timeout):
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                s.settimeout(timeout)
                s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: fairlead\r\nConnection: close\r\n\r\n")
                data = b""
                while b"\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                ok = data.startswith(b"HTTP/1.1 200")
                return ok, round((time.monotonic() - t0) * 1000, 1), data.split(b"\r\n", 1)[0].decode(errors="replace")
    except (OSError, ssl.SSLError) as e:
        return False, round((time.monotonic() - t0) * 1000, 1), str(e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--dribble", type=int, default=1000)
    ap.add_argument("--hold", type=float, default=10)
    ap.add_argument("--timeout", type=float, default=5, help="per probe and per handshake wave, s")
    ap.add_argument("--ready")
    ap.add_argument("--out")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.idle + a.dribble + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))
    ctx = ssl.create_default_context(cafile=a.ca)
    res = {"idle_target": a.idle, "dribble_target": a.dribble, "hold_s": a.hold}

    time.sleep(0.5)
    rss0 = rss_kib(a.server_pid)
    idle, failed = open_idle(a.host, a.port, a.idle, a.timeout)
    time.sleep(1.0)  # let the server accept and set up what it will
    rss1 = rss_kib(a.server_pid)
    res.update(rss_before_kib=rss0, rss_idle_kib=rss1, idle_connected=len(idle),
               idle_failed=failed,
               rss_per_idle_kib=round((rss1 - rss0) / len(idle), 2) if idle else None)

    # the slow ones: TLS, then a request line and headers that never end
    drib, drib_failed = open_idle(a.host, a.port, a.dribble, a.timeout)
    tls = []
    hs_end = time.monotonic() + a.timeout * 2
    for s in drib:
        s.setblocking(True)
        s.settimeout(max(0.1, hs_end - time.monotonic()))
        try:
            t = ctx.wrap_socket(s, server_hostname=a.host)
            t.sendall(b"POST /api/v1/device/checkin HTTP/1.1\r\nHost: fairlead\r\n")
            t.setblocking(False)
            tls.append(t)
        except (OSError, ssl.SSLError):
            drib_failed += 1
            s.close()
    rss2 = rss_kib(a.server_pid)
    res.update(dribble_connected=len(tls), dribble_failed=drib_failed, rss_dribble_kib=rss2)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")

    end = time.monotonic() + a.hold
    h = None
    while time.monotonic() < end:
        for t in tls:  # one more header byte per connection each second
            try:
                t.send(b"x")
            except (OSError, ssl.SSLError):
                pass
        if h is None and time.monotonic() > end - a.hold / 2:
            h = health(a.host, a.port, ctx, a.timeout)
        time.sleep(1.0)
    if h is None:
        h = health(a.host, a.port, ctx, a.timeout)
    res.update(health_ok=h[0], health_ms=h[1], health_answer=h[2],
               idle_still_open=still_open(idle), dribble_still_open=still_open(tls),
               rss_end_kib=rss_kib(a.server_pid))
    for s in idle + tls:
        try:
            s.close()
        except OSError:
            pass
    text = json.dumps(res, sort_keys=True)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
