"""The tablecar Python API against a real server: tables, schema, take, permutations, formats, errors."""
from __future__ import annotations

import ctypes
import gc
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import unittest
import weakref
from pathlib import Path
from unittest import mock

import numpy as np

import tcsupport as S
from tcsupport import tablecar

ROWS = 2000


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = S.Server(rows=ROWS, batch_rows=256, all_types=True).start()
        cls.db = tablecar.connect(cls.server.address, timeout=30)
        cls.table = cls.db.open_table("example")

    @classmethod
    def tearDownClass(cls):
        cls.db.close()
        cls.server.stop()

    # ---- tables ----

    def test_table_names(self):
        self.assertEqual(self.db.table_names(), ["all_types", "example"])
        self.assertEqual(self.db.health(), "SERVING")

    def test_schema(self):
        s = self.table.schema
        self.assertEqual(s.names, ["image", "label", "caption", "score"])
        img = s["image"]
        self.assertEqual((img.type, img.shape, img.element_type, img.nullable), ("fixed_size_list", (3, 8, 8),
                                                                                   "uint8", False))
        self.assertEqual(img.dtype, np.dtype(np.uint8))
        self.assertEqual((s["label"].type, s["label"].nullable, s["label"].shape), ("int64", False, ()))
        self.assertEqual((s["caption"].type, s["caption"].nullable, s["caption"].dtype), ("utf8", True, None))
        self.assertEqual((s["score"].type, s["score"].dtype), ("float32", np.dtype(np.float32)))
        self.assertEqual(s.metadata, {})
        self.assertIs(s[1], s["label"])
        with self.assertRaises(KeyError):
            s["nope"]
        a = self.db.open_table("all_types").schema
        self.assertEqual(a.metadata, {"origin": "tablecar tc-mkfixture", "rows": "12"})
        self.assertEqual(a["float32"].metadata, {"unit": "furlongs"})
        self.assertEqual((a["ts_us_paris"].unit, a["ts_us_paris"].timezone), ("us", "Europe/Paris"))
        self.assertEqual((a["ts_s"].unit, a["ts_s"].timezone), ("s", None))
        self.assertEqual(a["fixed_size_binary"].byte_width, 3)
        self.assertEqual(a["struct"].type, "struct")
        self.assertEqual([c.name for c in a["struct"].children], ["a", "b"])
        self.assertEqual(a["nested_fixed_size_list"].shape, (2, 3))

    def test_count_rows_version(self):
        self.assertEqual(self.table.count_rows(), ROWS)
        self.assertEqual(len(self.table), ROWS)
        self.assertEqual(self.table.name, "example")
        self.assertRegex(self.table.version, r"^\S+$")
        self.assertEqual(self.table.files, ["example.arrow"])
        self.assertEqual(self.db.open_table("all_types").count_rows(), 12)

    # ---- take ----

    def test_take_numpy_values(self):
        ids = [0, 3, 17, 255, 256, 1999, 3]  # batch boundaries, nulls (i % 7 == 3), a duplicate
        r = self.table.take(ids)
        self.assertEqual(list(r), ["image", "label", "caption", "score"])
        self.assertEqual(S.check_example_batch(ids, r), [])
        self.assertEqual((r["image"].dtype, r["image"].shape), (np.uint8, (7, 3, 8, 8)))
        self.assertEqual((r["label"].dtype, r["score"].dtype, r["caption"].dtype), (np.int64, np.float32, object))
        self.assertEqual(r["caption"].tolist(), ["row 0", None, None, None, "row 256", "row 1999", None])
        self.assertNotIsInstance(r["label"], np.ma.MaskedArray)
        # Zero-copy and read-only: views over the received message.
        for k in ("image", "label", "score"):
            self.assertFalse(r[k].flags.owndata, k)
            self.assertFalse(r[k].flags.writeable, k)

    def test_take_columns_and_row_ids(self):
        r = self.table.take([5, 1], columns=["score", "label"], with_row_ids=True)
        self.assertEqual(list(r), ["_rowid", "score", "label"])
        self.assertEqual(r["_rowid"].tolist(), [5, 1])
        self.assertEqual(r["label"].tolist(), [5, 1])

    def test_zero_copy_lifetime(self):
        """The batch is freed exactly when its last view is gone, not before."""
        r = self.table.take(list(range(100, 164)))
        img, label = r["image"], r["label"]
        owner = img.base.owner
        self.assertIs(label.base.owner, owner)
        ref = weakref.ref(owner)
        del r, owner
        gc.collect()
        self.assertIsNotNone(ref())
        junk = [self.table.take([i]) for i in range(20)]  # reuse the freed heap, if anything was freed
        del junk
        np.testing.assert_array_equal(img, S.image(range(100, 164)))
        np.testing.assert_array_equal(label, S.label(range(100, 164)))
        row = img[7]
        del img, label
        gc.collect()
        self.assertIsNotNone(ref())  # row still views it
        np.testing.assert_array_equal(row, S.image([107])[0])
        del row
        gc.collect()
        self.assertIsNone(ref())

    @unittest.skipUnless(S.HAVE_TORCH, "torch is not installed")
    def test_take_torch(self):
        import torch
        ids = list(range(250, 270))
        r = self.table.take(ids, format="torch")
        self.assertEqual((r["image"].dtype, tuple(r["image"].shape)), (torch.uint8, (20, 3, 8, 8)))
        self.assertEqual((r["label"].dtype, r["score"].dtype), (torch.int64, torch.float32))
        self.assertIsInstance(r["caption"], list)
        self.assertEqual(S.check_example_batch(ids, r), [])
        for k in ("image", "label", "score"):  # owned, aligned, writable copies
            self.assertEqual(r[k].data_ptr() % r[k].element_size(), 0)
            r[k].add_(1)

    def test_take_python(self):
        r = self.table.take([3, 4], format="python")
        self.assertEqual(r["label"], [3, 4])
        self.assertEqual(r["caption"], [None, "row 4"])
        self.assertEqual(r["score"], [0.75, 1.0])
        self.assertEqual(r["image"], S.image([3, 4]).tolist())
        self.assertIsInstance(r["label"][0], int)

    def test_all_types(self):
        t = self.db.open_table("all_types")
        ids = list(range(12))
        py = t.take(ids, format="python")
        mix = [(i * 0x9E3779B97F4A7C15) % 2**64 for i in ids]

        def signed(v, bits):
            return v - (1 << bits) if v >= 1 << (bits - 1) else v

        def nulls(col, values):  # column c is null at row i when (i + c) % 4 == 0, except column 0
            c = t.schema.names.index(col)
            return [None if (i + c) % 4 == 0 else v for i, v in zip(ids, values)]

        self.assertEqual(py["id"], ids)
        self.assertEqual(py["bool"], nulls("bool", [i % 3 == 0 for i in ids]))
        self.assertEqual(py["int8"], nulls("int8", [signed(m >> 56, 8) for m in mix]))
        self.assertEqual(py["int32"], nulls("int32", [signed(m >> 32, 32) for m in mix]))
        self.assertEqual(py["uint16"], nulls("uint16", [(m >> 48) for m in mix]))
        self.assertEqual(py["uint64"], nulls("uint64", mix))
        self.assertEqual(py["float16"], nulls("float16", [(i % 16) * 0.5 - 2.0 for i in ids]))
        self.assertEqual(py["float32"], nulls("float32", [i * 0.75 - 3.5 for i in ids]))
        self.assertEqual(py["fixed_size_binary"],
                         nulls("fixed_size_binary", [bytes((i * 3 + k + 250) % 256 for k in range(3)) for i in ids]))
        self.assertEqual(py["large_utf8"], nulls("large_utf8", ["LLL"[:i % 4] + str(i) for i in ids]))
        self.assertEqual(py["binary"],
                         nulls("binary", [bytes((i * 7 + k * 100) % 256 for k in range(i % 5)) for i in ids]))
        import datetime as dt
        self.assertEqual(py["date32"], nulls("date32", [dt.date(1970, 1, 1) + dt.timedelta(days=i * 1000 - 20000)
                                                        for i in ids]))
        self.assertEqual(py["ts_s"], nulls("ts_s", [dt.datetime(1970, 1, 1) + dt.timedelta(seconds=1700000000 + i * 3600)
                                                    for i in ids]))
        self.assertEqual(py["ts_ns"], nulls("ts_ns", [1700000000000000000 + i * 1000000007 for i in ids]))
        self.assertEqual(py["list"][1:4], [[10], [20, 21], [30, None, 32]])
        self.assertEqual(py["struct"][:3], [None, {"a": 3, "b": None}, {"a": 6, "b": "b2"}])
        self.assertEqual(py["nested_fixed_size_list"][0], [[0, 1, 2], [3, 4, 5]])
        # numpy: nulls of numeric columns are masks over the zero-copy values; integers stay integers.
        npy = t.take(ids)
        self.assertIsInstance(npy["int32"], np.ma.MaskedArray)
        self.assertEqual(npy["int32"].dtype, np.int32)
        self.assertEqual(npy["ts_ms_utc"].dtype, np.dtype("datetime64[ms]"))
        self.assertEqual(npy["nested_fixed_size_list"].shape, (12, 2, 3))
        if S.HAVE_TORCH:
            with self.assertRaisesRegex(ValueError, "nulls"):
                t.take(ids, columns=["int32"], format="torch")
            f = t.take(ids, columns=["float32", "id"], format="torch")
            self.assertTrue(np.isnan(f["float32"][1].item()))
            self.assertEqual(f["id"].tolist(), ids)
            import torch
            u = t.take([2, 3, 6, 7], columns=["uint32", "uint16"], format="torch")  # rows without nulls: widened
            self.assertEqual((u["uint32"].dtype, u["uint16"].dtype), (torch.int64, torch.int32))
            self.assertEqual(u["uint32"].tolist(), [mix[i] >> 32 for i in (2, 3, 6, 7)])

    # ---- errors ----

    def test_errors(self):
        with self.assertRaises(tablecar.NotFoundError) as cm:
            self.db.open_table("nope")
        e = cm.exception
        self.assertEqual((e.code, e.status), (5, "NOT_FOUND"))
        self.assertIn("nope", e.message)
        self.assertIsInstance(e, tablecar.TablecarError)
        e2 = pickle.loads(pickle.dumps(e))
        self.assertEqual((type(e2), e2.code, e2.message), (type(e), e.code, e.message))
        with self.assertRaises(tablecar.InvalidArgumentError):
            self.table.take([1], columns=["nope"])
        with self.assertRaises(tablecar.OutOfRangeError) as cm:
            self.table.take([0, ROWS])
        self.assertIsInstance(cm.exception, IndexError)
        self.assertEqual(cm.exception.status, "OUT_OF_RANGE")
        with self.assertRaises(tablecar.InvalidArgumentError) as cm:
            tablecar.connect("bogus:://")
        self.assertEqual(cm.exception.code, -2)
        # The library's reason, not only "cannot create a client".
        self.assertEqual(cm.exception.message, 'bad target "bogus:://": IPv6 addresses go in brackets: [ADDR]:PORT')
        with self.assertRaises(tablecar.InvalidArgumentError) as cm:
            tablecar.connect("unix:/x", max_message_bytes=1 << 33)
        self.assertEqual(cm.exception.message, "bad options: max_recv_message_bytes is not 1 .. 2^32-1")

    def test_unreachable(self):
        missing = f"unix:{self.server.dir}/missing.sock"
        with self.assertRaises(tablecar.ConnectError):
            tablecar.connect(missing, retry=False).table_names()
        with self.assertRaises(tablecar.DeadlineExceededError) as cm:
            tablecar.connect(missing, timeout=0.3).table_names()
        self.assertIsInstance(cm.exception, TimeoutError)

    # ---- permutations ----

    def perm(self):
        return tablecar.permutation_builder(self.table)

    def test_default_permutation_is_table_order(self):
        p = self.perm().execute()
        self.assertEqual(p.splits, [tablecar.SplitInfo("0", ROWS)])
        self.assertEqual(len(p), ROWS)
        np.testing.assert_array_equal(p.row_ids(), np.arange(ROWS))
        self.assertEqual(p.table_name, "example")
        self.assertEqual(p.table_version, self.table.version)

    def test_shuffle(self):
        a = self.perm().shuffle(seed=7).execute()
        b = self.perm().shuffle(seed=7).execute()
        c = self.perm().shuffle(seed=8).execute()
        k = self.perm().shuffle(seed=7, clump_size=16).execute()
        self.assertEqual(a.id, b.id)
        self.assertNotEqual(a.id, c.id)
        ra, rc, rk = a.row_ids(), c.row_ids(), k.row_ids()
        np.testing.assert_array_equal(np.sort(ra), np.arange(ROWS))
        np.testing.assert_array_equal(np.sort(rk), np.arange(ROWS))
        self.assertFalse(np.array_equal(ra, np.arange(ROWS)))
        self.assertFalse(np.array_equal(ra, rc))
        runs = rk.reshape(-1, 16)  # clumps: runs of 16 consecutive rows
        self.assertTrue(np.all(np.diff(runs, axis=1) == 1))
        f = tablecar.Permutation.from_id(self.db, a.id)
        self.assertEqual((f.id, f.splits), (a.id, a.splits))
        np.testing.assert_array_equal(f.row_ids(), ra)
        with self.assertRaises(tablecar.NotFoundError):
            tablecar.Permutation.from_id(self.db, "0" * 32)

    def assert_partition(self, perm, sizes, total=ROWS):
        self.assertEqual([s.num_rows for s in perm.splits], sizes)
        parts = [perm.split(i).row_ids() for i in range(len(sizes))]
        allids = np.concatenate(parts)
        self.assertEqual(len(np.unique(allids)), len(allids), "splits overlap")
        self.assertTrue(np.all((allids >= 0) & (allids < total)))
        if sum(sizes) == total:
            np.testing.assert_array_equal(np.sort(allids), np.arange(total))
        return parts

    def test_split_random(self):
        p = self.perm().split_random(ratios=[0.8, 0.2], seed=3, names=["train", "val"]).shuffle(seed=5).execute()
        self.assertEqual([s.name for s in p.splits], ["train", "val"])
        self.assert_partition(p, [1600, 400])
        self.assertEqual(p.split_name, "train")
        val = p.split("val")
        self.assertEqual((val.split_name, val.split_index, len(val)), ("val", 1, 400))
        np.testing.assert_array_equal(p.split(1).row_ids(), val.row_ids())
        np.testing.assert_array_equal(p.split(-1).row_ids(), val.row_ids())
        with self.assertRaises(tablecar.NotFoundError):
            p.split("test")
        with self.assertRaises(tablecar.NotFoundError):
            p.split(2)
        self.assert_partition(self.perm().split_random(counts=[100, 50], seed=1).execute(), [100, 50])
        self.assert_partition(self.perm().split_random(fixed=4).execute(), [500] * 4)
        with self.assertRaises(tablecar.InvalidArgumentError):
            self.perm().split_random(ratios=[0.8, 0.5]).execute()  # the server says no
        with self.assertRaises(tablecar.InvalidArgumentError):
            self.perm().split_random(ratios=[0.5], counts=[3])  # exactly one of ratios, counts, fixed

    def test_split_sequential(self):
        a, b = self.assert_partition(self.perm().split_sequential(ratios=[0.25, 0.75]).execute(), [500, 1500])
        np.testing.assert_array_equal(a, np.arange(500))
        np.testing.assert_array_equal(b, np.arange(500, ROWS))
        p = self.perm().split_sequential(counts=[10, 20], names=["x", "y"]).shuffle(seed=1).execute()
        x, y = self.assert_partition(p, [10, 20])
        self.assertEqual(sorted(x.tolist()), list(range(10)))
        self.assertEqual(sorted(y.tolist()), list(range(10, 30)))

    def test_split_hash(self):
        p = self.perm().split_hash(["label"], [1, 1], names=["a", "b"]).execute()
        a, b = self.assert_partition(p, [len(p.split("a")), len(p.split("b"))])
        self.assertEqual(len(a) + len(b), ROWS)
        self.assertFalse(set((a % 10).tolist()) & set((b % 10).tolist()), "a label is in both splits")
        p2 = self.perm().split_hash("caption", [3, 1]).execute()  # nulls hash too
        self.assert_partition(p2, [len(p2.split(0)), len(p2.split(1))])
        self.assertEqual(len(p2.split(0)) + len(p2.split(1)), ROWS)

    def test_rows_and_batches(self):
        p = self.perm().split_random(ratios=[0.5, 0.5], seed=9).shuffle(seed=2).execute().with_row_ids()
        ids = p.row_ids()
        r = p[0]
        self.assertEqual(r["_rowid"], ids[0])
        self.assertEqual(r["label"], ids[0] % 10)
        self.assertEqual(r["caption"], S.caption(int(ids[0])))
        np.testing.assert_array_equal(r["image"], S.image([ids[0]])[0])
        self.assertEqual(p[-1]["_rowid"], ids[-1])
        with self.assertRaises(IndexError):
            p[len(p)]
        # consecutive (ReadBatch) and scattered (TakeRows) positions give the same rows
        for pos in ([10, 11, 12, 13], [13, 10, 12, 11, 10], list(range(len(p) - 5, len(p)))):
            b = p.__getitems__(pos)
            self.assertIsInstance(b, tablecar.RowBatch)
            self.assertEqual(len(b), len(pos))
            np.testing.assert_array_equal(b.row_ids, ids[pos])
            np.testing.assert_array_equal(b.columns["_rowid"], ids[pos])
            self.assertEqual(S.check_example_batch(ids[pos], b.columns), [])
            self.assertEqual(b[1]["_rowid"], ids[pos[1]])
        self.assertEqual(p.__getitems__([4, 5]).offset, 4)
        cols = p[100:110]
        np.testing.assert_array_equal(cols["_rowid"], ids[100:110])
        np.testing.assert_array_equal(p[[7, 3]]["_rowid"], ids[[7, 3]])
        np.testing.assert_array_equal(p.read_batch(995, 10)["_rowid"], ids[995:])
        with self.assertRaises(tablecar.OutOfRangeError):
            p.read_batch(len(p), 1)
        # iteration protocols
        small = self.perm().split_random(counts=[5], seed=1).execute()
        self.assertEqual([int(x["label"]) for x in small], [int(i % 10) for i in small.row_ids()])
        self.assertEqual(len(list(small)), 5)

        class Legacy:  # the old iteration protocol: __getitem__ until IndexError
            def __getitem__(self, i):
                return small[i]["label"]

        self.assertEqual([int(x) for x in Legacy()], [int(i % 10) for i in small.row_ids()])

    def test_select_columns_and_formats(self):
        p = self.perm().shuffle(seed=4).execute()
        ids = p.row_ids()
        s = p.select_columns(["score", "image"])
        self.assertEqual(list(s[0]), ["score", "image"])
        self.assertEqual(s.columns, ["score", "image"])
        self.assertIsNone(p.columns)
        with self.assertRaises(tablecar.InvalidArgumentError):
            p.select_columns(["nope"])[0]
        with self.assertRaises(tablecar.InvalidArgumentError):
            p.select_columns([])
        py = p.with_format("python").select_columns(["label", "caption"]).read_batch(0, 3)
        self.assertEqual(py, {"label": [int(i % 10) for i in ids[:3]], "caption": [S.caption(int(i)) for i in ids[:3]]})
        with self.assertRaises(ValueError):
            p.with_format("arrow")
        if S.HAVE_TORCH:
            import torch
            b = p.with_format("torch").__getitems__(list(range(32)))
            self.assertEqual((tuple(b.columns["image"].shape), b.columns["image"].dtype), ((32, 3, 8, 8), torch.uint8))
            self.assertEqual(b.columns["label"].dtype, torch.int64)
            self.assertEqual(b.columns["score"].dtype, torch.float32)
            self.assertEqual(S.check_example_batch(ids[:32], b.columns), [])
            self.assertIs(tablecar.collate(b), b.columns)

    def test_stream_shards(self):
        p = self.perm().split_random(ratios=[0.7, 0.3], seed=1).shuffle(seed=1).execute().split(1).with_row_ids()
        ids = p.row_ids()
        whole = np.concatenate([b["_rowid"] for b in p.iter(batch_size=64)])
        np.testing.assert_array_equal(whole, ids)
        for n in (1, 3, 4):
            got = []
            for i in range(n):
                batches = list(p.iter(batch_size=50, shard=(i, n)))
                self.assertTrue(all(len(b["_rowid"]) == 50 for b in batches[:-1]))
                shard = np.concatenate([b["_rowid"] for b in batches])
                np.testing.assert_array_equal(shard, ids[i::n])
                for b in batches:
                    self.assertEqual(S.check_example_batch(b["_rowid"], b), [])
                got.append(shard)
            np.testing.assert_array_equal(np.sort(np.concatenate(got)), np.sort(ids))
        part = np.concatenate([b["_rowid"] for b in p.iter(batch_size=7, start=100, end=130)])
        np.testing.assert_array_equal(part, ids[100:130])
        self.assertEqual([len(b["_rowid"]) for b in p.iter(batch_size=7, start=100, end=130, drop_last=True)], [7] * 4)
        self.assertEqual(list(p.iter(batch_size=7, start=10, end=10)), [])
        with self.assertRaises(tablecar.InvalidArgumentError):
            list(p.iter(batch_size=7, shard=(2, 2)))

    def test_iterable_shard_assignment(self):
        p = self.perm().execute()
        self.assertEqual(p.as_iterable(8, rank=1, world_size=2).shard(), (1, 2))
        with mock.patch.dict(os.environ, {"RANK": "2", "WORLD_SIZE": "3"}):
            self.assertEqual(p.as_iterable(8).shard(), (2, 3))
            self.assertEqual(p.as_iterable(8, rank=0).shard(), (0, 3))
        with mock.patch.dict(os.environ, {}, clear=False):
            os.environ.pop("RANK", None), os.environ.pop("WORLD_SIZE", None)
            self.assertEqual(p.as_iterable(8).shard(), (0, 1))
        with self.assertRaises(tablecar.InvalidArgumentError):
            p.as_iterable(8, rank=2, world_size=2).shard()

    def test_pickle_round_trip(self):
        p = self.perm().shuffle(seed=3).execute().split(0).select_columns(["label"]).with_format("python")
        q = pickle.loads(pickle.dumps(p))
        self.assertEqual((q.id, q.split_name, q.columns, q.format), (p.id, p.split_name, p.columns, p.format))
        self.assertEqual(q.read_batch(0, 5), p.read_batch(0, 5))

    def test_close_with_open_stream(self):
        """Closing a connection frees the streams still open on it before its client; they stop with
        CancelledError instead of using the freed client."""
        db = tablecar.connect(self.server.address, timeout=30)
        p = tablecar.Permutation.from_id(db, self.perm().execute().id)
        it = p.iter(batch_size=16)
        self.assertEqual(len(next(it)["label"]), 16)
        h = db._handle()
        (stream,) = list(h.streams)
        db.close()
        self.assertFalse(stream.close.alive)
        self.assertFalse(h._free.alive)
        with self.assertRaises(tablecar.CancelledError):
            next(it)
        it.close()
        stream.close()  # once only
        self.assertEqual(db.health(), "SERVING")  # a new handle
        db.close()
        # the same in a process whose freed memory is scribbled over (a use after free crashes there)
        code = ("import sys, tablecar\n"
                "db = tablecar.connect(sys.argv[1]); it = tablecar.Permutation.from_id(db, sys.argv[2]).iter(4)\n"
                "next(it); db.close()\n"
                "try: next(it)\n"
                "except tablecar.CancelledError: print('cancelled')\n"
                "it.close()\n")
        env = dict(os.environ, MALLOC_PERTURB_="165", PYTHONPATH=str(S.SOURCE_DIR / "client" / "python"))
        r = subprocess.run([sys.executable, "-c", code, self.server.address, p.id], env=env, capture_output=True,
                           text=True, timeout=600)
        self.assertEqual((r.returncode, r.stdout), (0, "cancelled\n"), r.stderr)

    def test_huge_timeout_saturates(self):
        """A timeout beyond what the C int64 of milliseconds holds means no deadline; it must not wrap."""
        for t in (1e300, 2**80, float("inf")):
            db = tablecar.connect(self.server.address, timeout=t)
            self.assertEqual(db._opts.timeout_ms, 2**63 - 1)
            self.assertEqual(db.health(), "SERVING")
            db.close()
        self.assertEqual(tablecar.connect(self.server.address, timeout=None)._opts.timeout_ms, -1)
        self.assertEqual(tablecar.connect(self.server.address, timeout=1e-9)._opts.timeout_ms, 1)
        with self.assertRaises(ValueError):
            tablecar.connect(self.server.address, timeout=float("nan"))

    def test_fork_inherits_handle(self):
        """A handle used in the parent works in forked children, and the parent's keeps working."""
        p = self.perm().shuffle(seed=11).execute().select_columns(["label"])
        first = p.read_batch(0, 10)["label"].tolist()
        pids = []
        for k in range(4):
            pid = os.fork()
            if pid == 0:  # child: must not return into unittest
                code = 1
                try:
                    ok = p.read_batch(0, 10)["label"].tolist() == first and self.db.health() == "SERVING"
                    code = 0 if ok else 1
                finally:
                    os._exit(code)
            pids.append(pid)
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
        self.assertEqual(codes, [0] * 4)
        self.assertEqual(p.read_batch(0, 10)["label"].tolist(), first)


