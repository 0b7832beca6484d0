"""Every scenario of test_dataloader.py (fork DataLoader workers, persistent workers, samplers, iterable
datasets with ranks) over a table served from S3: the sidecar fetches from the S3 test store, the workers
only talk to the sidecar. Afterwards a further epoch fetches no data from the store."""
from __future__ import annotations

import unittest

import tcsupport as S
import test_dataloader


@unittest.skipUnless(S.HAVE_TORCH, "torch is not installed")
@unittest.skipIf(S.S3Store.available(), S.S3Store.available())
class RemoteDataLoaderTest(test_dataloader.DataLoaderTest):
    @classmethod
    def make_server(cls) -> S.Server:
        return S.Server(rows=2000, batch_rows=256, remote=True)

    def test_zz_epoch_from_cache(self):
        before = self.server.store.stats()
        self.assertGreater(before["list"], 0)
        reports = self.run_scenario("collate")
        self.assertTrue(reports)
        after = self.server.store.stats()
        self.assertEqual(after["get"], before["get"], "an epoch over cached objects fetches no data")


if __name__ == "__main__":
    unittest.main()
