"""Waits until the tablecar sidecar is SERVING, then runs a command in its place.

    python3 -m tablecar.wait [--target T] [--timeout S] [-- CMD ARGS...]

For pods whose trainer starts next to the sidecar rather than after it (Kubernetes before 1.29: the
sidecar is a plain second container). Exits 1 when the sidecar is not SERVING within --timeout.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from .client import connect


def wait_serving(target: str, timeout: float) -> bool:
    """True once a health Check of TARGET says SERVING, False after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(target, timeout=2.0, retry=False) as db:
                if db.health() == "SERVING":
                    return True
        except Exception:  # not up yet: no socket, refused, NOT_SERVING
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cmd: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="python3 -m tablecar.wait", description=__doc__.splitlines()[0])
    p.add_argument("--target", default=os.environ.get("TABLECAR_TARGET", "unix:/tmp/tablecar.sock"))
    p.add_argument("--timeout", type=float, default=300.0, help="seconds (default 300)")
    args = p.parse_args(argv)
    if not wait_serving(args.target, args.timeout):
        print(f"tablecar.wait: {args.target} not SERVING after {args.timeout:g} s", file=sys.stderr)
        return 1
    if cmd:
        os.execvp(cmd[0], cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
