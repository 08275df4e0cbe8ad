"""What produced a result: the installed library versions and the code's git revision."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from evaluation.protocol import installed_versions

_PACKAGES = ("torch", "torchvision", "ray", "mlflow", "optuna", "numpy", "scipy", "scikit-learn",
             "torch-fidelity", "pyarrow", "pydantic", "gan-mode-study")


def library_versions() -> dict[str, str]:
    """Python's and the installed packages' versions (``"missing"`` if not installed)."""
    return {"python": platform.python_version(), **installed_versions({p: p for p in _PACKAGES})}


def git_revision() -> str:
    try:
        root = Path(__file__).resolve().parents[1]
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5)
        return rev.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
