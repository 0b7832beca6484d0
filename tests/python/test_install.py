"""The package as a user installs it: `cmake --install` of the build into a fresh venv, `pip install
--no-build-isolation` of client/python (offline, Debian's setuptools), then the README's Python example run by
the venv's Python against a real server. The package must find libtablecar by itself (no TABLECAR_LIBRARY,
no PYTHONPATH, not run from the source tree).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import tcsupport as S

README = S.SOURCE_DIR / "README.md"
BUILD_DIR = os.environ.get("TC_BUILD_DIR") or str(Path(S.SERVER).parents[1])


def readme_example() -> str:
    """The README's Python example: the first python block of its "Python" section."""
    text = README.read_text()
    section = text[text.index("## Python"):]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "no python block in the README's Python section"
    return m.group(1)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


@unittest.skipUnless(S.HAVE_TORCH, "torch is not installed (the README example uses a DataLoader)")
class InstallTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tc-install-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_fresh_venv_runs_the_readme_example(self):
        text = README.read_text()
        for step in ("/usr/bin/python3 -m venv --system-site-packages .venv", "cmake --install build --prefix .venv",
                     ".venv/bin/pip install --no-build-isolation client/python"):
            self.assertIn(step, text, "the README's install steps changed: update this test with them")
        venv = self.tmp / "venv"
        run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)])
        run(["cmake", "--install", BUILD_DIR, "--prefix", str(venv)])
        # --no-index: offline, as the README's machines are; setuptools and wheel come from Debian.
        run([str(venv / "bin/pip"), "install", "--no-build-isolation", "--no-index", str(S.SOURCE_DIR / "client/python")])
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TABLECAR_", "PYTHON", "TC_")) and k != "LD_LIBRARY_PATH"}
        py = str(venv / "bin/python")
        where = run([py, "-c", "import tablecar, tablecar._lib as L; L.lib(); print(tablecar.__file__); "
                     "print(L._lib_path)"], env=env, cwd=self.tmp).stdout.split()
        self.assertTrue(where[0].startswith(str(venv)), f"tablecar imported from {where[0]}, not the venv")
        self.assertTrue(where[1].startswith(str(venv)), f"libtablecar loaded from {where[1]}, not the install")
        with S.Server(rows=10000, batch_rows=1000) as server:
            code = readme_example()
            self.assertIn('"unix:/tmp/tablecar.sock"', code)
            example = self.tmp / "example.py"
            example.write_text(code.replace('"unix:/tmp/tablecar.sock"', repr(server.address)))
            out = run([py, str(example)], env=env, cwd=self.tmp).stdout.split()
        # It prints the permutation id and the train split's length: 90% of 10000 rows.
        self.assertEqual(len(out), 2, out)
        self.assertRegex(out[0], r"^[0-9a-f]{8,}$")
        self.assertEqual(out[1], "9000")


if __name__ == "__main__":
    unittest.main()
