#!/usr/bin/env python3
"""conns.py - the connection-holding client of measure.sh (stdlib only).

  conns.py tcp PORT N        open N TCP connections, print "ready N", hold
  conns.py tls PORT N        complete N TLS handshakes, print "ready N", hold
  conns.py dribble PORT N S  N TLS connections each send a request head one
                             byte per second for S seconds; meanwhile GET
                             /health on a fresh connection every second.
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
    try:
        s.setblocking(False)
        d = s.recv(1) if not isinstance(s, ssl.SSLSocket) else s.recv(1)
        return d != b""
    except (BlockingIOError, ssl.SSLWantReadError):
        return True
    except (OSError, ssl.SSLError):
        return False
    finally:
        try: s.setblocking(True)
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
    ctx = tls_ctx()
    conns, fails = open_conns("tls", port, n)
    head = b"POST /checkin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
           b"X-Pad: " + b"a" * 4000 + b"\r\n"  # never completes within the run
    t0 = time.monotonic()
    alive = list(range(len(conns)))
    closed_at = {}
    probes = []
    stop = threading.Event()

    def prober():
        while not stop.is_set():
            probes.append(health(port, ctx))
            stop.wait(1.0)
    th = threading.Thread(target=prober); th.start()
    i = 0
    while time.monotonic() - t0 < secs:
        for k in list(alive):
            s = conns[k]
            try:
                s.settimeout(1)
                s.sendall(head[i:i + 1])
            except OSError:
                closed_at[k] = time.monotonic() - t0
                alive.remove(k)
        i += 1
        time.sleep(max(0, t0 + i - time.monotonic()))
    for k in list(alive):  # a send may succeed after the peer closed
        if not still_open(conns[k]):
            closed_at[k] = time.monotonic() - t0
            alive.remove(k)
    stop.set(); th.join()
    lat = sorted(ms for ok, ms in probes if ok)
    first_close = min(closed_at.values()) if closed_at else None
    print(json.dumps({
        "opened": len(conns), "open_failures": fails, "seconds": secs,
        "still_open_at_end": len(alive), "closed_by_server": len(closed_at),
        "first_close_s": round(first_close, 1) if first_close else None,
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
