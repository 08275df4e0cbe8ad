"""Shared by the 2D-table benchmarks: runs in parallel processes and mean ± standard error.

Each run is one `train_loop` call (a seed of one configuration) in its own process, so `--jobs`
runs use that many cores with one thread each: the toy networks are too small for intra-op
threads to pay, while independent seeds scale with the cores.
"""

from __future__ import annotations

import math
import multiprocessing
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from trainables.loop import LocalReporter, train_loop


def mean_se(values: list[float]) -> str:
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{m:.4g} ± {se:.2g}"


def _run(cfg: dict[str, Any]) -> tuple[dict[str, float], float]:
    t0 = time.perf_counter()
    result = train_loop(cfg, LocalReporter())
    return result, time.perf_counter() - t0


def run_all(
    cfgs: list[dict[str, Any]], jobs: int, describe: Callable[[dict[str, Any]], str],
    line: Callable[[dict[str, float]], str],
) -> list[tuple[dict[str, float], float]]:
    """(final metrics, wall seconds) of every config, in the order given; prints each run's
    `describe(cfg): line(result)` as it finishes."""
    out: list[tuple[dict[str, float], float] | None] = [None] * len(cfgs)
    if jobs <= 1:
        for i, cfg in enumerate(cfgs):
            out[i] = _run(cfg)
            print(f"  {describe(cfg)}: {line(out[i][0])} ({out[i][1]:.0f} s)", flush=True)
        return out  # type: ignore[return-value]
    ctx = multiprocessing.get_context("spawn")  # no forked torch / OpenMP state
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(_run, cfg): i for i, cfg in enumerate(cfgs)}
        for fut in as_completed(futures):
            i = futures[fut]
            out[i] = fut.result()
            print(f"  {describe(cfgs[i])}: {line(out[i][0])} ({out[i][1]:.0f} s)", flush=True)
    return out  # type: ignore[return-value]
