#!/usr/bin/env python3
"""A webhook receiver for the integration tests: HTTPS on loopback, checks
each request's Fairlead-Signature with the shared secret, answers 401 to a
bad one, and records every request as one JSON line:
{"path", "delivery", "signature_ok", "age_s", "body"}.

    webhook_receiver.py --cert PEM --secret S --port-file F --log F [--fail-first N]

The port (picked by the kernel) is written to --port-file once listening.
--fail-first N answers 500 to the first N requests with a good signature.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import ssl
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--cert", required=True)
ap.add_argument("--secret", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--fail-first", type=int, default=0)
args = ap.parse_args()
lock = threading.Lock()
good = 0


def check(sig, body):
    parts = dict(p.split("=", 1) for p in sig.split(",") if "=" in p)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    want = hmac.new(args.secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    ok = t.isdigit() and hmac.compare_digest(want, v1)
    return ok, (time.time() - int(t)) if t.isdigit() else None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global good
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        ok, age = check(self.headers.get("Fairlead-Signature", ""), body)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        status = 200 if ok else 401
        with lock:
            if ok:
                good += 1
                if good <= args.fail_first:
                    status = 500
            with open(args.log, "a") as f:
                f.write(json.dumps({"path": self.path, "status": status,
                                    "delivery": self.headers.get("Fairlead-Delivery"),
                                    "signature_ok": ok, "age_s": age, "body": parsed}) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(args.cert)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(args.port_file, "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
