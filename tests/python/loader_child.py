"""The processes test_dataloader.py spawns: each creates the permutation, uses it, then runs DataLoaders
with forked workers over it and reports every epoch's row ids (and value mismatches) through a pipe.

It runs in a spawned process (not the test process) so that a hang can be detected and killed.
"""
from __future__ import annotations

import os
import traceback
import warnings

import numpy as np

import tcsupport as S
from tcsupport import tablecar

EPOCHS = 3
BATCH = 64
WORKERS = 4


def make_permutation(db, table: str = "example"):
    """The train split of the permutation every scenario reads (idempotent: same id everywhere)."""
    table = db.open_table(table)
    perm = (tablecar.permutation_builder(table)
            .split_random(ratios=[0.75, 0.25], seed=1, names=["train", "val"])
            .shuffle(seed=2)
            .execute())
    return perm.split("train").with_row_ids()


def _ids(batch) -> np.ndarray:
    v = batch["_rowid"]
    return v.numpy() if hasattr(v, "numpy") else np.asarray(v)


def _epochs(conn, loader, parent_view, tag=0, check=S.check_example_batch):
    """Runs EPOCHS epochs, reporting ("epoch", tag, epoch, ids, mismatches, batch sizes) after each; between
    epochs the parent reads through its own (pre-fork) handle, which must still work. check(ids, batch)
    lists a batch's wrong columns."""
    for epoch in range(EPOCHS):
        ids, bad, sizes = [], [], []
        for batch in loader:
            got = _ids(batch)
            ids.append(got)
            sizes.append(len(got))
            bad += [f"epoch {epoch}: {m}" for m in check(got, batch)]
        rows = parent_view[5:6]
        if check(rows["_rowid"], rows):
            bad.append("the parent's read after the epoch is wrong")
        conn.send(("epoch", tag, epoch, np.concatenate(ids) if ids else np.empty(0, np.int64), bad, sizes))


def main(scenario: str, address: str, conn, options: dict) -> None:
    # Expected noise: this machine has 2 cores (torch suggests <= 2 workers), and torch's default collate
    # warns once per worker when it wraps the numpy format's read-only views.
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    try:
        import torch
        from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

        # options: "table" (default "example"), "expected" ({column: python value per global row id}, to
        # check another table than the example's rules), "default_collate_columns".
        if "expected" in options:
            def check(ids, batch):
                return S.check_expected_batch(options["expected"], ids, batch)
        else:
            check = S.check_example_batch
        db = tablecar.connect(address, timeout=300)  # deadlines as hang guards, as in the test
        train = make_permutation(db, options.get("table", "example"))
        # Used in this (parent) process before any fork: the handle's connection is open and live.
        assert check(train.row_ids()[:8], train[0:8]) == []
        assert int(train[0]["_rowid"]) == int(train.row_ids()[0])
        assert len(next(train.iter(BATCH))["_rowid"]) == BATCH
        conn.send(("ready", train.id, os.getpid()))
        common = dict(num_workers=WORKERS, multiprocessing_context="fork", timeout=300,
                      persistent_workers=options.get("persistent", False))
        torch_view = train.with_format("torch")

        if scenario == "collate":  # the recommended setup
            loader = DataLoader(torch_view, batch_size=BATCH, collate_fn=tablecar.collate, **common)
            _epochs(conn, loader, train, check=check)
        elif scenario == "default_collate":  # torch's default collate over RowBatch rows
            view = train.select_columns(options.get("default_collate_columns", ["image", "label", "score"]))
            loader = DataLoader(view, batch_size=BATCH, **common)
            _epochs(conn, loader, train, check=check)
        elif scenario == "shuffle":  # random positions: TakeRows with the inherited row-id map
            loader = DataLoader(torch_view, batch_size=BATCH, shuffle=True, collate_fn=tablecar.collate, **common)
            _epochs(conn, loader, train, check=check)
        elif scenario in ("batch_sampler", "batch_sampler_random"):  # whole batches per worker, batch_size=None
            inner = (RandomSampler(torch_view, generator=torch.Generator().manual_seed(0))
                     if scenario == "batch_sampler_random" else SequentialSampler(torch_view))
            sampler = BatchSampler(inner, batch_size=50, drop_last=False)
            loader = DataLoader(torch_view, batch_size=None, sampler=sampler, **common)
            _epochs(conn, loader, train, check=check)
        elif scenario == "iterable":  # IterableDataset over workers x 2 simulated ranks
            for rank in range(2):
                ds = torch_view.as_iterable(batch_size=BATCH, rank=rank, world_size=2)
                _epochs(conn, DataLoader(ds, batch_size=None, **common), train, tag=rank, check=check)
        else:
            raise ValueError(scenario)
        conn.send(("done",))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()
