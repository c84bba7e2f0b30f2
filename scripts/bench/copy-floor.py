#!/usr/bin/env python3
"""The physical floor of putting files into a pool directory durably: copy
each file into DEST and make it durable, the least any tool that survives a
crash must do.

    copy-floor.py each|once|none DEST FILE...

each  fsync every file after writing it (what a write-then-rename store that
      syncs each file does)
once  write every file, then one syncfs(2) of DEST's filesystem
none  no sync at all (data may still be in the page cache when this returns)
"""

import ctypes
import os
import sys


def main():
    mode, dest, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(dest, exist_ok=True)
    for i, src in enumerate(files):
        with open(src, "rb") as f:
            data = f.read()
        with open(os.path.join(dest, "%06d-%s" % (i, os.path.basename(src))), "wb") as out:
            out.write(data)
            if mode == "each":
                out.flush()
                os.fsync(out.fileno())
    if mode == "once":
        fd = os.open(dest, os.O_RDONLY)
        try:
            if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
                raise OSError(ctypes.get_errno(), "syncfs")
        finally:
            os.close(fd)


if __name__ == "__main__":
    main()
