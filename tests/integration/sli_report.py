#!/usr/bin/env python3
"""sli_report.py - writes an SLI report body (the agent's wire format) for the
integration tests: sketches built with the same log buckets as
common/src/sketch.c, so known latencies give known quantiles.

usage: sli_report.py SEQ START [--release R] [--lat FROM:TO] [--errors N]
                     [--energy J] [--drift FEATURE:c1,c2,...:judged:drifted]
                     [--dropped N] [--window S]
Several reports: separate their argument groups with "+".
"""
import json
import math
import sys

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)


def sketch(values):
    if not values:
        return {"n": 0}
    keys = {}
    zero = 0
    for v in values:
        if v <= 1e-9:
            zero += 1
            continue
        k = math.ceil(math.log(v) / math.log(GAMMA))
        keys[k] = keys.get(k, 0) + 1
    k0 = min(keys) if keys else 0
    c = [keys.get(k, 0) for k in range(k0, max(keys) + 1)] if keys else []
    return {"n": len(values), "sum": float(sum(values)), "min": float(min(values)),
            "max": float(max(values)), "zero": zero, "k0": k0, "c": c}


def report(args):
    seq, start = int(args[0]), int(args[1])
    rel, lat, errors, energy, drift, window = "anomaly@1.0.0", None, 0, None, [], 60
    i = 2
    while i < len(args):
        a, v = args[i], args[i + 1]
        i += 2
        if a == "--release":
            rel = None if v == "null" else v
        elif a == "--lat":
            lo, hi = (int(x) for x in v.split(":"))
            lat = list(range(lo, hi + 1))
        elif a == "--errors":
            errors = int(v)
        elif a == "--energy":
            energy = float(v)
        elif a == "--window":
            window = int(v)
        elif a == "--drift":
            name, counts, judged, drifted = v.split(":")
            drift.append({"feature": name, "counts": [int(x) for x in counts.split(",")],
                          "psi": 0.0, "js": 0.0, "threshold": 0.1,
                          "judged": judged == "1", "drifted": drifted == "1"})
        else:
            raise SystemExit("unknown option " + a)
    n = (len(lat) if lat else 0) + errors
    r = {"seq": seq, "start": start, "end": start + window, "release": rel,
         "up_s": window, "expected_s": window, "inferences": n, "errors": errors,
         "latency_ms": sketch(lat or [])}
    if energy is not None:
        r["energy_j"] = energy
        r["energy_source"] = "module"
    if drift:
        r["drift"] = drift
    return r


def main():
    argv = sys.argv[1:]
    dropped = 0
    if len(argv) >= 2 and argv[0] == "--dropped":
        dropped = int(argv[1])
        argv = argv[2:]
    groups, cur = [], []
    for a in argv:
        if a == "+":
            groups.append(cur)
            cur = []
        else:
            cur.append(a)
    if cur:
        groups.append(cur)
    print(json.dumps({"reports": [report(g) for g in groups], "dropped": dropped}))


main()
