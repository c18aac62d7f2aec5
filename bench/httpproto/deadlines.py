#!/usr/bin/env python3
"""deadlines.py PORT - which server deadline ends (a) a kept-alive connection
left idle after a reply and (b) a request whose body arrives at 1 byte/s.
Run against a prototype started with a short TIMEOUT_S (RESULTS.md: 3 s)."""
import socket, ssl, sys, time

port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
LIMIT = 12.0

def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(s)

def alive(s):
    s.setblocking(False)
    try:
        return s.recv(1) != b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)

s = conn()
s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
s.recv(4096)
t = time.monotonic()
while alive(s) and time.monotonic() - t < LIMIT:
    time.sleep(0.2)
print("idle keep-alive: closed after %.1f s" % (time.monotonic() - t)
      if not alive(s) else "idle keep-alive: still open after %.0f s" % LIMIT)

s = conn()
s.sendall(b"POST /checkin HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
t, n, closed = time.monotonic(), 0, False
while time.monotonic() - t < LIMIT:
    if not alive(s):
        closed = True
        break
    try:
        s.sendall(b"a")
        n += 1
    except OSError:
        closed = True
        break
    time.sleep(1)
print("body at 1 B/s: closed after %.1f s, %d body bytes sent" % (time.monotonic() - t, n)
      if closed else "body at 1 B/s: still open after %.0f s" % LIMIT)