@unittest.skipUnless(shutil.which("cc"), "no C compiler to compare the ctypes layout with tablecar.h")
class BadFileTest(unittest.TestCase):
    """A file whose field name, metadata or timezone is not UTF-8 (proto3 strings must be) is refused by the
    server at load with DATA_LOSS naming it: the Python package raises tablecar.DataLossError, never a bare
    UnicodeDecodeError."""

    @staticmethod
    def prepare(data: Path) -> None:
        raw = (data / "example.arrow").read_bytes()
        assert raw.count(b"caption") >= 1
        (data / "badname.arrow").write_bytes(raw.replace(b"caption", b"capt\xffon"))

    def test_non_utf8_field_name(self):
        with S.Server(rows=50, batch_rows=16, prepare=self.prepare) as server:
            db = tablecar.connect(server.address, timeout=30)
            try:
                self.assertIn("example", db.table_names())
                with self.assertRaises(tablecar.DataLossError) as cm:
                    db.open_table("badname")
                self.assertIsInstance(cm.exception, tablecar.TablecarError)
                self.assertEqual(cm.exception.status, "DATA_LOSS")
                self.assertIn("badname.arrow", cm.exception.message)
                self.assertIn("UTF-8", cm.exception.message)
                self.assertEqual(db.open_table("example").count_rows(), 50)
            finally:
                db.close()


