"""The processes test_shm.py spawns: each makes its own shared-memory pool (settings from the environment it
is given), runs DataLoaders with forked workers and reports through a pipe. Spawned, so that every scenario
starts without a pool and a hang can be killed."""
from __future__ import annotations

import gc
import os
import signal
import traceback

import numpy as np

import tcsupport as S
from tcsupport import tablecar
from loader_child import make_permutation

EPOCHS = 3
BATCH = 64


def _in_pool(pool, t) -> bool:
    if pool is None:
        return False
    start, end = pool.span()
    p = t.data_ptr()
    return start <= p < end


def _socket_mismatches(table, batch) -> list[str]:
    """The batch against the same rows read over the socket (the python format never uses the pool)."""
    ids = batch["_rowid"].numpy()
    ref = table.take(ids, format="python")
    bad = []
    for k in ("image", "label", "score"):
        if not np.array_equal(batch[k].numpy(), np.asarray(ref[k], dtype=batch[k].numpy().dtype)):
            bad.append(k)
    if list(batch["caption"]) != ref["caption"]:
        bad.append("caption")
    return bad


def _loader(perm, workers: int, **kw):
    """DataLoader(fork) with tablecar.collate. (A process started with multiprocessing's spawn, as this one,
    would spawn its workers too: they could not inherit the pool.) No `timeout`: with one, torch waits for a
    batch in a single blocking get instead of checking its workers every 5 s, and notices a killed worker only
    through SIGCHLD, which Python runs in the main thread only once that get returns when the signal landed
    on another thread: under load the killed-worker test waited out the whole timeout. The test's own guard
    (HANG_SECONDS) catches real hangs."""
    import torch.utils.data as tud
    return tud.DataLoader(perm, batch_size=BATCH, num_workers=workers, collate_fn=tablecar.collate,
                          multiprocessing_context="fork", **kw)


def epochs(address: str, workers: int, persistent: bool) -> dict:
    db = tablecar.connect(address)
    perm = make_permutation(db).with_format("torch")
    table = db.open_table("example")
    loader = _loader(perm, workers, persistent_workers=persistent)
    out = {"ids": [], "bad": [], "in_pool": 0, "batches": 0}
    kept = []
    for epoch in range(EPOCHS):
        ids = []
        for batch in loader:
            ids.append(batch["_rowid"].numpy().copy())
            out["bad"] += [f"epoch {epoch}: {m}" for m in S.check_example_batch(ids[-1], batch)]
            pool = tablecar.shm.existing_pool(db)  # made just before the workers were forked
            out["in_pool"] += _in_pool(pool, batch["image"])
            out["batches"] += 1
            if epoch == 0:
                kept.append(batch)  # alive past the next batches: its slot must not be reused under it
        out["ids"].append(np.concatenate(ids).tolist())
    for b in kept:
        out["bad"] += [f"kept batch: {m}" for m in S.check_example_batch(b["_rowid"].numpy(), b)]
        out["bad"] += [f"kept batch vs socket: {m}" for m in _socket_mismatches(table, b)]
    out["held_with_kept"] = (tablecar.shm.stats(db) or (0, 0))[1]
    del kept, batch, loader
    gc.collect()
    out["slots"], out["held_after"] = tablecar.shm.stats(db) or (0, 0)
    return out


def killed_worker(address: str) -> dict:
    db = tablecar.connect(address)
    perm = make_permutation(db).with_format("torch")
    loader = _loader(perm, 2)
    out = {"error": None}
    it = iter(loader)
    first = next(it)
    os.kill(it._workers[0].pid, signal.SIGKILL)
    try:
        for _ in it:
            pass
    except RuntimeError as e:  # "DataLoader worker (pid ...) is killed by signal"
        out["error"] = str(e)
    del it, first
    gc.collect()
    pool = tablecar.shm.existing_pool(db)
    n, _ = pool.stats()
    got = [pool.acquire() for _ in range(n)]  # the dead worker's slots are taken back
    out["acquired"] = sum(g is not None for g in got)
    for g in got:
        if g is not None:
            pool.release(*g)
    rows, in_pool = 0, 0
    for batch in _loader(perm, 2):
        rows += len(batch["_rowid"])
        in_pool += _in_pool(pool, batch["image"])
    out["rows_after"], out["in_pool_after"], out["slots"] = rows, in_pool, n
    return out


def main(scenario: str, address: str, send, args: tuple, env: dict) -> None:
    try:
        os.environ.update(env)
        send.send(("done", globals()[scenario](address, *args)))
    except BaseException:
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()
