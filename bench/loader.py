"""The Python side of bench/run: torch DataLoader epochs over a tablecar permutation (batches through the
shared-memory pool, and over the socket with TABLECAR_SHM=0), a numpy memmap dataset and a grpcio dataset
(bench/grpc_service.py), the same rows in the same order (DIR/raw/ids.i64, the permutation's order); minor
page faults per batch in the main process, the workers and the server; fork to the first batch in a child;
grpcio's own call rates. One JSON object a line.

    /usr/bin/python3 bench/loader.py DIR --tablecar unix:/a.sock --grpc unix:/b.sock [--workers 0,2,4]
        [--batch 256] [--epoch-rows N] [--repeats N] [--forks N] [--calls N] [--server-pid PID]
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import tablecar
from grpc_service import METHOD, parse

COLUMNS = ["image", "label", "caption"]


def emit(**record) -> None:
    print(json.dumps({"tool": "python", **record}), flush=True)


class MemmapDataset(Dataset):
    """What many trainers use today: numpy memmaps of fixed-width files, a batch by fancy indexing."""

    def __init__(self, root: Path):
        raw = root / "raw"
        meta = json.loads((raw / "meta.json").read_text())
        self.rows, self.shape = int(meta["rows"]), tuple(meta["shape"])
        self.ids = np.fromfile(raw / "ids.i64", np.int64)
        self.images = np.memmap(raw / "images.u8", np.uint8, "r", shape=(self.rows, *self.shape))
        self.labels = np.memmap(raw / "labels.i64", np.int64, "r", shape=(self.rows,))
        self.cap_off = np.memmap(raw / "captions.off", np.int64, "r", shape=(self.rows + 1,))
        self.cap = np.memmap(raw / "captions.bin", np.uint8, "r")

    def __len__(self) -> int:
        return self.rows

    def __getitems__(self, positions):
        ids = self.ids[np.asarray(positions)]
        captions = [self.cap[self.cap_off[i]:self.cap_off[i + 1]].tobytes().decode() for i in ids]
        return {"image": torch.from_numpy(self.images[ids]), "label": torch.from_numpy(self.labels[ids]),
                "caption": captions}


class GrpcDataset(Dataset):
    """A dataset over one's own grpcio service: the channel is opened lazily in each process (grpcio cannot
    be used across fork), one unary call per batch."""

    def __init__(self, root: Path, target: str):
        meta = json.loads((root / "raw" / "meta.json").read_text())
        self.rows, self.shape = int(meta["rows"]), tuple(meta["shape"])
        self.ids = np.fromfile(root / "raw" / "ids.i64", np.int64)
        self.target = target
        self._pid, self._call = None, None

    def __len__(self) -> int:
        return self.rows

    def take(self, ids: np.ndarray):
        if self._pid != os.getpid():
            import grpc
            opts = [("grpc.max_receive_message_length", 256 << 20)]
            self._call = grpc.insecure_channel(self.target, options=opts).unary_unary(METHOD)
            self._pid = os.getpid()
        return parse(self._call(ids.tobytes(), timeout=60), self.shape)

    def __getitems__(self, positions):
        images, labels, captions = self.take(self.ids[np.asarray(positions)])
        return {"image": torch.from_numpy(images), "label": torch.from_numpy(labels), "caption": captions}


def tablecar_dataset(target: str, root: Path):
    db = tablecar.connect(target)
    perm = tablecar.permutation_builder(db.open_table("bench")).shuffle(seed=7).execute()  # tablecar-bench's
    if perm.id != (root / "raw" / "perm.id").read_text().strip():
        raise SystemExit("the permutation differs from tablecar-bench's: not the same rows in the same order")
    return perm.select_columns(COLUMNS).with_format("torch")


@contextlib.contextmanager
def shm_off(name: str):
    """tablecar_socket: the same dataset with batches in the messages (the library reads TABLECAR_SHM at
    every call, and forked workers inherit the environment)."""
    old = os.environ.get("TABLECAR_SHM")
    if name == "tablecar_socket":
        os.environ["TABLECAR_SHM"] = "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TABLECAR_SHM", None)
        else:
            os.environ["TABLECAR_SHM"] = old


def minflt(pid: int) -> int:
    """Minor page faults of a live process so far (/proc/PID/stat field 10)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def faults(ds, batch: int, rows: int, server_pid: int) -> dict:
    """Minor page faults per batch in steady state: DataLoader(2 persistent workers), the second and third
    epochs (the first one warms up: workers start, pools and caches fill)."""
    loader = DataLoader(ds, batch_size=batch, sampler=range(rows), num_workers=2, collate_fn=tablecar.collate,
                        persistent_workers=True, multiprocessing_context="fork")
    for _ in loader:
        pass
    workers = [w.pid for w in loader._iterator._workers]
    main0, work0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, sum(minflt(p) for p in workers)
    srv0 = minflt(server_pid) if server_pid else 0
    n = 0
    for _ in range(2):
        for b in loader:
            n += 1
            del b
    main1, work1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, sum(minflt(p) for p in workers)
    srv1 = minflt(server_pid) if server_pid else 0
    del loader
    gc.collect()
    return {"batches": n, "main": (main1 - main0) / n, "workers": (work1 - work0) / n,
            "server": (srv1 - srv0) / n if server_pid else None}


