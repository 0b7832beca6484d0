#!/usr/bin/python3
"""Benchmark: a fork DataLoader epoch over a table served from S3 (the S3 test store, with an artificial
latency per request) against the same table served from a local dir. Prints figures; asserts nothing.

    bench/remote.py [--rows N] [--latency-ms MS] [--workers W] [--batch B]

Run through bench/remote.sh (finds the build). For each latency it reports: how long the sidecar took to
be ready (its listing, and each Arrow file's footer and blocks' metadata: record batches are fetched when
first read, the ones a permutation reads next prefetched), rows/s of epochs 1 and 2 and their ratio to the
local table's, the store requests made during each epoch (GETs per batch) and the bytes they fetched.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SOURCE_DIR / "tests" / "python"))

import tcsupport as S  # noqa: E402
from tcsupport import tablecar  # noqa: E402


def epoch(address: str, batch: int, workers: int) -> tuple[int, float]:
    import torch  # noqa: F401
    from torch.utils.data import DataLoader
    db = tablecar.connect(address, timeout=60)
    train = (tablecar.permutation_builder(db.open_table("example")).shuffle(seed=2).execute()
             .split("0").with_format("torch"))
    loader = DataLoader(train, batch_size=batch, collate_fn=tablecar.collate, num_workers=workers,
                        multiprocessing_context="fork")
    t0 = time.perf_counter()
    rows = sum(len(b["label"]) for b in loader)
    return rows, time.perf_counter() - t0


def run_remote(rows: int, latency: int, batch: int, workers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        data = Path(tmp, "data")
        data.mkdir()
        import subprocess
        subprocess.run([S.MKFIXTURE, "big", str(data / "example.arrow"), "--rows", str(rows), "--batch-rows", "256",
                        "--image", "3x32x32"], check=True)
        size = (data / "example.arrow").stat().st_size
        import shutil
        local = S.Server(rows=10, batch_rows=8,  # its example.arrow replaced by the same file
                         prepare=lambda d: shutil.copy(data / "example.arrow", d / "example.arrow"))
        store = S.S3Store(Path(tmp, "store")).start()
        try:
            store.upload("tc-bench", "t", data)
            import urllib.request
            urllib.request.urlopen(urllib.request.Request(f"{store.endpoint}/__admin/latency?ms={latency}",
                                                          method="POST"), timeout=10).close()
            sock = str(Path(tmp, "r.sock"))
            env = {k: v for k, v in os.environ.items() if not k.startswith("TABLECAR_")} | store.env()
            t0 = time.perf_counter()
            base = store.stats()
            srv = subprocess.Popen([S.SERVER, "--data-dir", "s3://tc-bench/t", "--listen", f"unix:{sock}",
                                    "--remote-cache-dir", str(Path(tmp, "cache")), "--log-level", "warn"], env=env)
            db = tablecar.connect(f"unix:{sock}", timeout=60)
            while True:
                try:
                    if db.health() == "SERVING":
                        break
                except tablecar.TablecarError:
                    pass
                time.sleep(0.01)
            ready = time.perf_counter() - t0
            s0 = store.stats()
            print(f"latency {latency:3d} ms/request, table {rows} rows, {size / 1e6:.1f} MB: sidecar ready in "
                  f"{ready:.2f} s ({s0['list'] - base['list']} listings, {s0['get'] - base['get']} GETs, "
                  f"{(s0['get_bytes'] - base['get_bytes']) / 1e6:.1f} MB)")
            remote = []
            for e in (1, 2):
                before = store.stats()
                n, dt = epoch(f"unix:{sock}", batch, workers)
                after = store.stats()
                remote.append((e, n / dt, after["get"] - before["get"], after["get_bytes"] - before["get_bytes"],
                               after["list"] - before["list"], n))
            srv.terminate()
            srv.wait()
            with local:
                n, dt = epoch(local.address, batch, workers)
            for e, rate, gets, nbytes, lists, n_rows in remote:
                print(f"  remote epoch {e}: {rate:10.0f} rows/s ({rate / (n / dt):.2f}x local)  GETs {gets} "
                      f"({gets / max(1, n_rows // batch):.3f} per batch of {batch}, {nbytes / 1e6:.1f} MB), "
                      f"listings {lists}")
            print(f"  local  epoch  : {n / dt:10.0f} rows/s")
        finally:
            store.stop()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--latency-ms", type=int, action="append")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    for latency in a.latency_ms or [0, 20]:
        run_remote(a.rows, latency, a.batch, a.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
