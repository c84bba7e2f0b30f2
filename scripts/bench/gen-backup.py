#!/usr/bin/env python3
# A synthetic backup of N package items on standard output (the original's
# format): binary packages with ~700 characters of control text in three
# fragments, one source package in ten, two distributions, two components,
# three architectures. Usage: gen-backup.py N
import hashlib, json, sys
n = int(sys.argv[1])
dists, comps, archs = ["stable", "testing"], ["main", "contrib"], ["amd64", "i386", "all"]
packages = {}
desc = " ".join(["Lorem ipsum dolor sit amet, ünïcödé ✓"] * 14)
for i in range(n):
    name = "pkg%05d" % (i // 4)
    dist, comp = dists[i % 2], comps[(i // 2) % 2]
    version = "1.%d-1" % (i % 4)
    h = hashlib.sha256(str(i).encode()).hexdigest()
    if i % 10 == 9:
        arch = "source"
        text = "Format: 3.0 (quilt)\nSource: %s\nVersion: %s\nFiles:\n %s 100 %s_%s.orig.tar.gz\n %s 10 %s_%s.dsc\n" % (name, version, h[:32], name, version, h[32:64], name, version)
        item = {"files": ["%s_%s.dsc" % (name, version), "%s_%s.orig.tar.gz" % (name, version)]}
    else:
        arch = archs[i % 3]
        text = "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: Bench <b@example.com>\nDescription: %s\n %s\n" % (name, version, arch, name, desc)
        item = {"filename": "%s_%s_%s.deb" % (name, version, arch), "md5": h[:32], "sha1": h[:40], "sha256": h, "size": str(1000 + i)}
    item.update({"name": name, "version": version, "distribution": dist, "component": comp, "architecture": arch})
    frags = [text[j:j + 256] for j in range(0, len(text), 256)]
    w = len(str(len(frags)))
    for j, f in enumerate(frags):
        item["controltxt" + str(j).zfill(w)] = f
    packages.setdefault(name, {}).setdefault(dist, {}).setdefault(comp, {}).setdefault(arch, []).append(item)
meta = {"dists": dists, "comps": comps, "archs": ["amd64", "i386"], "origin": ["bench"], "label": ["bench"]}
json.dump({"metadata": meta, "packages": packages}, sys.stdout)