class LayoutTest(unittest.TestCase):
    """The ctypes structures of tablecar/_lib.py have the header's sizes and field offsets."""

    def test_layout(self):
        from tablecar import _lib
        structs = {"tc_options": _lib.Options, "tc_call_opts": _lib.CallOpts, "tc_kv": _lib.KV,
                   "tc_field": _lib.Field, "tc_schema": _lib.Schema, "tc_column": _lib.Column,
                   "tc_batch": _lib.Batch, "tc_table_info": _lib.TableInfo, "tc_table_list": _lib.TableList,
                   "tc_take_rows_req": _lib.TakeRowsReq, "tc_permutation_spec": _lib.PermutationSpec,
                   "tc_split_info": _lib.SplitInfo, "tc_permutation_info": _lib.PermutationInfo,
                   "tc_read_batch_req": _lib.ReadBatchReq, "tc_stream_req": _lib.StreamReq}
        lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "tablecar.h"', "int main(void) {"]
        expect = []
        for cname, cls in structs.items():
            lines.append(f'printf("%zu\\n", sizeof({cname}));')
            expect.append(f"{cname} size {ctypes.sizeof(cls)}")
            for fname, *_ in cls._fields_:
                lines.append(f'printf("%zu\\n", offsetof({cname}, {fname}));')
                expect.append(f"{cname}.{fname} {getattr(cls, fname).offset}")
        lines.append("return 0; }")
        with tempfile.TemporaryDirectory() as d:
            src, exe = Path(d, "layout.c"), Path(d, "layout")
            src.write_text("\n".join(lines))
            subprocess.run(["cc", "-I", str(S.SOURCE_DIR / "include"), "-o", str(exe), str(src)], check=True)
            out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
        got = [f"{e.rsplit(' ', 1)[0]} {v}" for e, v in zip(expect, out)]
        self.assertEqual(got, expect)


