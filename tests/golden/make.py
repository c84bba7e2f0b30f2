"""Writes the golden outputs of tests/cli.rs from apt-repoman 1.0.7's own
output code: its `query`, `rm` and `cp_prompt` functions, run on the data
set in dataset.json (a backup in the original's format) through a stand-in
for its SimpleDB layer that answers `query()` from that file, and its
tabulate 0.7.7.

    bash /work/shared/tools/setup-original-repoman.sh   # installs /tmp/origenv
    /tmp/origenv/bin/python tests/golden/make.py

The stand-in returns names, distributions, components and architectures in
sorted order, items oldest version first, their attributes sorted by name
and the values of a multi-valued attribute sorted: the order repoman
prints (the original's follows SimpleDB's answer, which is unordered).
"""
import argparse
import collections
import contextlib
import io
import json
import os
import sys

from apt_repoman import cli
from apt_repoman.repodb import Repodb
from pydpkg import Dpkg

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = json.load(open(os.path.join(HERE, "dataset.json")),
                 object_pairs_hook=collections.OrderedDict)


class Store(object):
    """What cli.query/rm read from the original's RepoDB."""

    def __init__(self, backup):
        self.meta = {k: list(v) for k, v in backup["metadata"].items()}
        self.packages = backup["packages"]

    @property
    def dists(self):
        return self.meta["dists"]

    @property
    def comps(self):
        return self.meta["comps"]

    @property
    def archs(self):
        return self.meta["archs"] + [a for a in ("all", "source")
                                     if a not in self.meta["archs"]]

    def find_invalid_metadata(self, values, kind):
        return [v for v in values if v not in getattr(self, kind)]

    def query(self, name_wildcard=False, dists=None, comps=None, archs=None,
              names=None, versions=None, latest_versions=0):
        assert not latest_versions
        out = collections.OrderedDict()
        for name in sorted(self.packages):
            if names and not any(name.startswith(n) if name_wildcard
                                 else name == n for n in names):
                continue
            for dist in sorted(self.packages[name]):
                for comp in sorted(self.packages[name][dist]):
                    for arch in sorted(self.packages[name][dist][comp]):
                        if (dists and dist not in dists or comps and comp not in comps
                                or archs and arch not in archs):
                            continue
                        items = [collections.OrderedDict(sorted(
                                     (k, sorted(v) if isinstance(v, list) else v)
                                     for k, v in i.items()))
                                 for i in self.packages[name][dist][comp][arch]
                                 if not versions or i["version"] in versions]
                        items.sort(key=lambda x: Dpkg.compare_versions_key(x["version"]))
                        if items:
                            out.setdefault(name, collections.OrderedDict()).setdefault(
                                dist, collections.OrderedDict()).setdefault(
                                comp, collections.OrderedDict())[arch] = items
        return out

    def do_rm(self, targets):
        pass

    # The original's own stanza builders (they use nothing of the store).
    _create_pkg_msg_from_item = Repodb._create_pkg_msg_from_item
    _create_src_msg_from_item = Repodb._create_src_msg_from_item


def args(**kw):
    base = dict(query_hidden=False, distribution=None, component=None,
                architecture=None, package=None, version=None, wildcard=False,
                latest_versions=None, outputfmt="simple", confirm=False,
                i_fear_no_evil=True)
    base.update(kw)
    return argparse.Namespace(**base)


def capture(fn, *a):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*a)
    return out.getvalue()


def write(name, text):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text)


store = Store(DATA)
TABLES = ("simple", "plain", "grid", "fancy_grid", "pipe", "orgtbl", "jira", "psql", "rst",
          "mediawiki", "moinmoin", "html", "latex", "latex_booktabs", "textile")
for fmt in TABLES + ("json", "jsonc", "packages"):
    write("query." + fmt, capture(cli.query, args(outputfmt=fmt), store, None))
for fmt in TABLES:
    write("query-intver." + fmt,
          capture(cli.query, args(outputfmt=fmt, package=["intver"]), store, None))
for fmt in ("simple", "grid", "psql"):
    write("rm." + fmt, capture(cli.rm, args(outputfmt=fmt, package=["testdeb"],
                                            distribution=["jessie"]), store, None))

# cp --src-distribution jessie --src-component main --dst-component nightly -p testdeb
cands = store.query(names=["testdeb"], dists=["jessie"], comps=["main"])
targets = json.loads(json.dumps(cands), object_pairs_hook=collections.OrderedDict)
for dist in targets["testdeb"].values():
    for comp in dist.values():
        for items in comp.values():
            for i in items:
                i["component"] = "nightly"
write("cp.simple", capture(cli.cp_prompt, args(), cands, targets, []))
