"""Shared by the 2D-table benchmarks: runs in parallel processes and mean ± standard error.

Each run is one `train_loop` call (a seed of one configuration) in its own process, so `--jobs`
runs use that many cores with one thread each: the toy networks are too small for intra-op
threads to pay, while independent seeds scale with the cores. Every evaluation a run makes is
kept (and printed as it happens), so `--eval-every` gives the course of a metric over training
as well as its final value.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainables.loop import LocalReporter, train_loop

Done = tuple[dict[str, float], float, list[dict[str, float]]]  # final, seconds, evaluations
DATA_NAMES = ("ring", "grid")


def toy_dataset(name: str, ring_radius: float) -> dict[str, Any]:
    """The 2D data set of the tables: 100k points; the ring's 8 std-0.01 Gaussians on a circle
    of `ring_radius` (the Self-Cond paper's text: 1; the authors' 2d_mix code: 2), the grid's
    25 std-0.05 Gaussians at (2i − 4, 2j − 4)."""
    options: dict[str, Any] = {"n": 100_000}
    if name == "ring":
        options["radius"] = ring_radius
    return {"name": name, "options": options}


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both 2D-table benchmarks share (each sets its own `--steps`)."""
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the seeds run are first-seed .. first-seed + seeds - 1")
    parser.add_argument("--eval-every", type=int, help="also score every N steps (default: "
                        "only at the end); the table then prints each metric's course")
    parser.add_argument("--eval-samples", type=int, default=50_000,
                        help="samples the metrics use (the authors' 2D code: 50k)")
    parser.add_argument("--datasets", nargs="+", choices=DATA_NAMES, default=list(DATA_NAMES))
    parser.add_argument("--ring-radius", type=float, default=1.0, help="the paper's text: 1 "
                        "(means (cos 2πi/8, sin 2πi/8)); the authors' 2d_mix code: 2")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--jobs", type=int, default=1, help="table runs in parallel processes")
    parser.add_argument("--g-ema", type=float, default=0.0, help="score a moving average of G "
                        "with this decay (e.g. 0.999; G itself is scored too, as live_*); "
                        "0: G only, as the papers do")
    parser.add_argument("--g-condition", choices=["onehot", "embedding"], default="onehot",
                        help="how the toy G takes its condition: one-hot concatenated to z, or "
                        "the authors' 2d_mix unit-length learned 32-d embedding")
    parser.add_argument("--r1-gamma", type=float, default=0.0, help="R1 penalty weight on D "
                        "(e.g. 1e-4 for the std-0.01 ring; 0: off, as the papers' 2D code)")


def table_seeds(args: argparse.Namespace) -> range:
    return range(args.first_seed, args.first_seed + args.seeds)


def loop_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The `train_loop` settings of one table run, besides trainer, method, data and seed."""
    return {"steps": args.steps, "eval_every": args.eval_every or args.steps,
            "checkpoint_every": args.steps, "eval_samples": args.eval_samples,
            "threads": args.threads}


def method_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The method settings every table run shares (the averaged G and R1 when asked for)."""
    return ({"g_ema": args.g_ema} if args.g_ema > 0 else {}) | (
        {"r1_gamma": args.r1_gamma} if args.r1_gamma > 0 else {}) | (
        {"network_options": {"condition": args.g_condition}}
        if args.g_condition != "onehot" else {})


def settings_note(args: argparse.Namespace) -> str:
    """The departures from the papers' 2D protocol a table was run with (those `method_fields`
    passes on), for its header."""
    fields, notes = method_fields(args), []
    if "g_ema" in fields:
        notes.append(f"G averaged (decay {fields['g_ema']})")
    if "r1_gamma" in fields:
        notes.append(f"R1 γ {fields['r1_gamma']:g}")
    if "network_options" in fields:
        notes.append(f"G condition {fields['network_options']['condition']}")
    return "".join(f", {n}" for n in notes)


LIVE = ("live_modes", "live_high_quality_pct", "live_high_quality_pct_box", "live_reverse_kl",
        "live_mode_spread")
SPREAD = ("mode_spread",)  # 1: each mode as wide as the data's; HQ rewards narrower ones


def course_metrics(base: tuple[str, ...], g_ema: float) -> tuple[str, ...]:
    """The metrics a course prints: the table's, the spread and, with an average, G's own."""
    return base + SPREAD + (("live_high_quality_pct_box", "live_mode_spread") if g_ema else ())


def score_line(r: dict[str, float], prefix: str = "") -> str:
    """The toy scores both tables print for a run (`prefix` "live_": G's own beside its
    average's)."""
    return (f"modes {r[prefix + 'modes']:.0f}, HQ {r[prefix + 'high_quality_pct']:.2f} % (box "
            f"{r[prefix + 'high_quality_pct_box']:.2f} %), rKL {r[prefix + 'reverse_kl']:.4f}, "
            f"spread {r[prefix + 'mode_spread']:.2f}")


