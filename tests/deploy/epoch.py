# The trainer's work in the pod test (tests/deploy/containers.sh): one epoch of a fork DataLoader
# (num_workers=2) over the sidecar's Unix socket; every row of the split must come exactly once.
import os
import sys

import torch.utils.data as tud

import tablecar

db = tablecar.connect(os.environ["TABLECAR_TARGET"])
table = db.open_table("example")
perm = (tablecar.permutation_builder(table)
        .split_random(ratios=[0.9, 0.1], seed=42, names=["train", "val"]).shuffle(seed=7).execute())
train = perm.split("train").select_columns(["label"]).with_row_ids().with_format("torch")
loader = tud.DataLoader(train, batch_size=64, num_workers=2, multiprocessing_context="fork",
                        collate_fn=tablecar.collate)
seen = [int(i) for batch in loader for i in batch["_rowid"]]
expected = sorted(int(i) for i in perm.split("train").row_ids())
print(f"epoch rows={len(seen)} unique={len(set(seen))} expected={len(expected)}", flush=True)
sys.exit(0 if sorted(seen) == expected else 1)
