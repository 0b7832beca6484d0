"""DataLoader with forked workers over a Permutation that was created and used before the fork.

Every scenario runs in a spawned process (loader_child.py) that the test kills when it reports nothing for
HANG_SECONDS: a fork-unsafe client hangs there rather than failing. Each epoch must deliver every row of the
split exactly once, with the fixture's values.
"""
from __future__ import annotations

import multiprocessing
import unittest

import numpy as np

import tcsupport as S
from tcsupport import tablecar

HANG_SECONDS = 300  # no progress for this long is a hang (a guard: a loaded machine is slow, not hung)


@unittest.skipUnless(S.HAVE_TORCH, "torch is not installed")
class DataLoaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import loader_child
        cls.child = loader_child
        cls.server = cls.make_server().start()
        db = tablecar.connect(cls.server.address)
        cls.train = loader_child.make_permutation(db)
        cls.expected = cls.train.row_ids()  # the split, in order

    @classmethod
    def make_server(cls) -> S.Server:
        return S.Server(rows=2000, batch_rows=256)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def run_scenario(self, scenario: str, **options) -> list[tuple]:
        """Runs a scenario in a spawned process; returns its "epoch" reports, fails on errors and hangs."""
        ctx = multiprocessing.get_context("spawn")
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=self.child.main, args=(scenario, self.server.address, send, options),
                           name=f"loader-{scenario}")
        proc.start()
        send.close()
        reports = []
        try:
            while True:
                if not recv.poll(HANG_SECONDS):
                    self.fail(f"{scenario}: no progress for {HANG_SECONDS} s (hang) after {len(reports)} "
                              f"epoch report(s)")
                try:
                    msg = recv.recv()
                except EOFError:
                    self.fail(f"{scenario}: the loader process died (exit code {proc.exitcode})")
                if msg[0] == "error":
                    self.fail(f"{scenario}: {msg[1]}")
                if msg[0] == "ready":
                    self.assertEqual(msg[1], self.train.id)
                    continue
                if msg[0] == "done":
                    break
                reports.append(msg)
        finally:
            if proc.is_alive():
                proc.join(HANG_SECONDS)  # after "done" it exits, however long a loaded machine takes
            if proc.is_alive():
                proc.kill()
                proc.join()
        self.assertEqual(proc.exitcode, 0)
        return reports

    def assert_epochs(self, reports, ordered: bool, batch: int, tags=(0,)):
        self.assertEqual(len(reports), len(tags) * self.child.EPOCHS)
        for _, tag, epoch, ids, bad, sizes in reports:
            with self.subTest(tag=tag, epoch=epoch):
                self.assertEqual(bad, [])
                self.assertTrue(all(s == batch for s in sizes[:-1]), sizes)
                if ordered:
                    np.testing.assert_array_equal(ids, self.expected)
                else:
                    np.testing.assert_array_equal(np.sort(ids), np.sort(self.expected))

    def test_collate_fork_workers(self):
        self.assert_epochs(self.run_scenario("collate"), ordered=True, batch=64)

    def test_collate_persistent_workers(self):
        self.assert_epochs(self.run_scenario("collate", persistent=True), ordered=True, batch=64)

    def test_default_collate(self):
        self.assert_epochs(self.run_scenario("default_collate"), ordered=True, batch=64)

    def test_shuffle_sampler(self):
        reports = self.run_scenario("shuffle", persistent=True)
        self.assert_epochs(reports, ordered=False, batch=64)
        self.assertFalse(np.array_equal(reports[0][3], self.expected))

    def test_batch_sampler(self):
        self.assert_epochs(self.run_scenario("batch_sampler"), ordered=True, batch=50)

    def test_batch_sampler_random_persistent(self):
        self.assert_epochs(self.run_scenario("batch_sampler_random", persistent=True), ordered=False, batch=50)

    def test_iterable_workers_and_ranks(self):
        reports = self.run_scenario("iterable")
        self.assertEqual(len(reports), 2 * self.child.EPOCHS)
        for epoch in range(self.child.EPOCHS):
            with self.subTest(epoch=epoch):
                per_rank = [r[3] for r in reports if r[2] == epoch]
                for r in reports:
                    self.assertEqual(r[4], [])
                both = np.concatenate(per_rank)
                self.assertEqual(len(both), len(self.expected))  # nothing twice...
                np.testing.assert_array_equal(np.sort(both), np.sort(self.expected))  # ...nothing missing
                self.assertFalse(set(per_rank[0].tolist()) & set(per_rank[1].tolist()))
                # rank r, worker w reads shard r * 4 + w of 8: positions p with p % 8 == r * 4 + w
                pos = {int(v): k for k, v in enumerate(self.expected)}
                for rank, ids in enumerate(per_rank):
                    self.assertEqual({pos[int(i)] % 8 // 4 for i in ids}, {rank})


if __name__ == "__main__":
    unittest.main()
