"""Tables as users already have them: files written at test time by writers nobody here wrote (nodejs-polars,
apache-arrow, and a Hugging Face `datasets` layout built exactly as save_to_disk and the datasets cache lay
it out), served by a real tablecar-server and read with the Python package.

tests/peers/write_user_tables.mjs writes the data dir; tests/peers/dump_ipc.mjs reads every file back with
its writer's own reader (apache-arrow for apache-arrow files, polars for polars files) and dumps it as JSON.
Every value the Python package returns, in the numpy and the python formats, for every row (a take of all
rows, and every split of a shuffled permutation) must equal that dump, column by column, nulls included;
the schema and field metadata must arrive unchanged; a polars file (utf8_view, binary_view) and an
apache-arrow file (utf8, binary) of the same data must give identical numpy, torch and python values.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np

import tcsupport as S
from tcsupport import tablecar

import test_dataloader

PEERS = S.SOURCE_DIR / "tests" / "peers"
NODE = shutil.which("node")
WHY_NOT = ("" if NODE and (PEERS / "node_modules" / "nodejs-polars").is_dir()
           and (PEERS / "node_modules" / "apache-arrow").is_dir()
           else f"node or the npm peers ({PEERS}/node_modules: apache-arrow, nodejs-polars) are missing")

INTS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
FLOATS = {"float16", "float32", "float64"}
STRINGS = {"utf8", "large_utf8"}
BINARIES = {"binary", "large_binary", "fixed_size_binary"}
LISTS = {"list", "large_list", "fixed_size_list"}
EPOCH = dt.datetime(1970, 1, 1)
PER_SECOND = {"s": 1, "ms": 1000, "us": 1000000, "ns": 1000000000}

# ---------------------------------------------------------------------------------------------------------
# The fixtures: written once per run of this module, into a temporary directory.

_FIXTURES: dict | None = None


def fixtures() -> dict:
    """{"dir", "data", "manifest", "dumps": {file relative to data: dump}}; the files are made on first use."""
    global _FIXTURES
    if _FIXTURES is None:
        root = Path(tempfile.mkdtemp(prefix="tc-user-tables-"))
        data = root / "data"
        subprocess.run([NODE, str(PEERS / "write_user_tables.mjs"), str(data)], check=True, cwd=PEERS)
        manifest = json.loads((root / "manifest.json").read_text())
        dumps = {}
        for reader in ("arrow", "polars"):
            files = [f for t in manifest["tables"] if t["reader"] == reader for f in t["files"]]
            out = subprocess.run([NODE, str(PEERS / "dump_ipc.mjs"), "--reader", reader, *[str(data / f) for f in files]],
                                 check=True, cwd=PEERS, stdout=subprocess.PIPE).stdout
            lines = out.decode().splitlines()
            assert len(lines) == len(files), (reader, len(lines), len(files))
            for f, line in zip(files, lines):
                dumps[f] = json.loads(line)
        _FIXTURES = {"dir": root, "data": data, "manifest": manifest, "dumps": dumps}
    return _FIXTURES


def tearDownModule():
    if _FIXTURES is not None:
        shutil.rmtree(_FIXTURES["dir"], ignore_errors=True)


def copy_data(dest: Path) -> None:
    """Server.prepare: the generated tables into the server's data dir."""
    shutil.copytree(fixtures()["data"], dest, dirs_exist_ok=True)


def expected_table(entry: dict) -> dict:
    """A table's expected contents from the dumps of its files, in row order: {"rows", "columns", "fields",
    "metadata", "batches"}."""
    dumps = [fixtures()["dumps"][f] for f in entry["files"]]
    first = dumps[0]
    columns = {name: [] for name in first["columns"]}
    for d in dumps:
        assert list(d["columns"]) == list(columns), d["file"]
        for name, values in d["columns"].items():
            columns[name] += values
    return {"rows": sum(d["rows"] for d in dumps), "columns": columns, "fields": first["fields"],
            "metadata": first["metadata"], "batches": [d["batches"] for d in dumps]}


# ---------------------------------------------------------------------------------------------------------
# Canonical values: what tablecar returns, in dump_ipc.mjs's encoding (see there), checking Python types.


