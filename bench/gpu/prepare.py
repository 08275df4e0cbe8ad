"""Prepare a GPU run here, where the package registries and the data root are: the wheels the
GPU machine lacks, the data the plan reads and the reference classifier, into `.gpu_carry/`
(ignored by git, named in the device call's `carry`), and a check that everything that travels
fits in the 64 MiB a call may send.

    .venv/bin/python -m bench.gpu.prepare --data-root DIR [--classifiers DIR] [--no-wheels]

The GPU machine (Python 3.12, torch, numpy, scipy, scikit-learn, pandas, pyarrow, matplotlib,
pyyaml; no registry) lacks pydantic and its three helpers, so they travel as wheels. Ray, MLflow,
Optuna and torch-fidelity stay here: the runner calls `train_loop` directly.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

CARRY = Path(".gpu_carry")
LIMIT = 64 * 2**20
# The versions installed here, for CPython 3.12 manylinux x86_64 (the GPU machine).
WHEELS = ["pydantic", "pydantic-core", "annotated-types", "typing-inspection", "torch-fidelity"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
DATA = {"mnist": ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]}


def installed_version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def download_wheels(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in WHEELS:
        spec = f"{name}=={installed_version(name)}"
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
               "-d", str(dest), spec]
        for p in PLATFORMS:
            cmd += ["--platform", p]
        subprocess.run(cmd, check=True)


def travelling_bytes(repo: Path, carry: Path) -> int:
    """Tracked plus untracked-not-ignored files, plus the carried folder."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=repo, check=True,
                            capture_output=True).stdout.split(b"\0")
    total = sum((repo / f.decode()).stat().st_size for f in listed
                if f and (repo / f.decode()).is_file())
    return total + sum(f.stat().st_size for f in carry.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True, help="offline data copies (mnist/ in it)")
    ap.add_argument("--classifiers", default=None, help="reference classifiers (default: "
                    "$STUDY_CLASSIFIERS_DIR or ~/.cache/gan-mode-study/classifiers)")
    ap.add_argument("--no-wheels", action="store_true", help="skip the download (CPU tests)")
    ap.add_argument("--carry", default=str(CARRY))
    args = ap.parse_args(argv)
    from evaluation.classifiers import classifiers_dir

    repo, carry = Path(__file__).resolve().parents[2], Path(args.carry)
    root = Path(args.data_root)
    for folder, files in DATA.items():
        for f in files:
            src = root / folder / f
            if not src.is_file():
                print(f"error: --data-root: {src} is missing (expected the offline {folder} "
                      f"copy)", file=sys.stderr)
                return 2
            (carry / "data" / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, carry / "data" / folder / f)
    clf = classifiers_dir(args.classifiers)
    if not (clf / "mnist.pt").is_file() or not (clf / "mnist.json").is_file():
        print(f"error: --classifiers: no mnist.pt / mnist.json in {clf}; train it first with "
              f"`study classifiers train mnist`", file=sys.stderr)
        return 2
    (carry / "classifiers").mkdir(parents=True, exist_ok=True)
    for f in ("mnist.pt", "mnist.json"):
        shutil.copy2(clf / f, carry / "classifiers" / f)
    if not args.no_wheels:
        download_wheels(carry / "whl")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                           capture_output=True, text=True).stdout.strip()
    (carry / "commit.txt").write_text(f"commit {head}{' + uncommitted changes' if dirty else ''}\n")
    total = travelling_bytes(repo, carry)
    print(f"{carry}: ready; what travels: {total / 2**20:.1f} MiB of the 64 MiB a call sends")
    if total > LIMIT:
        print("error: over the limit: ignore or carry less", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
