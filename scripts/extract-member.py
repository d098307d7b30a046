"""Writes to stdout the one file of a downloaded wheel or sdist whose path ends with MEMBER.

usage: extract-member.py DOWNLOAD_DIR MEMBER
"""
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path


def main() -> int:
    folder, member = Path(sys.argv[1]), sys.argv[2]
    archives = sorted(p for p in folder.iterdir() if p.is_file())
    if len(archives) != 1:
        print(f"expected one archive in {folder}, found {len(archives)}", file=sys.stderr)
        return 1
    archive = archives[0]
    out = sys.stdout.buffer
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n == member or n.endswith("/" + member)]
            if len(names) != 1:
                return 1
            with z.open(names[0]) as f:
                shutil.copyfileobj(f, out, 1 << 20)
        return 0
    with tarfile.open(archive) as t:
        infos = [i for i in t.getmembers() if i.isfile() and (i.name == member or i.name.endswith("/" + member))]
        if len(infos) != 1:
            return 1
        f = t.extractfile(infos[0])
        shutil.copyfileobj(f, out, 1 << 20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
