#!/usr/bin/env python3
"""Write a directory as an image layer tarball that two builds write byte for byte
the same: sorted entries, owner root, every time SOURCE_DATE_EPOCH.

    oci_layer.py DIR OUT.tar   (hack/image/build.sh; hack/localnode.py imports it)
"""

from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path


def write_layer(root: Path, out: Path, mtime: int) -> None:
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = mtime
            info.mode = 0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644
            info.pax_headers = {}
            if info.isfile():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


if __name__ == "__main__":
    write_layer(Path(sys.argv[1]), Path(sys.argv[2]), int(os.environ.get("SOURCE_DATE_EPOCH", "0")))