def epoch(ds, batch: int, workers: int, rows: int) -> tuple[float, float, int]:
    """(seconds to the first batch, seconds for the epoch, rows): non-persistent workers, as an epoch pays."""
    kw = {"multiprocessing_context": "fork"} if workers else {}
    loader = DataLoader(ds, batch_size=batch, sampler=range(rows), num_workers=workers,
                        collate_fn=tablecar.collate, persistent_workers=False, **kw)
    t0 = time.perf_counter()
    first, got = None, 0
    for b in loader:
        if first is None:
            first = time.perf_counter() - t0
        got += len(b["label"])
    return first or 0.0, time.perf_counter() - t0, got


def fork_first_batch(ds, batch: int, forks: int) -> list[float]:
    """Seconds from fork() to the first batch in the child, each child once (the parent used ds first).
    ds None: to the child's first instruction (the floor: fork() of this process itself)."""
    if ds is not None:
        ds.__getitems__(range(batch))
    out = []
    for _ in range(forks):
        r, w = os.pipe()
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                if ds is not None:
                    ds.__getitems__(range(batch))
                os.write(w, repr(time.perf_counter() - t0).encode())
            finally:
                os._exit(0)
        os.close(w)
        msg = os.read(r, 100)
        os.close(r)
        os.waitpid(pid, 0)
        if msg:
            out.append(float(msg))
    return out


def grpc_calls(ds: GrpcDataset, batch: int, calls: int, run: int) -> None:
    lat = []
    per = len(ds.ids) // batch
    t0 = time.perf_counter()
    for k in range(calls):
        c0 = time.perf_counter()
        ds.take(ds.ids[(k % per) * batch:(k % per) * batch + batch])
        lat.append(time.perf_counter() - c0)
    secs = time.perf_counter() - t0
    lat.sort()
    emit(method="grpcio", transport="unix", batch=batch, inflight=1, run=run, calls=calls, rows=calls * batch,
         image_bytes=calls * batch * int(np.prod(ds.shape)), seconds=secs, p50_us=lat[len(lat) // 2] * 1e6,
         p99_us=lat[min(len(lat) - 1, len(lat) * 99 // 100)] * 1e6)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--tablecar", required=True)
    ap.add_argument("--grpc", required=True)
    ap.add_argument("--workers", default="0,2,4")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epoch-rows", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--forks", type=int, default=20)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--server-pid", type=int, default=0)
    a = ap.parse_args()
    memmap = MemmapDataset(a.dir)
    rows = min(a.epoch_rows or memmap.rows, memmap.rows)
    tc = tablecar_dataset(a.tablecar, a.dir)
    sets = {"tablecar": tc, "tablecar_socket": tc, "memmap": memmap, "grpcio": GrpcDataset(a.dir, a.grpc)}
    for run in range(a.repeats):
        for batch in (1, 256):
            grpc_calls(sets["grpcio"], batch, a.calls if batch == 1 else max(20, a.calls // 20), run)
        for workers in [int(w) for w in a.workers.split(",")]:
            for name, ds in sets.items():
                with shm_off(name):
                    first, secs, got = epoch(ds, a.batch, workers, rows)
                emit(method=f"dataloader_{name}", workers=workers, batch=a.batch, run=run, rows=got, seconds=secs,
                     first_batch_s=first)
    for name in ("tablecar", "tablecar_socket", "memmap"):
        with shm_off(name):
            emit(method=f"faults_{name}", batch=a.batch, **faults(sets[name], a.batch, rows, a.server_pid))
    for name, ds in [("fork_alone", None), *sets.items()]:
        with shm_off(name):
            t = fork_first_batch(ds, a.batch, a.forks)
        emit(method=f"fork_first_batch_{name}", batch=a.batch, samples=len(t), median_s=statistics.median(t),
             min_s=min(t), max_s=max(t))


if __name__ == "__main__":
    main()
