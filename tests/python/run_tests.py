"""ctest's entry point for the Python tests: runs the named test modules (tests/python/test_*.py).

Exits 0 when they pass, 1 when one fails, and 77 (ctest's SKIP_RETURN_CODE) when every test was skipped,
which happens only when what they need is genuinely missing (torch for the DataLoader tests, grpcio for the
comparison): the skip reasons are printed.
"""
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str]) -> int:
    suite = unittest.defaultTestLoader.loadTestsFromNames(argv or ["test_api", "test_dataloader", "test_grpc_fork"])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.testsRun and len(result.skipped) == result.testsRun:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
