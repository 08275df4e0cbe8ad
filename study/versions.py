"""What produced a result: the installed library versions and the code's git revision."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "ray", "mlflow", "optuna", "numpy", "scipy",
                "scikit-learn", "torch-fidelity", "pyarrow", "pydantic", "gan-mode-study"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def git_revision() -> str:
    try:
        root = Path(__file__).resolve().parents[1]
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5)
        return rev.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
