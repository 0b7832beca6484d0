"""--metrics-listen: the Prometheus text scraped during and after a fork DataLoader epoch, parsed by parsers
nobody here wrote: parse-prometheus-text-format from npm (tests/peers; prom_parse.cjs prints its JSON) for
every family, and the official Prometheus Python client's parser (Debian's python3-prometheus-client) for
the per-method latency histograms, which the npm parser folds into one (it follows prom2json's shape). The
counters must have moved by exactly what the epoch read.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import unittest
import urllib.request
from pathlib import Path

import tcsupport as S
from tcsupport import tablecar

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # pragma: no cover
    text_string_to_metric_families = None

NODE = shutil.which("node")
PARSER = Path(__file__).with_name("prom_parse.cjs")
READ = "tablecar.v1.Tablecar/ReadBatch"
ROWS, BATCH = 3000, 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def npm_parse(text: str) -> dict[str, dict]:
    """Families by name, as parse-prometheus-text-format gives them."""
    out = subprocess.run([NODE, str(PARSER)], input=text, capture_output=True, text=True, check=True, timeout=60,
                         env={"TC_SOURCE_DIR": str(S.SOURCE_DIR), "PATH": "/usr/bin:/bin"})
    return {f["name"]: f for f in json.loads(out.stdout)}


def value(fams: dict, name: str, **labels) -> float:
    """The sample of NAME with exactly LABELS (0 when absent: counters start at 0)."""
    for m in fams.get(name, {}).get("metrics", []):
        if m.get("labels", {}) == labels:
            return float(m["value"])
    return 0.0


def histogram(text: str, method: str) -> tuple[float, dict[str, float]]:
    """(count, cumulative buckets by le) of the latency histogram of METHOD, by the Prometheus client's parser."""
    count, buckets = 0.0, {}
    for fam in text_string_to_metric_families(text):
        if fam.name != "tablecar_call_duration_seconds":
            continue
        assert fam.type == "histogram"
        for s in fam.samples:
            if s.labels.get("method") != method:
                continue
            if s.name.endswith("_count"):
                count = s.value
            elif s.name.endswith("_bucket"):
                buckets[s.labels["le"]] = s.value
    return count, buckets


@unittest.skipUnless(S.HAVE_TORCH, "torch is not installed")
@unittest.skipUnless(NODE and text_string_to_metric_families, "node or python3-prometheus-client missing")
class MetricsTest(unittest.TestCase):
    def test_counters_move_by_what_an_epoch_reads(self):
        import torch.utils.data as tud
        port = free_port()
        def lz4_table(data: Path) -> None:  # compressed: its batches are decoded once, then cached
            subprocess.run([S.MKFIXTURE, "example", str(data / "packed.arrow"), "--rows", str(ROWS),
                            "--batch-rows", "256", "--codec", "lz4"], check=True)

        with S.Server(rows=10, prepare=lz4_table, args=("--metrics-listen", f"127.0.0.1:{port}")) as server:
            before_text = scrape(port)
            before = npm_parse(before_text)
            self.assertEqual(before["tablecar_build_info"]["metrics"][0]["labels"], {"version": tablecar.__version__})
            db = tablecar.connect(server.address)
            perm = (tablecar.permutation_builder(db.open_table("packed"))
                    .split_random(ratios=[0.8, 0.2], seed=3, names=["train", "val"]).shuffle(seed=4).execute())
            train = perm.split("train").select_columns(["label"]).with_row_ids().with_format("numpy")
            n = len(train)
            loader = tud.DataLoader(train, batch_size=BATCH, num_workers=2, multiprocessing_context="fork",
                                    collate_fn=tablecar.collate)
            seen, during = [], None
            for i, batch in enumerate(loader):
                seen.extend(int(x) for x in batch["_rowid"])
                if i == 3:  # mid-epoch: the workers' calls so far are counted already
                    during = npm_parse(scrape(port))
            after_text = scrape(port)
            after = npm_parse(after_text)
        self.assertEqual(sorted(seen), sorted(set(seen)))
        self.assertEqual(len(seen), n)
        batches = -(-n // BATCH)

        def delta(fams, name, **labels):
            return value(fams, name, **labels) - value(before, name, **labels)

        self.assertGreaterEqual(delta(during, "tablecar_calls_total", method=READ, code="OK"), 4)
        self.assertGreaterEqual(value(during, "tablecar_connections_open"), 2)  # each worker has its own
        self.assertLess(delta(during, "tablecar_calls_total", method=READ, code="OK"), batches + 1)
        self.assertEqual(delta(after, "tablecar_calls_total", method=READ, code="OK"), batches)
        self.assertEqual(delta(after, "tablecar_rows_served_total", method=READ), n)
        # The batches came through the shared-memory pool that the main process made before forking: only
        # their places travel in the messages, and the server maps that one pool.
        self.assertGreater(delta(after, "tablecar_sent_bytes_total", method=READ), batches * 16)
        self.assertEqual(value(during, "tablecar_shm_pools"), 1)
        self.assertEqual(value(during, "tablecar_shm_bytes"), tablecar.shm.existing_pool(db).span()[1] -
                         tablecar.shm.existing_pool(db).span()[0] + 4096)
        self.assertEqual(delta(after, "tablecar_calls_total", method="tablecar.v1.Tablecar/CreatePermutation",
                               code="OK"), 1)
        self.assertEqual(delta(after, "tablecar_permutations_built_total"), 1)
        # Every ReadBatch looks its record batches up; each of the 12 was decoded (a miss) at least once.
        misses = delta(after, "tablecar_cache_misses_total")
        self.assertGreaterEqual(misses, -(-ROWS // 256))
        self.assertGreaterEqual(misses + delta(after, "tablecar_cache_hits_total"), batches)
        self.assertGreater(value(after, "tablecar_cache_bytes"), 0)
        self.assertEqual(value(after, "tablecar_streams_open"), 0)
        self.assertEqual(after["tablecar_call_duration_seconds"]["type"], "HISTOGRAM")
        count0, _ = histogram(before_text, READ)
        count1, buckets = histogram(after_text, READ)
        self.assertEqual(count1 - count0, batches)
        self.assertEqual(buckets["+Inf"], count1)
        les = sorted((float(k), v) for k, v in buckets.items())
        self.assertEqual([v for _, v in les], sorted(v for _, v in les))  # cumulative


if __name__ == "__main__":
    unittest.main()
