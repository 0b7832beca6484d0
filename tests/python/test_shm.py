"""Batches through shared memory (tablecar.shm) with DataLoader(fork) workers: every row once per epoch,
values equal to the rules and to the socket path's, batches kept alive stay valid, a SIGKILLed worker loses
no slot for good, and every slot is back once the loader and its batches are gone."""
from __future__ import annotations

import multiprocessing
import unittest

import tcsupport as S
from tcsupport import tablecar

HANG_SECONDS = 600  # a guard only


@unittest.skipUnless(S.HAVE_TORCH, "torch is not installed")
class ShmDataLoaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import loader_child
        cls.server = S.Server(rows=2000, batch_rows=256).start()
        db = tablecar.connect(cls.server.address)
        cls.expected = sorted(loader_child.make_permutation(db).row_ids().tolist())

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def run_child(self, scenario: str, *args, env: dict | None = None, address: str | None = None) -> dict:
        import shm_child
        ctx = multiprocessing.get_context("spawn")
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=shm_child.main,
                           args=(scenario, address or self.server.address, send, args, env or {}))
        proc.start()
        send.close()
        if not recv.poll(HANG_SECONDS):
            proc.kill()
            self.fail(f"{scenario}{args}: no answer in {HANG_SECONDS} s (hang)")
        kind, value = recv.recv()
        proc.join()
        if kind == "error":
            self.fail(f"{scenario}{args}: {value}")
        return value

    def check_epochs(self, out: dict, what: str) -> None:
        self.assertEqual(out["bad"], [], what)
        for e, ids in enumerate(out["ids"]):
            self.assertEqual(sorted(ids), self.expected, f"{what}: epoch {e} is not every row once")
        self.assertGreater(out["in_pool"], 0, f"{what}: no batch came through the pool")
        self.assertEqual(out["held_after"], 0, f"{what}: slots still held after the loader is gone")

    def test_workers_and_persistence(self):
        for workers in (2, 4):
            for persistent in (False, True):
                with self.subTest(workers=workers, persistent=persistent):
                    out = self.run_child("epochs", workers, persistent)
                    self.check_epochs(out, f"{workers} workers, persistent={persistent}")
                    # 18 batches of epoch 0 kept alive, 16 slots: most were in the pool, the rest fell
                    # back to the socket (an exhausted pool), and neither changed under the test.
                    self.assertGreater(out["held_with_kept"], 0)

    def test_few_slots(self):
        """Two slots for four workers: most batches take the socket path, all values stay right."""
        out = self.run_child("epochs", 4, False, env={"TABLECAR_SHM_SLOTS": "2"})
        self.check_epochs(out, "2 slots")
        self.assertEqual(out["slots"], 2)

    def test_disabled(self):
        out = self.run_child("epochs", 2, False, env={"TABLECAR_SHM": "0"})
        self.assertEqual(out["bad"], [])
        self.assertEqual(out["in_pool"], 0)

    def test_server_without_shared_memory(self):
        """A sidecar with --shm-bytes 0 has no side socket: every batch over the socket, no pool made."""
        with S.Server(rows=2000, batch_rows=256, args=("--shm-bytes", "0")) as server:
            out = self.run_child("epochs", 2, False, address=server.address)
        self.assertEqual(out["bad"], [])
        for ids in out["ids"]:
            self.assertEqual(sorted(ids), self.expected)
        self.assertEqual((out["in_pool"], out["slots"]), (0, 0))

    def test_killed_worker(self):
        out = self.run_child("killed_worker")
        self.assertIsNotNone(out["error"], "the loader did not notice its worker was killed")
        self.assertEqual(out["acquired"], out["slots"], "a slot of the killed worker was lost")
        self.assertEqual(out["rows_after"], len(self.expected))
        self.assertGreater(out["in_pool_after"], 0)


if __name__ == "__main__":
    unittest.main()
