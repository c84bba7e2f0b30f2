#!/usr/bin/env python3
"""Turns a Debian Packages index into a repoman backup file (the original's
format: see docs/backup.md), so a Debian-sized repository can be loaded with
`repoman-cli restore FILE` without the package files themselves.

    packages-to-backup.py PACKAGES DIST COMP OUT.json

Each stanza becomes one item in DIST/COMP: name, version and architecture
from its fields, filename from the base name of Filename, md5/sha1/sha256/
size from MD5sum/SHA1/SHA256/Size, and the control text = the stanza
without those five fields (what `add` stores for a .deb, whose control file
has none of them). The text is split into 256-character `controltxtN`
fragments as the original splits it.

Debian's indices carry no SHA1 (only MD5sum and SHA256) while an item needs
one; a stanza without SHA1 gets the SHA-1 of its SHA256 value, a stand-in of
the right shape (the package files are not there to hash anyway).
"""

import hashlib
import json
import sys

POOL_FIELDS = {"Filename", "MD5sum", "SHA1", "SHA256", "Size"}
FRAGMENT_CHARS = 256


def stanzas(text):
    for block in text.split("\n\n"):
        if block.strip():
            yield block.strip("\n")


def parse(block):
    """Returns (fields, control text): fields maps name to first-line value."""
    fields = {}
    kept = []
    skipping = False
    for line in block.split("\n"):
        if line[:1] in (" ", "\t"):
            if not skipping:
                kept.append(line)
            continue
        name, _, value = line.partition(":")
        skipping = name in POOL_FIELDS
        fields[name] = value.strip()
        if not skipping:
            kept.append(line)
    return fields, "\n".join(kept) + "\n"


def fragments(text):
    parts = [text[i:i + FRAGMENT_CHARS] for i in range(0, len(text), FRAGMENT_CHARS)]
    width = len(str(len(parts)))
    return {"controltxt%0*d" % (width, i): p for i, p in enumerate(parts)}


def main():
    src, dist, comp, out = sys.argv[1:5]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    packages = {}
    archs = set()
    count = 0
    for block in stanzas(text):
        fields, control = parse(block)
        name, version, arch = fields["Package"], fields["Version"], fields["Architecture"]
        item = {
            "name": name,
            "version": version,
            "distribution": dist,
            "component": comp,
            "architecture": arch,
            "filename": fields["Filename"].rsplit("/", 1)[-1],
            "md5": fields["MD5sum"],
            "sha1": fields.get("SHA1") or hashlib.sha1(fields["SHA256"].encode()).hexdigest(),
            "sha256": fields["SHA256"],
            "size": fields["Size"],
        }
        item.update(fragments(control))
        packages.setdefault(name, {}).setdefault(dist, {}).setdefault(comp, {}).setdefault(arch, []).append(item)
        archs.add(arch)
        count += 1
    binary_archs = sorted(a for a in archs if a != "all")
    backup = {
        "metadata": {
            "archs": binary_archs + ["all"],
            "comps": [comp],
            "dists": [dist],
            "test_data": [""],
            "topic_name": [""],
            "origin": ["bench.example.com"],
            "label": ["bench.example.com"],
        },
        "packages": packages,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(backup, f, separators=(",", ":"))
    print(count)


if __name__ == "__main__":
    main()
