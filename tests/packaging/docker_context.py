#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Copies what `docker build .` would send as its context to DIR.

The files are those git knows (tracked, or untracked and not ignored),
less what .dockerignore excludes, so that tests/packaging/run.sh builds from
the same tree deploy/Dockerfile's build stage gets. The patterns are read
as Docker reads them for the forms .dockerignore uses: a path relative to
the context root, `*` within one name, `**/` for any folders in front, and
a pattern that names a folder excludes all below it. `!` exceptions are not
supported (and not used).

Usage: docker_context.py REPO_ROOT DIR
"""
import fnmatch
import os
import shutil
import subprocess
import sys


def read_patterns(root):
    patterns = []
    with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("!"):
                sys.exit("docker_context.py: '!' patterns are not supported: " + line)
            patterns.append(line.strip("/"))
    return patterns


def name_matches(path, pattern):
    """True when `path` (or one of its folders) matches `pattern`."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(fnmatch.fnmatchcase(part, tail) for part in parts)
    depth = pattern.count("/") + 1
    return len(prefixes) >= depth and fnmatch.fnmatchcase(prefixes[depth - 1], pattern)


def main():
    root, dest = sys.argv[1], sys.argv[2]
    patterns = read_patterns(root)
    files = subprocess.run(
        ["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True).stdout.decode().split("\0")
    for path in filter(None, files):
        source = os.path.join(root, path)
        if not os.path.lexists(source) or any(name_matches(path, p) for p in patterns):
            continue
        target = os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


if __name__ == "__main__":
    main()