class LibraryListsTest(unittest.TestCase):
    """Names, widths and statuses come from the library's lists, and a mismatched library is refused."""

    def test_names_from_the_library(self):
        from tablecar import _lib, errors, schema
        self.assertEqual(schema.type_name(5), "int64")
        self.assertEqual(schema.numpy_dtype(6), np.dtype("<u1"))
        self.assertEqual(schema.numpy_dtype(11), np.dtype("<f4"))
        self.assertIsNone(schema.numpy_dtype(13))  # utf8
        self.assertEqual(schema.type_name(999), "type999")
        known = {_lib.status_name(c) for c in range(-8, 20)}
        self.assertLessEqual(set(errors._BY_NAME), known)  # every class is for a status the library has
        self.assertIsInstance(errors.error_for(5, "x"), errors.NotFoundError)
        self.assertIsInstance(errors.error_for(-3, "x"), errors.ConnectError)
        self.assertEqual(type(errors.error_for(12345, "x")), errors.TablecarError)

    def test_mismatched_library_refused(self):
        from tablecar import _lib
        real = _lib.lib()

        class Fake:
            def __init__(self, version, sizes):
                self.tc_version = lambda: version
                self.tc_version_string = lambda: b"9.9.9"
                self.tc_abi_sizeof = lambda name: sizes(name)

        good = real.tc_version()
        _lib._check(Fake(good, real.tc_abi_sizeof), "fake")  # the real answers pass
        with self.assertRaisesRegex(OSError, "does not match"):
            _lib._check(Fake(good + (1 << 8), real.tc_abi_sizeof), "fake")
        with self.assertRaisesRegex(OSError, "another layout of tc_batch"):
            _lib._check(Fake(good, lambda n: real.tc_abi_sizeof(n) + (8 if n == b"tc_batch" else 0)), "fake")


if __name__ == "__main__":
    unittest.main()