def jfloat(v: float):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0 and math.copysign(1, v) < 0:
        return "-0"
    return v


class Mismatch(AssertionError):
    pass


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise Mismatch(what)


def canon_py(f: tablecar.Field, v):
    """A python-format value of field f, encoded as dump_ipc.mjs encodes the writer's value; checks that it
    has the documented Python type."""
    if v is None:
        return None
    t = f.type
    if t in INTS:
        _expect(type(v) is int, f"{f.name}: {type(v).__name__} for {t}")
        return str(v)
    if t in FLOATS:
        _expect(type(v) is float, f"{f.name}: {type(v).__name__} for {t}")
        return jfloat(v)
    if t == "bool":
        _expect(type(v) is bool, f"{f.name}: {type(v).__name__} for bool")
        return v
    if t in STRINGS:
        _expect(type(v) is str, f"{f.name}: {type(v).__name__} for {t}")
        return v
    if t in BINARIES:
        _expect(type(v) is bytes, f"{f.name}: {type(v).__name__} for {t}")
        _expect(t != "fixed_size_binary" or len(v) == f.byte_width, f"{f.name}: {len(v)} bytes")
        return v.hex()
    if t == "date32":
        _expect(type(v) is dt.date, f"{f.name}: {type(v).__name__} for date32")
        return str((v - EPOCH.date()).days)
    if t in ("date64", "timestamp"):
        unit = "ms" if t == "date64" else f.unit
        if unit == "ns":
            _expect(type(v) is int, f"{f.name}: {type(v).__name__} for timestamp[ns]")
            return str(v)
        _expect(type(v) is dt.datetime and v.tzinfo is None, f"{f.name}: {v!r} for {t}[{unit}]")
        d = v - EPOCH
        micros = (d.days * 86400 + d.seconds) * 1000000 + d.microseconds
        per = 1000000 // PER_SECOND[unit]
        _expect(micros % per == 0, f"{f.name}: {v!r} is not a whole {unit}")
        return str(micros // per)
    if t in LISTS:
        _expect(type(v) is list, f"{f.name}: {type(v).__name__} for {t}")
        _expect(t != "fixed_size_list" or len(v) == f.list_size, f"{f.name}: {len(v)} items")
        return [canon_py(f.children[0], x) for x in v]
    if t == "struct":
        _expect(type(v) is dict and list(v) == [c.name for c in f.children], f"{f.name}: {v!r}")
        return {c.name: canon_py(c, v[c.name]) for c in f.children}
    raise Mismatch(f"{f.name}: unexpected type {t}")


def canon_np_cell(f: tablecar.Field, x):
    """One numpy-format cell (what tablecar.formats.item gives) of field f, encoded like canon_py."""
    if x is None or x is np.ma.masked:
        return None
    t = f.type
    if t in LISTS:
        _expect(isinstance(x, np.ndarray), f"{f.name}: {type(x).__name__} for a {t} row")
        return canon_np_column(f.children[0], x, shaped=bool(f.shape))
    if t == "struct":
        _expect(type(x) is dict and list(x) == [c.name for c in f.children], f"{f.name}: {x!r}")
        return {c.name: canon_np_cell(c, x[c.name]) for c in f.children}
    if t in INTS:
        _expect(isinstance(x, np.integer) and x.dtype == np.dtype(t), f"{f.name}: {x!r} for {t}")
        return str(int(x))
    if t in FLOATS:
        _expect(isinstance(x, np.floating) and x.dtype == np.dtype(t), f"{f.name}: {x!r} for {t}")
        return jfloat(float(x))
    if t == "bool":
        _expect(isinstance(x, np.bool_), f"{f.name}: {x!r} for bool")
        return bool(x)
    if t in ("date32", "date64", "timestamp"):
        unit = {"date32": "D", "date64": "ms"}.get(t, f.unit)
        _expect(isinstance(x, np.datetime64) and x.dtype == np.dtype(f"M8[{unit}]"), f"{f.name}: {x!r} for {t}")
        return str(int(x.astype(np.int64)))
    if t in STRINGS:
        _expect(type(x) is str, f"{f.name}: {x!r} for {t}")
        return x
    if t in BINARIES:
        _expect(type(x) is bytes, f"{f.name}: {x!r} for {t}")
        return x.hex()
    raise Mismatch(f"{f.name}: unexpected type {t}")


def canon_np_column(f: tablecar.Field, arr, shaped: bool = False) -> list:
    """A numpy-format column (or one list row's items) of field f, row by row, with its dtype checked:
    fixed-width types as arrays of their own dtype (masked when they hold nulls), images as one
    (n, *shape) array, everything else as object arrays."""
    _expect(isinstance(arr, np.ndarray), f"{f.name}: {type(arr).__name__}")
    if f.shape and not shaped:
        _expect(arr.shape[1:] == f.shape and arr.dtype == f.dtype, f"{f.name}: {arr.dtype} {arr.shape}")
    elif not f.shape and not shaped:
        want = f.dtype if f.dtype is not None else np.dtype(object)
        _expect(arr.dtype == want and arr.ndim == 1, f"{f.name}: {arr.dtype} {arr.shape}, expected {want}")
    return [canon_np_cell(f, tablecar.formats.item(arr, i)) for i in range(len(arr))]


def compare(test: unittest.TestCase, table: str, fields, got: dict, fmt: str, expected: dict, ids) -> None:
    """got (a batch in format fmt) against the expected columns for global row ids `ids`."""
    ids = [int(i) for i in ids]
    test.assertEqual(list(got), [f.name for f in fields])
    for f in fields:
        want = [expected["columns"][f.name][i] for i in ids]
        try:
            if fmt == "python":
                _expect(type(got[f.name]) is list, f"{f.name}: {type(got[f.name]).__name__}")
                have = [canon_py(f, v) for v in got[f.name]]
            else:
                have = canon_np_column(f, got[f.name])
        except Mismatch as e:
            test.fail(f"{table} ({fmt}): {e}")
        if have != want:
            bad = next(k for k in range(len(want)) if have[k] != want[k])
            test.fail(f"{table} ({fmt}) column {f.name!r}, row id {ids[bad]}: tablecar {have[bad]!r}, "
                      f"the writer's reader {want[bad]!r}")


# ---------------------------------------------------------------------------------------------------------


@unittest.skipIf(WHY_NOT, WHY_NOT)
class UserTablesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = fixtures()
        cls.manifest = cls.fx["manifest"]
        cls.server = S.Server(rows=10, batch_rows=10, prepare=copy_data).start()
        cls.db = tablecar.connect(cls.server.address, timeout=30)

    @classmethod
    def tearDownClass(cls):
        cls.db.close()
        cls.server.stop()

    def entries(self, reader=None):
        return [t for t in self.manifest["tables"] if reader is None or t["reader"] == reader]

    def test_every_table_is_served(self):
        names = self.db.table_names()
        for entry in self.entries():
            with self.subTest(table=entry["table"]):
                self.assertIn(entry["table"], names)
                t = self.db.open_table(entry["table"])
                self.assertEqual(t.files, entry["files"])  # HF layouts: state.json / shard order
                self.assertEqual(t.count_rows(), expected_table(entry)["rows"])
        for r in self.manifest["rejected"]:
            self.assertNotIn(r["table"], names)
        self.assertEqual(len([e for e in self.entries("polars") if e["table"].startswith("polars_")]), 6)

    def test_take_every_row(self):
        for entry in self.entries():
            exp = expected_table(entry)
            with self.subTest(table=entry["table"]):
                t = self.db.open_table(entry["table"])
                self.assertEqual(t.schema.names, list(exp["columns"]))
                ids = list(range(t.count_rows()))
                for fmt in ("numpy", "python"):
                    compare(self, entry["table"], t.schema.fields, t.take(ids, format=fmt), fmt, exp, ids)
                # Out of order, duplicated, and one column at a time.
                rev = ids[::-3] + ids[:2]
                for f in t.schema.fields:
                    for fmt in ("numpy", "python"):
                        compare(self, entry["table"], [f], t.take(rev, columns=[f.name], format=fmt), fmt, exp, rev)

    def test_permutation_every_row(self):
        for entry in self.entries():
            exp = expected_table(entry)
            with self.subTest(table=entry["table"]):
                t = self.db.open_table(entry["table"])
                perm = (tablecar.permutation_builder(t).split_random(ratios=[0.6, 0.4], seed=3, names=["a", "b"])
                        .shuffle(seed=11).execute())
                seen = []
                for split in ("a", "b"):
                    view = perm.split(split).with_row_ids()
                    n = len(view)
                    for fmt in ("numpy", "python"):
                        got = view.with_format(fmt).read_batch(0, n) if n else None
                        if got is None:
                            continue
                        ids = got.pop("_rowid")
                        compare(self, entry["table"], t.schema.fields, got, fmt, exp, ids)
                    seen += list(view.row_ids())
                    # Streamed in small batches: the same rows.
                    for batch in view.with_format("python").iter(batch_size=17):
                        ids = batch.pop("_rowid")
                        compare(self, entry["table"], t.schema.fields, batch, "python", exp, ids)
                self.assertEqual(sorted(seen), list(range(t.count_rows())))
                self.assertNotEqual(seen, sorted(seen))

    def test_types_as_served(self):
        """View types arrive as large_utf8/large_binary, dictionaries decoded, every polars field nullable."""
        for entry in self.entries("polars"):
            schema = self.db.open_table(entry["table"]).schema
            with self.subTest(table=entry["table"]):
                self.assertTrue(all(f.nullable for f in schema))
                if entry["table"].startswith("polars_"):
                    self.assertEqual((schema["s"].type, schema["bin"].type), ("large_utf8", "large_binary"))
                    self.assertEqual([schema["lst_s"].type, schema["lst_s"].children[0].type], ["large_list", "large_utf8"])
                    self.assertEqual((schema["cat"].type, schema["cat"].dictionary_encoded), ("large_utf8", True))
                    self.assertEqual((schema["dt_us"].unit, schema["dt_us"].timezone), ("us", "Europe/Paris"))
                    self.assertEqual(schema["f16"].dtype, np.dtype(np.float16))
        dump = fixtures()["dumps"]["polars_file_lz4.arrow"]
        self.assertEqual({f["name"]: f["type"] for f in dump["fields"]}["s"], "utf8_view")  # what polars wrote
        a = self.db.open_table("arrowjs_file").schema
        self.assertEqual((a["dict_s"].type, a["dict_s"].dictionary_encoded), ("utf8", True))
        self.assertEqual((a["dict_i64"].type, a["dict_i64"].dtype), ("int64", np.dtype(np.int64)))
        self.assertEqual((a["img"].shape, a["img"].element_type), ((2, 3), "uint8"))
        self.assertEqual(a["ll64"].type, "large_list")

    def test_metadata_unchanged(self):
        for entry in self.entries("arrow"):
            exp = expected_table(entry)
            t = self.db.open_table(entry["table"])
            with self.subTest(table=entry["table"]):
                # Schema metadata: every key and value, in file order.
                self.assertEqual(list(t.schema.metadata.items()), list(exp["metadata"].items()))
                self.assertEqual(t.metadata, t.schema.metadata)

                def walk(fields, dumped, path=""):
                    self.assertEqual([f.name for f in fields], [d["name"] for d in dumped], path)
                    for f, d in zip(fields, dumped):
                        self.assertEqual(list(f.metadata.items()), list(d["metadata"].items()), path + f.name)
                        walk(f.children, d.get("children", []), path + f.name + ".")

                walk(t.schema.fields, exp["fields"])
        a = self.db.open_table("arrowjs_stream")
        self.assertEqual(a.schema["f32"].metadata, {"unit": "furlongs"})
        self.assertEqual(a.schema["id"].metadata, {"role": "key", "note": '{"json": [1, 2]}'})
        self.assertEqual(a.schema["st"].children[0].metadata, {"child": "x meta"})
        self.assertEqual(a.schema["ll_s"].children[0].metadata, {"item_meta": "on the list item"})
        self.assertEqual(a.schema.metadata["unicode ключ"], "värde ✓")
        self.assertEqual(a.schema.metadata["empty"], "")
        hf = json.loads(a.schema.metadata["huggingface"])
        self.assertEqual(hf["info"]["features"]["label"], {"names": ["neg", "pos"], "_type": "ClassLabel"})
        self.assertEqual(a.schema.huggingface, hf)
        # A permutation exposes the same schema and metadata (of its selected columns).
        perm = tablecar.permutation_builder(a).shuffle(seed=1).execute()
        self.assertEqual(perm.schema, a.schema)
        self.assertEqual(perm.metadata, a.schema.metadata)
        sel = perm.select_columns(["st", "id"])
        self.assertEqual(sel.schema.names, ["st", "id"])
        self.assertEqual(sel.schema["st"], a.schema["st"])
        self.assertEqual(sel.metadata["huggingface"], a.schema.metadata["huggingface"])
        with self.assertRaises(tablecar.InvalidArgumentError):
            perm.select_columns(["nope"]).schema
        self.assertIsNone(self.db.open_table("polars_file_none").schema.huggingface)

    def test_hugging_face_layouts(self):
        hf = self.manifest["hf"]
        dict_name, cache = hf["dict"], hf["cache"]
        names = self.db.table_names()
        self.assertEqual([n for n in names if n.startswith(dict_name + "/")], [f"{dict_name}/test", f"{dict_name}/train"])
        self.assertEqual([n for n in names if n.startswith("cache/")],
                         [f"{cache}/test", f"{cache}/train", f"{cache}/unsupervised"])
        train = self.db.open_table(f"{dict_name}/train")
        self.assertEqual(train.files, [f"{dict_name}/train/data-00000-of-00002.arrow",
                                       f"{dict_name}/train/data-00001-of-00002.arrow"])
        s = train.schema
        self.assertEqual(s.names, ["image", "label", "text", "tokens", "score"])
        self.assertEqual((s["image"].type, [(c.name, c.type) for c in s["image"].children]),
                         ("struct", [("bytes", "binary"), ("path", "utf8")]))
        self.assertEqual((s["tokens"].type, s["tokens"].children[0].type), ("list", "utf8"))
        self.assertEqual((s["label"].type, s["score"].type), ("int64", "float32"))
        features = s.huggingface["info"]["features"]
        self.assertEqual(features["image"], {"_type": "Image"})
        self.assertEqual(features["label"]["names"], ["neg", "pos"])
        # The cache layout holds the same rows as save_to_disk's.
        cached = self.db.open_table(f"{cache}/train")
        self.assertEqual(cached.schema, s)
        ids = list(range(len(train)))
        self.assertEqual(cached.take(ids, format="python"), train.take(ids, format="python"))
        rows = train.take([0, 1, 299], format="python")
        self.assertEqual(rows["image"][1]["path"], "images/train_1.png")
        self.assertIsNone(rows["image"][0]["path"])
        self.assertEqual(rows["image"][0]["bytes"][:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(rows["tokens"][:2], [[], ["a"]])
        perm = tablecar.permutation_builder(train).execute()
        self.assertEqual(perm.metadata["huggingface"], s.metadata["huggingface"])

    def test_null_type_column(self):
        """polars' pl.lit(null) column is Arrow's Null type (no buffers): served, every value None."""
        t = self.db.open_table("null_polars")
        self.assertEqual(t.schema["nothing"].type, "null")
        self.assertEqual(t.take([2, 0], format="python"), {"ok": [3, 1], "nothing": [None, None]})
        self.assertEqual(list(t.take([0, 1, 2])["nothing"]), [None, None, None])

    def test_rejected_types(self):
        """What polars writes and the server does not serve: DATA_LOSS naming the file, the field and the type."""
        for r in self.manifest["rejected"]:
            with self.subTest(table=r["table"]):
                with self.assertRaises(tablecar.DataLossError) as cm:
                    self.db.open_table(r["table"])
                msg = cm.exception.message
                for part in (r["file"], f"'{r['field']}'", f"unsupported type {r['type']}"):
                    self.assertIn(part, msg)

    def test_views_give_the_same_values(self):
        """polars (utf8_view, binary_view, large_list<utf8_view>, dictionary<utf8_view>) and apache-arrow
        (utf8, binary, list<utf8>, dictionary<utf8>) files of the same data: identical Python values."""
        p, a = self.db.open_table("same_polars"), self.db.open_table("same_arrowjs")
        self.assertEqual(p.schema.names, a.schema.names)
        self.assertEqual([(p.schema[k].type, a.schema[k].type) for k in ("s", "blob", "tags")],
                         [("large_utf8", "utf8"), ("large_binary", "binary"), ("large_list", "list")])
        self.assertEqual(p.schema["tags"].children[0].type, "large_utf8")
        n = len(p)
        self.assertEqual(len(a), n)
        ids = list(range(n)) + [5, 0, n - 1]
        py = p.take(ids, format="python")
        self.assertEqual(py, a.take(ids, format="python"))
        self.assertEqual(py["s"][:3], [" #0", "a", None])
        npp, npa = p.take(ids), a.take(ids)
        for k in p.schema.names:
            x, y = npp[k], npa[k]
            self.assertEqual((type(x), x.dtype, x.shape), (type(y), y.dtype, y.shape), k)
            self.assertEqual(S.plain(x), S.plain(y), k)
            self.assertEqual([type(v) for v in x.tolist()], [type(v) for v in y.tolist()], k)
            if x.dtype == object:
                for u, v in zip(x, y):
                    if isinstance(u, np.ndarray):  # list rows
                        self.assertEqual((type(u), u.dtype, S.plain(u)), (type(v), v.dtype, S.plain(v)), k)
        if S.HAVE_TORCH:
            import torch
            for k in p.schema.names:
                outs = []
                for t in (p, a):
                    try:
                        outs.append(t.take(ids, columns=[k], format="torch")[k])
                    except ValueError as e:  # nulls in an integer column, the same for both
                        outs.append(("ValueError", str(e)))
                x, y = outs
                if isinstance(x, torch.Tensor):
                    self.assertEqual((x.dtype, x.shape), (y.dtype, y.shape), k)
                    self.assertTrue(torch.equal(torch.nan_to_num(x, nan=7.5), torch.nan_to_num(y, nan=7.5)), k)
                    self.assertEqual(torch.isnan(x).tolist(), torch.isnan(y).tolist(), k)
                else:
                    self.assertEqual(type(x), type(y), k)
                    self.assertEqual(S.plain(x), S.plain(y), k)
            with self.assertRaisesRegex(ValueError, "nulls"):
                p.take(ids, columns=["n"], format="torch")
            x = p.take([0, 1, 2], columns=["s", "blob", "x"], format="torch")
            self.assertEqual((x["s"], x["blob"][0]), ([" #0", "a", None], b""))
            self.assertTrue(math.isnan(x["x"][1].item()))


@unittest.skipIf(WHY_NOT, WHY_NOT)
class HuggingFaceDataLoaderTest(test_dataloader.DataLoaderTest):
    """Every scenario of test_dataloader.py, over a permutation of the Hugging Face DatasetDict's train split
    instead of the example table: forked workers, all batches checked against the writer's values."""

    TABLE = "imdb/train"

    @classmethod
    def setUpClass(cls):
        import loader_child
        cls.child = loader_child
        fx = fixtures()
        entry = next(t for t in fx["manifest"]["tables"] if t["table"] == cls.TABLE)
        cls.server = S.Server(rows=10, batch_rows=10, prepare=copy_data).start()
        db = tablecar.connect(cls.server.address)
        cls.train = loader_child.make_permutation(db, cls.TABLE)
        cls.expected = cls.train.row_ids()
        # The expected python value of every row, from the dump (apache-arrow's reader), through the
        # tablecar schema's types.
        table = db.open_table(cls.TABLE)
        exp = expected_table(entry)
        python = table.take(list(range(len(table))), format="python")
        for f in table.schema.fields:
            assert [canon_py(f, v) for v in python[f.name]] == exp["columns"][f.name], f.name
        cls.options = {"table": cls.TABLE, "expected": python, "default_collate_columns": ["label", "score"]}
        assert len(cls.expected) > 200

    def run_scenario(self, scenario: str, **options):
        return super().run_scenario(scenario, **self.options, **options)


if __name__ == "__main__":
    unittest.main()
