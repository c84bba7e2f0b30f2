#!/usr/bin/env python3
"""Checks the workspace's declared minimum Rust version (`rust-version`).

No older toolchain can be installed here, so the check is the one that can
be made honestly with the current one:

* no package in the resolved dependency graph (every feature, every
  target) declares a `rust-version` above ours: the build would need a
  newer compiler than we claim;
* every workspace member declares one, the same;
* clippy's `incompatible_msrv` lint (on by default, run with -D warnings
  by scripts/test.sh) refuses standard-library items stabilised after it
  in our own code.

Prints the dependencies that set the floor, exits non-zero on a mismatch.
"""

import json
import subprocess
import sys


def version(v):
    return tuple(int(x) for x in v.split("."))


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    members = set(meta["workspace_members"])
    resolved = {n["id"] for n in meta["resolve"]["nodes"]}
    ours = set()
    deps = []
    for p in meta["packages"]:
        if p["id"] in members:
            if not p.get("rust_version"):
                sys.exit(f"check-msrv: {p['name']} declares no rust-version")
            ours.add(p["rust_version"])
        elif p["id"] in resolved and p.get("rust_version"):
            deps.append((version(p["rust_version"]), p["name"], p["version"]))
    if len(ours) != 1:
        sys.exit(f"check-msrv: workspace members declare different rust-versions: {sorted(ours)}")
    declared = ours.pop()
    deps.sort(reverse=True)
    floor = deps[0][0] if deps else (1, 0)
    above = [d for d in deps if d[0] > version(declared)]
    if above:
        for v, name, ver in above:
            print(f"  {name} {ver} needs Rust {'.'.join(map(str, v))}", file=sys.stderr)
        sys.exit(
            f"check-msrv: rust-version {declared} is below what {len(above)} dependencies need; "
            f"raise it to {'.'.join(map(str, floor))}"
        )
    top = ", ".join(f"{n} {v}" for vv, n, v in deps if vv == floor)
    print(f"rust-version {declared}: no dependency needs more (highest: {'.'.join(map(str, floor))}, {top})")


if __name__ == "__main__":
    main()
