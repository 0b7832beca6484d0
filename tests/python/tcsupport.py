"""Shared helpers of the Python client tests: a real tablecar-server on a temporary Unix socket over a
temporary data dir, and the example table's value rules (tests/support/fixtures.h).

Environment (ctest sets it; see tests/CMakeLists.txt):
  TC_SERVER          the built tablecar-server
  TC_MKFIXTURE       the built tc-mkfixture
  TABLECAR_LIBRARY   the built libtablecar.so (read by the tablecar package itself)
  TC_SOURCE_DIR      the source tree (for client/python)
Run by hand, the binaries are looked up in SOURCE_DIR/build*/ instead.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SOURCE_DIR = Path(os.environ.get("TC_SOURCE_DIR") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SOURCE_DIR / "client" / "python"))


def _binary(env: str, rel: str) -> str:
    path = os.environ.get(env)
    if not path:
        found = sorted(SOURCE_DIR.glob(f"build*/{rel}"), key=lambda p: p.stat().st_mtime, reverse=True)
        path = str(found[0]) if found else ""
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"{env} (the {rel} binary) is not set and no build*/{rel} exists: build it first")
    return path


SERVER = _binary("TC_SERVER", "server/tablecar-server")
MKFIXTURE = _binary("TC_MKFIXTURE", "tests/tc-mkfixture")


def _sanitized(build: Path) -> bool:
    """A -DTC_SANITIZE=ON tree: its library needs the ASan runtime preloaded, so Python cannot load it."""
    try:
        return "TC_SANITIZE:BOOL=ON" in (build / "CMakeCache.txt").read_text(errors="replace")
    except OSError:
        return False


# The package itself only looks where an install puts the library: a test run from a checkout points it at
# the build tree, the one of the server first, else the newest build*/ that is not a sanitizer build.
if not os.environ.get("TABLECAR_LIBRARY"):
    builds = [Path(SERVER).parents[1]] + sorted(SOURCE_DIR.glob("build*"), key=lambda p: p.stat().st_mtime,
                                                   reverse=True)
    for build in builds:
        lib = build / "client" / "libtablecar.so"
        if lib.is_file() and not _sanitized(build):
            os.environ["TABLECAR_LIBRARY"] = str(lib)
            break

import tablecar  # noqa: E402  (after sys.path and TABLECAR_LIBRARY are set)

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

# ---------------------------------------------------------------------------------------------------------
# The example table's rules (fixtures.h): every cell is a function of the global row index i.

SHAPE = (3, 8, 8)


def image(ids) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    k = np.arange(int(np.prod(SHAPE)), dtype=np.int64)
    return ((ids[:, None] * 31 + k[None, :]) % 256).astype(np.uint8).reshape((len(ids), *SHAPE))


def label(ids) -> np.ndarray:
    return np.asarray(ids, dtype=np.int64) % 10


def caption(i: int) -> str | None:
    return None if i % 7 == 3 else f"row {i}"


def score(ids) -> np.ndarray:
    return ((np.asarray(ids, dtype=np.int64) % 100) * 0.25).astype(np.float32)


def check_example_batch(ids, cols) -> list[str]:
    """Mismatches between a batch {column: values} (numpy or torch) and the rules for row ids `ids`."""
    ids = np.asarray(ids, dtype=np.int64)
    bad = []

    def arr(v):
        return v.numpy() if hasattr(v, "numpy") else np.asarray(v)

    if "image" in cols and not np.array_equal(arr(cols["image"]), image(ids)):
        bad.append("image")
    if "label" in cols and not np.array_equal(arr(cols["label"]), label(ids)):
        bad.append("label")
    if "score" in cols and not np.array_equal(arr(cols["score"]), score(ids)):
        bad.append("score")
    if "caption" in cols and list(cols["caption"]) != [caption(int(i)) for i in ids]:
        bad.append("caption")
    return bad


def plain(value):
    """A batch column (numpy, torch or python format, or what torch's default collate made of it) as plain
    Python values, for comparing with expected values."""
    if hasattr(value, "tolist") and hasattr(value, "dtype") and not isinstance(value, np.ndarray):
        return value.tolist()  # a torch tensor
    if isinstance(value, (np.ndarray, np.generic)):
        return tablecar.formats.to_python(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def check_expected_batch(expected: dict, ids, cols) -> list[str]:
    """Mismatches between a batch {column: values} and `expected` {column: [python value of global row i]}
    for the row ids `ids` (columns the batch lacks are not checked)."""
    ids = [int(i) for i in plain(ids)]
    bad = []
    for name, values in expected.items():
        if name in cols and plain(cols[name]) != [values[i] for i in ids]:
            bad.append(name)
    return bad


# ---------------------------------------------------------------------------------------------------------
# The server


class Server:
    """tablecar-server over a fresh data dir holding `example` (rows, batch_rows) and, with all_types, the
    all-types fixture as `all_types`; prepare(data_dir: Path), when given, adds more before the server
    starts. Use as a context manager, or start()/stop()."""

    def __init__(self, rows: int = 2000, batch_rows: int = 256, all_types: bool = False, prepare=None,
                 remote: bool = False, args: tuple[str, ...] = ()):
        self.rows, self.batch_rows, self.all_types, self.prepare = rows, batch_rows, all_types, prepare
        self.remote = remote  # serve the data dir from the S3 test store (S3Store) instead of the local dir
        self.store: S3Store | None = None
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.dir = ""

    @property
    def address(self) -> str:
        return f"unix:{self.socket}"

    def start(self) -> "Server":
        self.dir = tempfile.mkdtemp(prefix="tc-py-")
        data = Path(self.dir, "data")
        data.mkdir()
        self.socket = str(Path(self.dir, "s.sock"))
        subprocess.run([MKFIXTURE, "example", str(data / "example.arrow"), "--rows", str(self.rows),
                        "--batch-rows", str(self.batch_rows)], check=True)
        if self.all_types:
            tmp = Path(self.dir, "all-types")
            tmp.mkdir()
            subprocess.run([MKFIXTURE, "all-types", str(tmp)], check=True)
            shutil.copy(tmp / "all-types-file-none.arrow", data / "all_types.arrow")
        if self.prepare is not None:
            self.prepare(data)
        self.log_path = Path(self.dir, "server.log")
        data_dir, args = str(data), []
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABLECAR_") or k == "TABLECAR_LIBRARY"}
        if self.remote:
            self.store = S3Store(Path(self.dir, "store")).start()
            self.store.upload("tc-data", "py", data)
            data_dir = "s3://tc-data/py"
            args = ["--remote-cache-dir", str(Path(self.dir, "remote-cache"))]
            env.update(self.store.env())
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([SERVER, "--data-dir", data_dir, "--listen", self.address, *args, *self.args],
                                         stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait_serving()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_serving(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        db = tablecar.connect(self.address, timeout=1.0)
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tablecar-server exited ({self.proc.returncode}) before serving:\n{self.log()}")
            try:
                if db.health() == "SERVING":
                    db.close()
                    return
            except tablecar.TablecarError as e:
                last = str(e)
            time.sleep(0.05)
        raise RuntimeError(f"tablecar-server not SERVING within {timeout} s ({last}):\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, then checks the server drained and exited 0."""
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(300)  # a hang guard
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    raise RuntimeError(f"tablecar-server ignored SIGTERM for 300 s:\n{self.log()}")
                if self.proc.returncode != 0:
                    raise RuntimeError(f"tablecar-server exited with {self.proc.returncode}:\n{self.log()}")
        finally:
            if self.store:
                self.store.stop()
            shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.store:
            self.store.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.stop()
        else:
            self.kill()


class S3Store:
    """The S3 test store (tests/peers/s3_store.mjs: SigV4 checked, request counters) on a free loopback
    port, with uploads by boto3."""

    ACCESS, SECRET = "tcaccess", "tcsecret-py"

    def __init__(self, root: Path):
        self.root = root
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @staticmethod
    def available() -> str:
        """Why the store cannot run here, or ''."""
        if not shutil.which("node"):
            return "node is missing"
        try:
            import boto3  # noqa: F401
        except ImportError:
            return "python3-boto3 is missing"
        return ""

    def start(self) -> "S3Store":
        self.root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "S3_ACCESS_KEY": self.ACCESS, "S3_SECRET_KEY": self.SECRET}
        self.proc = subprocess.Popen([shutil.which("node") or "node", str(SOURCE_DIR / "tests/peers/s3_store.mjs"),
                                      "--root", str(self.root)], stdout=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"the S3 test store did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.ACCESS, "AWS_SECRET_ACCESS_KEY": self.SECRET,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": "us-east-1"}

    def upload(self, bucket: str, prefix: str, directory: Path) -> None:
        subprocess.run([sys.executable, str(SOURCE_DIR / "tests/s3/upload.py"), self.endpoint, bucket, prefix,
                        str(directory)], check=True, env={**os.environ, **self.env()}, stdout=subprocess.DEVNULL)

    def stats(self) -> dict:
        import json
        import urllib.request
        with urllib.request.urlopen(f"{self.endpoint}/__admin/stats", timeout=10) as r:
            return json.load(r)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None
