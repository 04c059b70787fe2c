"""Run one command and print its peak resident set size: ``python _maxrss.py COMMAND...``.

``RUSAGE_CHILDREN.ru_maxrss`` of this small process is the largest peak of its children;
with one child, that child's own peak (kibibytes on Linux, bytes on macOS: printed in
kibibytes either way). Standard output and error of the command are discarded; its exit
status is passed on.
"""

from __future__ import annotations

import resource
import subprocess
import sys


def main() -> int:
    done = subprocess.run(
        sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if sys.platform == "darwin":
        peak //= 1024
    print(peak)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
