"""Turns the servers' request logs into the latency benchmark's table.

    latency-report.py DELAY_MS OPS LOG...

OPS has one line per timed command: TOOL, OPERATION, START, END (seconds,
tab-separated). Each LOG has one JSON line per request (latency-moto.py,
sdb-local --request-log): svc, op, t0 (arrived), t1 (answered). A request
belongs to the command whose [START, END] holds it.

The longest chain of sequential round trips of a command is the largest set
of its requests no two of which were in flight at the same moment: requests
that had to wait for one another. Every request waits DELAY at the server,
so the command spent at least chain x DELAY waiting for answers, however
many requests it had in flight beside them. Picking, among the requests
that start after the last one picked ends, the one that ends first finds
the largest such set (interval scheduling).
"""

import collections
import json
import sys

BASE = "original"


def load(logs):
    reqs = []
    for path in logs:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    reqs.append(json.loads(line))
    reqs.sort(key=lambda r: r["t0"])
    return reqs


def chain(reqs):
    n, end = 0, float("-inf")
    for r in sorted(reqs, key=lambda r: r["t1"]):
        if r["t0"] >= end:
            n, end = n + 1, r["t1"]
    return n


def figures(reqs, start, stop):
    mine = [r for r in reqs if r["t0"] >= start and r["t1"] <= stop]
    by_svc = collections.Counter(r["svc"] for r in mine)
    by_op = collections.Counter(f'{r["svc"]} {r["op"]}' for r in mine)
    return {
        "wall": stop - start,
        "requests": len(mine),
        "by_svc": by_svc,
        "by_op": by_op,
        "chain": chain(mine),
    }


def svc_text(c):
    return ", ".join(f"{s} {n}" for s, n in sorted(c.items(), key=lambda x: -x[1]))


def main():
    delay = float(sys.argv[1]) / 1000.0
    ops = []
    with open(sys.argv[2]) as f:
        for line in f:
            tool, op, start, stop = line.rstrip("\n").split("\t")
            ops.append((tool, op, float(start), float(stop)))
    reqs = load(sys.argv[3:])
    results = {(tool, op): figures(reqs, a, b) for tool, op, a, b in ops}
    tools = list(dict.fromkeys(t for t, _, _, _ in ops))
    names = list(dict.fromkeys(o for _, o, _, _ in ops))

    print("| operation | tool | wall | requests | per service | longest sequential chain "
          f"| chain x {delay * 1000:g} ms | original / this: wall | chain |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    for op in names:
        base = results.get((BASE, op))
        for tool in tools:
            r = results.get((tool, op))
            if r is None:
                continue
            ratio_wall = ratio_chain = ""
            if base and tool != BASE:
                ratio_wall = f"**{base['wall'] / r['wall']:.1f}x**"
                ratio_chain = f"{base['chain'] / max(r['chain'], 1):.1f}x"
            print(f"| {op} | {tool} | {r['wall']:.2f} s | {r['requests']} | {svc_text(r['by_svc'])} "
                  f"| {r['chain']} | {r['chain'] * delay:.2f} s | {ratio_wall} | {ratio_chain} |")
    print()
    print("Requests by operation:")
    print()
    print("| operation | tool | requests |")
    print("|---|---|---|")
    for op in names:
        for tool in tools:
            r = results.get((tool, op))
            if r is not None:
                detail = ", ".join(f"{k} {n}" for k, n in sorted(r["by_op"].items()))
                print(f"| {op} | {tool} | {detail} |")


if __name__ == "__main__":
    main()
