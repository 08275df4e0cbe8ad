"""Score a runner's saved checkpoints again with the current metrics, without training.

A run folder of `bench.gpu.runner` (`--work`, default OUT/../gpu_work/<run>) keeps a checkpoint
at every report step; this scores each (or the last) with `runner.final_scores`, the same
scoring as the run's own final one, so a metric added later (e.g. `between_frac`) can be read on
runs made before it. The samples come from the checkpoint's own random streams: the last
checkpoint at the run's `final_samples` reproduces the run's final scores.

    python -m bench.gpu.rescore RUN_DIR... [--samples 10000] [--prdc-samples 5000]
        [--last] [--data-root DIR] [--out FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.gpu.runner import final_scores

SHOWN = (("confident_frac", "gate"), ("between_frac", "between"), ("modes_covered", "modes"),
         ("reverse_kl_log10", "KL log10"), ("fid", "FID"))


def checkpoints(run_dir: Path, last: bool) -> list[Path]:
    found = sorted((run_dir / "ckpt").glob("checkpoint_*"))
    if not found:
        raise FileNotFoundError(f"{run_dir}: no checkpoint_* under {run_dir / 'ckpt'} (expected "
                                f"a run folder of bench.gpu.runner)")
    return found[-1:] if last else found


def rescore(run_dir: Path, samples: int, prdc_samples: int, last: bool,
            data_root: str | None, out: Path | None = None) -> list[dict[str, Any]]:
    """Each checkpoint's scores, printed and (with `out`) appended as soon as it is scored, so
    an interrupted rescore keeps what it did."""
    run = {"final_samples": samples, "final_prdc_samples": prdc_samples}
    rows = []
    for folder in checkpoints(run_dir, last):
        scores, _ = final_scores(folder, run, data_root)
        scores.pop("protocol", None)
        rows.append({"run": run_dir.name, **scores})
        if out is not None:
            with open(out, "a") as f:
                f.write(json.dumps(rows[-1], default=str) + "\n")
        shown = ", ".join(f"{label} {scores.get(f'final/{key}', float('nan')):.4g}"
                          for key, label in SHOWN)
        print(f"{run_dir.name} step {scores['step']}: {shown}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu.rescore", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders of bench.gpu.runner")
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--prdc-samples", type=int, default=5_000)
    ap.add_argument("--last", action="store_true", help="the last checkpoint only")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", type=Path, default=None, help="append one JSON line a checkpoint")
    args = ap.parse_args(argv)
    try:
        for run_dir in args.runs:
            checkpoints(run_dir, args.last)  # every folder checked before any scoring
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for run_dir in args.runs:
        rescore(run_dir, args.samples, args.prdc_samples, args.last, args.data_root, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
