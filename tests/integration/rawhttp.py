#!/usr/bin/env python3
"""rawhttp.py - raw bytes to a TLS server, for the tests that attack the
HTTP layer where curl would refuse to send what they send.

  rawhttp.py send HOST PORT CA FILE     send FILE's bytes on one connection,
                                         print the status line of every
                                         response read before the server
                                         closes or 1.5 s pass in silence
  rawhttp.py hold HOST PORT N M SECS     open N idle TCP connections and M
                                         that dribble a TLS request head a
                                         byte every 0.5 s, until the server
                                         has closed them all or SECS pass;
                                         print how many of each it closed
"""
import socket
import ssl
import sys
import time


def tls(host, port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    s = socket.create_connection((host, port), timeout=10)
    return ctx.wrap_socket(s, server_hostname=host)


def statuses(data):
    """Status lines of the responses in data, in order, stepping over each
    response's Content-Length body."""
    out = []
    while True:
        i = data.find(b"HTTP/1.1 ")
        if i < 0:
            return out
        data = data[i:]
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return out
        head = data[:end].decode("latin-1")
        out.append(head.split("\r\n")[0])
        length = 0
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        data = data[end + 4 + length:]


def cmd_send(host, port, ca, path):
    with open(path, "rb") as f:
        payload = f.read()
    s = tls(host, int(port), ca)
    s.sendall(payload)
    got = b""
    s.settimeout(1.5)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, ssl.SSLError, ConnectionResetError):
        pass
    for line in statuses(got):
        print(line)


def cmd_hold(host, port, n, m, secs):
    port, n, m, secs = int(port), int(n), int(m), float(secs)
    idle, slow = [], []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, port))
        idle.append(s)
    head = b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03" + b"\x00" * 190
    for _ in range(m):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, port))
        slow.append([s, 0])
    print("open", flush=True)

    def closed(s):
        # Non-blocking peek: no data yet means open; end of stream or a
        # reset means the server closed it.
        try:
            return s.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    # Dribble until the server has closed every one, or SECS pass.
    end = time.time() + secs
    while True:
        for entry in slow:
            s, at = entry
            if at < len(head):
                try:
                    s.send(head[at:at + 1])
                    entry[1] += 1
                except OSError:
                    pass
        time.sleep(0.5)
        ni = sum(closed(s) for s in idle)
        ns = sum(closed(e[0]) for e in slow)
        if (ni == n and ns == m) or time.time() > end:
            break
    print("idle_closed %d of %d" % (ni, n))
    print("slow_closed %d of %d" % (ns, m))


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "send":
        cmd_send(*sys.argv[2:6])
    elif len(sys.argv) >= 7 and sys.argv[1] == "hold":
        cmd_hold(*sys.argv[2:7])
    else:
        sys.exit(__doc__)
