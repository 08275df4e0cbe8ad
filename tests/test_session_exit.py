"""The test process ends with pytest's exit status, before the interpreter's finalisation
(tests/conftest.py: Ray's native threads outlive ray.shutdown())."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BODY = """
import atexit

def test_it():
    atexit.register(lambda: print("finalisation" + " ran"))  # not in a failure report
    assert {ok}
"""


@pytest.mark.parametrize("ok, status", [(True, 0), (False, 1)])
def test_a_pytest_process_exits_with_its_status_before_finalisation(tmp_path, ok, status):
    (tmp_path / "test_it.py").write_text(BODY.format(ok=ok))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest",
                          "--rootdir", str(tmp_path), str(tmp_path / "test_it.py")],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == status, run.stdout + run.stderr
    assert ("1 passed" if ok else "1 failed") in run.stdout
    assert "finalisation ran" not in run.stdout + run.stderr


def test_pytest_main_in_another_program_returns(tmp_path):
    (tmp_path / "test_it.py").write_text(BODY.format(ok=False))
    code = (f"import pytest; r = pytest.main(['-q', '-p', 'tests.conftest', '--rootdir', "
            f"{str(tmp_path)!r}, {str(tmp_path / 'test_it.py')!r}]); print('returned', int(r))")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "returned 1" in run.stdout and "finalisation ran" in run.stdout