def live_line(r: dict[str, float]) -> str:
    """G's own scores in a run that also scores its average ("" when there is none)."""
    return f" | G itself: {score_line(r, 'live_')}" if "live_reverse_kl" in r else ""


def print_live(results: list[dict[str, float]], indent: str) -> None:
    print(f"{indent}mode spread (1 = the data's) {mean_se([r['mode_spread'] for r in results])}")
    if "live_reverse_kl" in results[0]:
        cells = [mean_se([r[m] for r in results]) for m in LIVE]
        print(f"{indent}G itself (not averaged): modes {cells[0]}, HQ {cells[1]}, "
              f"box {cells[2]}, rKL {cells[3]}, mode spread {cells[4]}")


def mean_se(values: list[float]) -> str:
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{m:.4g} ± {se:.2g}"


@dataclass
class _PrintingReporter(LocalReporter):
    """Keeps every evaluation and prints intermediate ones (the final one is printed by
    `run_all`), so a long run shows its progress."""

    label: str = ""
    line: Callable[[dict[str, float]], str] | None = None
    steps: int = 0

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        super().report(metrics, checkpoint_dir)
        if self.line is not None and metrics["step"] < self.steps:
            print(f"    {self.label} step {metrics['step']}: {self.line(metrics)}", flush=True)


def _run(cfg: dict[str, Any], label: str, line: Callable[[dict[str, float]], str]) -> Done:
    t0 = time.perf_counter()
    reporter = _PrintingReporter(label=label, line=line, steps=cfg["steps"])
    result = train_loop(cfg, reporter)
    evals = [{k: float(v) for k, v in h.items() if not isinstance(v, str)}
             for h in reporter.history]
    return result, time.perf_counter() - t0, evals


def run_all(
    cfgs: list[dict[str, Any]], jobs: int, describe: Callable[[dict[str, Any]], str],
    line: Callable[[dict[str, float]], str],
) -> list[Done]:
    """(final metrics, wall seconds, every evaluation) of each config, in the order given;
    prints each run's `describe(cfg): line(result)` as it finishes."""
    out: list[Done | None] = [None] * len(cfgs)

    def show(i: int) -> None:
        result, seconds, _ = out[i]  # type: ignore[misc]
        print(f"  {describe(cfgs[i])}: {line(result)} ({seconds:.0f} s)", flush=True)

    if jobs <= 1:
        for i, cfg in enumerate(cfgs):
            out[i] = _run(cfg, describe(cfg), line)
            show(i)
        return out  # type: ignore[return-value]
    ctx = multiprocessing.get_context("spawn")  # no forked torch / OpenMP state
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(_run, cfg, describe(cfg), line): i for i, cfg in enumerate(cfgs)}
        for fut in as_completed(futures):
            out[futures[fut]] = fut.result()
            show(futures[fut])
    return out  # type: ignore[return-value]


def print_course(done: list[Done], metrics: tuple[str, ...], indent: str = "  ") -> None:
    """Mean ± standard error over the runs of one configuration at each evaluation step
    (printed only when the runs evaluated more than once)."""
    steps = sorted({int(e["step"]) for _, _, evals in done for e in evals})
    if len(steps) < 2:
        return
    print(f"{indent}{'step':>7} " + " ".join(f"{m:>22}" for m in metrics))
    for step in steps:
        at = [e for _, _, evals in done for e in evals if int(e["step"]) == step]
        cells = [mean_se([e[m] for e in at]) if all(m in e for e in at) else "-"
                 for m in metrics]
        print(f"{indent}{step:>7} " + " ".join(f"{c:>22}" for c in cells))
    print_late_snapshots(done, steps[len(steps) // 2], indent)


def print_late_snapshots(
    done: list[Done], from_step: int, indent: str = "  ", metric: str = "high_quality_pct_box"
) -> None:
    """One snapshot of G swings by several points of HQ, so also summarise every snapshot of
    the second half of the runs: the mean over seeds of each seed's mean, and the range."""
    per_seed = [[e[metric] for e in evals if int(e["step"]) >= from_step and metric in e]
                for _, _, evals in done]
    per_seed = [v for v in per_seed if v]
    if not per_seed:
        return
    every = [x for v in per_seed for x in v]
    print(f"{indent}{metric} over the {len(every)} snapshots at step ≥ {from_step}: "
          f"{mean_se([statistics.fmean(v) for v in per_seed])} (mean of each seed's mean), "
          f"range {min(every):.2f} – {max(every):.2f}, "
          f"{sum(x >= 99 for x in every)}/{len(every)} at ≥ 99")
