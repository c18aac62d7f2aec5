#!/usr/bin/env python3
"""conns.py - the connection-holding client of measure.sh (stdlib only).

  conns.py tcp PORT N        open N TCP connections, print "ready N", hold
  conns.py tls PORT N        complete N TLS handshakes, print "ready N", hold
  conns.py dribble PORT N S  N TLS connections each send a request head one
                             byte per second (S seconds once all are open);
                             meanwhile GET /health on a fresh connection
                             every second.
                             Prints one JSON line of results.

Holding modes wait for stdin to close (or SIGTERM), then exit.
"""
import json, socket, ssl, sys, threading, time

def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c

def still_open(s):
    """True while the server has not closed s (non-blocking peek)."""
    t = s.gettimeout()
    try:
        s.setblocking(False)
        return s.recv(1) != b""
    except (BlockingIOError, ssl.SSLWantReadError):
        return True
    except (OSError, ssl.SSLError):
        return False
    finally:
        try: s.settimeout(t)
        except OSError: pass

def connect(port):
    """A TCP connection with Nagle off, as curl and h2load make them (with
    Nagle on, a request written right after the TLS 1.3 Finished waits for
    the server's delayed ACK when the server sends no session ticket)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def open_conns(mode, port, n):
    ctx = tls_ctx() if mode != "tcp" else None
    out, fails = [], 0
    for _ in range(n):
        try:
            s = connect(port)
            if ctx:
                s = ctx.wrap_socket(s)
            out.append(s)
        except OSError:
            fails += 1
    return out, fails

def health(port, ctx):
    t = time.monotonic()
    try:
        s = ctx.wrap_socket(connect(port))
        s.settimeout(5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ok = s.recv(64).startswith(b"HTTP/1.1 200")
        s.close()
    except OSError:
        ok = False
    return ok, (time.monotonic() - t) * 1000

def dribble(port, n, secs):
    """Connections are opened a few hundred per second, each sending its
    first head byte right after its handshake and one more every second, so
    none is ever idle for more than a second; the run goes on for secs
    seconds after the last one is open. A connection's lifetime is counted
    from its own handshake."""
    ctx = tls_ctx()
    head = b"POST /checkin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
           b"X-Pad: " + b"a" * 4000 + b"\r\n"  # never completes within the run
    conns, lifetimes, fails = [], [], 0
    probes = []
    stop = threading.Event()

    def prober():
        while not stop.is_set():
            probes.append(health(port, ctx))
            stop.wait(1.0)
    th = threading.Thread(target=prober); th.start()
    t0 = time.monotonic()
    all_open = None
    tick = 0
    while all_open is None or time.monotonic() < all_open + secs:
        t = time.monotonic()
        while len(conns) + len(lifetimes) + fails < n and time.monotonic() - t < 0.5:
            try:
                s = ctx.wrap_socket(connect(port))
                s.settimeout(1)
                s.sendall(head[:1])
                conns.append([s, time.monotonic(), 1])
            except OSError:
                fails += 1
        if all_open is None and len(conns) + len(lifetimes) + fails >= n:
            all_open = time.monotonic()
        for c in list(conns):
            try:
                if not still_open(c[0]):
                    raise ConnectionResetError
                c[0].sendall(head[c[2]:c[2] + 1])
                c[2] += 1
            except OSError:
                lifetimes.append(time.monotonic() - c[1])
                conns.remove(c)
        tick += 1
        time.sleep(max(0, t0 + tick - time.monotonic()))
    for c in list(conns):  # a send may succeed after the peer closed
        if not still_open(c[0]):
            lifetimes.append(time.monotonic() - c[1])
            conns.remove(c)
    stop.set(); th.join()
    lat = sorted(ms for ok, ms in probes if ok)
    lifetimes.sort()
    print(json.dumps({
        "opened": len(conns) + len(lifetimes), "open_failures": fails,
        "ramp_s": round(all_open - t0, 1), "seconds_after_ramp": secs,
        "still_open_at_end": len(conns), "closed_by_server": len(lifetimes),
        "closed_lifetime_min_s": round(lifetimes[0], 1) if lifetimes else None,
        "closed_lifetime_median_s": round(lifetimes[len(lifetimes) // 2], 1) if lifetimes else None,
        "head_bytes_max": max([c[2] for c in conns], default=0),
        "health_ok": sum(1 for ok, _ in probes if ok), "health_probes": len(probes),
        "health_ms_median": round(lat[len(lat) // 2], 1) if lat else None,
        "health_ms_max": round(lat[-1], 1) if lat else None}))

def main():
    mode, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "dribble":
        return dribble(port, n, float(sys.argv[4]))
    conns, fails = open_conns(mode, port, n)
    print("ready", len(conns), "failed", fails, flush=True)
    sys.stdin.read()  # hold until measure.sh closes our stdin
    open_n = sum(1 for s in conns if still_open(s))
    print("held", open_n, flush=True)

if __name__ == "__main__":
    main()
