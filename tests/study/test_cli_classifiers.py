"""`study classifiers train/ls` through the real CLI, on sklearn's digits (no download)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study.cli", *args], capture_output=True,
                          text=True, timeout=600, env=env)


def test_train_digits_then_list(tmp_path):
    env = os.environ | {"STUDY_CLASSIFIERS_DIR": str(tmp_path)}
    done = run_cli("classifiers", "train", "digits", env=env)
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "digits.json").read_text())
    assert meta["test_accuracy"] >= 0.97
    assert (tmp_path / "digits.pt").is_file()
    listed = run_cli("classifiers", "ls", env=env)
    assert f"digits\ttest accuracy {meta['test_accuracy']:.4f}" in listed.stdout
    assert "mnist\tnot trained" in listed.stdout
    bad = run_cli("classifiers", "train", "svhn", env=env)
    assert bad.returncode == 2 and "unknown classifier 'svhn'" in bad.stderr
