"""Benchmark of the evaluation metrics (on demand; not part of the tests).

Prints wall time and peak memory of
1. precision/recall/density/coverage at N×N×D (default 10k × 10k × 2048): ours vs the ``prdc``
   package (clovaai), same features, same run, with the ratio and the largest value difference,
   and ours against the floor it cannot beat: the two N×N×D float32 GEMMs its distances need
   (real×real and fake×fake halves, real×fake), timed alone in the same run;
2. ours alone at 50k × 50k × 2048;
3. FID from D-dimensional statistics: ours (eigenvalues of Σ1Σ2) vs ``scipy.linalg.sqrtm``.

Each PR/DC measurement runs in a fresh subprocess; peak memory is the child's peak RSS
(``ru_maxrss``) and, separately, its increase over the RSS measured just before the metric call
(features already in memory). Usage::

    python bench/bench_metrics.py --quick      # small sizes, ~1 minute
    python bench/bench_metrics.py              # 10k×2048 vs prdc (~2.4 GB), 50k×2048 (long)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _features(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, dim), dtype=np.float32)
    fake = rng.standard_normal((n, dim), dtype=np.float32) * np.float32(1.05) + np.float32(0.05)
    return real, fake


def _child(kind: str, n: int, dim: int, seed: int, dtype: str) -> None:
    sys.path.insert(0, str(ROOT))
    real, fake = _features(n, dim, seed)
    if kind == "ours":
        import torch

        from evaluation.prdc import compute_prdc

        base = _rss_mb()
        t0 = time.perf_counter()
        out = compute_prdc(real, fake, 5, dtype=None if dtype == "mixed" else getattr(torch, dtype))
    elif kind == "gemm":
        import torch

        r, f = torch.from_numpy(real), torch.from_numpy(fake)
        base = _rss_mb()
        t0 = time.perf_counter()
        for a, b in ((r, r), (r, f)):  # two N×N×D float32 GEMMs
            torch.mm(a, b.T)
        out = {}
    else:
        import contextlib
        import io

        import prdc

        base = _rss_mb()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            out = prdc.compute_prdc(real, fake, nearest_k=5)
    sec = time.perf_counter() - t0
    peak = _peak_mb()
    print(json.dumps({"seconds": sec, "peak_rss_mb": peak, "delta_mb": peak - base,
                      "values": {k: float(v) for k, v in out.items()}}))


def _run_child(kind: str, n: int, dim: int, seed: int, dtype: str) -> dict:
    cmd = [sys.executable, __file__, "--_child", kind, "--n", str(n), "--dim", str(dim),
           "--seed", str(seed), "--dtype", dtype]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _fmt(r: dict) -> str:
    return (f"{r['seconds']:8.1f} s   peak RSS {r['peak_rss_mb']:8.0f} MB   "
            f"(+{r['delta_mb']:.0f} MB over inputs)")


def bench_prdc(n: int, dim: int, n_large: int, dtype: str, skip_ref: bool,
               skip_large: bool, dtype_large: str, reps: int = 3) -> None:
    print(f"== PR/DC k=5, {n} real x {n} fake x {dim}-d (float32 features; ours in {dtype})")
    # Alternated repetitions: a shared machine's speed drifts between subprocesses, so each
    # ratio pairs runs made back to back and the median ratio is reported.
    pairs = []
    for _ in range(reps):
        ours, gemm = _run_child("ours", n, dim, 0, dtype), _run_child("gemm", n, dim, 0, dtype)
        pairs.append((ours, gemm))
        print(f"ours : {_fmt(ours)};  two {n}x{n}x{dim} float32 GEMMs alone: "
              f"{gemm['seconds']:.2f} s;  ratio {ours['seconds'] / gemm['seconds']:.2f}x")
    ratios = sorted(o["seconds"] / g["seconds"] for o, g in pairs)
    print(f"ratio ours/GEMMs, median of {reps}: {ratios[len(ratios) // 2]:.2f}x "
          f"(range {ratios[0]:.2f}-{ratios[-1]:.2f})")
    ours = pairs[0][0]
    if not skip_ref:
        ref = _run_child("prdc", n, dim, 0, dtype)
        print(f"prdc : {_fmt(ref)}")
        diff = max(abs(ours["values"][k] - ref["values"][k]) for k in ref["values"])
        print(f"ratio prdc/ours: time {ref['seconds'] / ours['seconds']:.2f}x, "
              f"memory increase {ref['delta_mb'] / max(ours['delta_mb'], 1):.1f}x; "
              f"max |value difference| {diff:.2e}")
        print(f"values ours {ours['values']}")
        print(f"values prdc {ref['values']}")
    if not skip_large:
        print(f"== PR/DC k=5 ours alone, {n_large} x {n_large} x {dim}-d, {dtype_large}")
        big = _run_child("ours", n_large, dim, 1, dtype_large)
        print(f"ours : {_fmt(big)}")
        print(f"values {big['values']}")


def bench_fid(dim: int, repeats: int = 3) -> None:
    import scipy.linalg

    sys.path.insert(0, str(ROOT))
    from evaluation.fid import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.standard_normal((dim, 2 * dim)) / np.sqrt(2 * dim)
    b = rng.standard_normal((dim, 2 * dim)) / np.sqrt(2 * dim) * 1.1
    s1, s2 = a @ a.T, b @ b.T + 0.01 * np.eye(dim)
    mu1, mu2 = rng.standard_normal(dim) * 0.1, rng.standard_normal(dim) * 0.1

    def sqrtm_fid() -> float:
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        covmean = covmean.real if np.iscomplexobj(covmean) else covmean
        d = mu1 - mu2
        return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))

    def timed(fn) -> tuple[float, float]:
        best, val = float("inf"), 0.0
        for _ in range(repeats):
            t0 = time.perf_counter()
            val = fn()
            best = min(best, time.perf_counter() - t0)
        return best, val

    t_ours, v_ours = timed(lambda: frechet_distance(mu1, s1, mu2, s2))
    t_ref, v_ref = timed(sqrtm_fid)
    print(f"== FID from {dim}-d statistics (best of {repeats})")
    print(f"ours (eigvals) : {t_ours:7.2f} s   FID {v_ours:.6f}")
    print(f"scipy sqrtm    : {t_ref:7.2f} s   FID {v_ref:.6f}")
    print(f"ratio sqrtm/ours: {t_ref / t_ours:.2f}x; relative difference "
          f"{abs(v_ours - v_ref) / abs(v_ref):.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--n-large", type=int, default=None)
    ap.add_argument("--dim", type=int, default=None)
    precisions = ["mixed", "float32", "float64"]  # mixed: compute_prdc's default (dtype=None)
    ap.add_argument("--dtype", default="mixed", choices=precisions)
    ap.add_argument("--dtype-large", default="mixed", choices=precisions)
    ap.add_argument("--skip-ref", action="store_true", help="skip the prdc package")
    ap.add_argument("--skip-large", action="store_true", help="skip the 50k run")
    ap.add_argument("--reps", type=int, default=3, help="alternated ours/GEMM repetitions")
    ap.add_argument("--only", choices=["prdc", "fid"], default=None)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--_child", choices=["ours", "prdc", "gemm"], default=None,
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        _child(args._child, args.n, args.dim, args.seed, args.dtype)
        return
    n = args.n or (2000 if args.quick else 10_000)
    n_large = args.n_large or (5000 if args.quick else 50_000)
    dim = args.dim or (256 if args.quick else 2048)
    print(f"cpus={os.cpu_count()}  python={sys.version.split()[0]}")
    if args.only in (None, "prdc"):
        bench_prdc(n, dim, n_large, args.dtype, args.skip_ref, args.skip_large,
                   args.dtype_large, args.reps)
    if args.only in (None, "fid"):
        bench_fid(512 if args.quick else 2048)


if __name__ == "__main__":
    main()
