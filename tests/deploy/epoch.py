# The trainer's work in the pod test (tests/deploy/containers.sh): one epoch of a fork DataLoader
# (num_workers=2) over the sidecar's Unix socket; every row of the split must come exactly once, and the
# batches come through the shared-memory pool whose memfd crossed from this container to the sidecar's.
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
seen, in_pool = [], 0
for batch in loader:
    seen += [int(i) for i in batch["_rowid"]]
    pool = tablecar.shm.existing_pool(db)  # made just before the workers were forked
    if pool is not None:
        start, end = pool.span()
        in_pool += start <= batch["label"].data_ptr() < end
expected = sorted(int(i) for i in perm.split("train").row_ids())
print(f"epoch rows={len(seen)} unique={len(set(seen))} expected={len(expected)}", flush=True)
print(f"batches through shared memory: {in_pool}", flush=True)
sys.exit(0 if sorted(seen) == expected else 1)
