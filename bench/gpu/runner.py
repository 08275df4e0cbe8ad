"""Run a plan of training runs on one machine without Ray, Tune or MLflow, and pack what each
finished run produced into an output folder as it finishes (the GPU machine's `$OUT`).

A plan (YAML, `bench/gpu/plan_*.yaml`) names runs; each run is one `trainables.loop.train_loop`
call in its own process, so several share the GPU. Each run trains until its step budget or
its wall-clock budget (checked at its report steps) runs out, is then scored once more from its
last checkpoint with `final_samples` samples (mode counts, KL, learning gate) and FID /
precision / recall / density / coverage on the first `final_prdc_samples` of them, and its
results are packed:

    OUT/results.jsonl    one line a finished run: settings, every report, the final scores
                         (a failed run: its reports so far, the error and its traceback)
    OUT/progress.jsonl   every report of every run as it is made (kept if the command is cut)
    OUT/figures.tar      each run's sample and per-condition grids and protocol.json
    OUT/generators.tar   each run's last G weights (fp16, while the archive stays < 15 MiB)
    OUT/throughput.json  the throughput phase's table (plans with `throughput:`)
    OUT/runner.log       this runner's log

At most 8 files come back from the GPU machine, 16 MiB each, so everything goes into these
six; the archives are rewritten whole (atomically) after each run, so a command stopped at its
limit still returns every run finished by then.

    python -m bench.gpu.runner PLAN --out DIR [--data-root DIR] [--device cuda|cpu]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

MAX_ARCHIVE = 15 * 2**20  # below the 16 MiB a returned file may hold
SAMPLE_CHUNK = 5000  # samples a G call at the final scoring
RUN_KEYS = {"name", "trainer", "dataset", "method", "seed", "steps", "time_s", "eval_every",
            "eval_samples", "final_samples", "final_prdc_samples", "group", "eval_features",
            "threads"}


class PlanError(ValueError):
    """A plan that cannot run: names the field and what was expected."""


def load_plan(path: Path) -> dict[str, Any]:
    """The plan with each run's settings filled from `defaults`; refuses unknown fields."""
    try:
        plan = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PlanError(f"{path}: cannot read the plan: {exc}") from exc
    if not isinstance(plan, dict) or not isinstance(plan.get("runs"), list) or not plan["runs"]:
        raise PlanError(f"{path}: expected a mapping with a non-empty list 'runs'")
    unknown = set(plan) - {"name", "description", "defaults", "runs", "parallel", "wall_s",
                           "throughput"}
    if unknown:
        raise PlanError(f"{path}: unknown top-level field(s) {sorted(unknown)}")
    defaults = plan.get("defaults") or {}
    runs = []
    for i, run in enumerate(plan["runs"]):
        merged = {**defaults, **run}
        merged["method"] = {**defaults.get("method", {}), **run.get("method", {})}
        bad = set(merged) - RUN_KEYS
        if bad:
            raise PlanError(f"{path}: runs[{i}]: unknown field(s) {sorted(bad)}")
        for key in ("name", "trainer", "dataset", "steps"):
            if key not in merged:
                raise PlanError(f"{path}: runs[{i}]: missing field {key!r}")
        runs.append(merged)
    names = [r["name"] for r in runs]
    if len(set(names)) != len(names):
        raise PlanError(f"{path}: run names must be unique, got {names}")
    plan["runs"] = runs
    return plan


def loop_config(run: dict[str, Any], work: Path, data_root: str | None) -> dict[str, Any]:
    """The `train_loop` config of one run: evaluation at `eval_every`, a checkpoint at each."""
    every = int(run.get("eval_every", run["steps"]))
    return {
        "trainer": run["trainer"], "method": run["method"], "dataset": run["dataset"],
        "data_root": data_root, "seed": int(run.get("seed", 0)), "steps": int(run["steps"]),
        "time_s": run.get("time_s"), "eval_every": every, "checkpoint_every": every,
        "eval_samples": int(run.get("eval_samples", 2000)), "artifact_dir": str(work / "art"),
        "eval_features": run.get("eval_features", "auto"),
        "stage_dir": str(work.parent / "stages"), "run_name": run["name"],
        "threads": int(run.get("threads", 1)),  # CPU threads: Self-Cond's k-means runs there
    }


class ProgressReporter:
    """`LocalReporter` that also appends each report, as it is made, to a JSON-lines file in
    OUT: a command stopped at its limit still returns every report of every run, finished or
    not (the first paper-plan run lost the reports of the runs that had not finished)."""

    def __init__(self, name: str, checkpoint_root: Path, progress: Path | None) -> None:
        from trainables.loop import LocalReporter

        self.inner = LocalReporter(checkpoint_root=checkpoint_root)
        self.name, self.progress, self.t0 = name, progress, time.monotonic()

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.inner.history

    @property
    def last_checkpoint(self) -> Path | None:
        return self.inner.last_checkpoint

    def restore_dir(self) -> Path | None:
        return self.inner.restore_dir()

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        self.inner.report(metrics, checkpoint_dir)
        if self.progress is not None:
            line = {"run": self.name, "wall_s": time.monotonic() - self.t0, **metrics}
            with open(self.progress, "a") as f:  # one short append a report
                f.write(json.dumps(line, default=str) + "\n")


def run_one(run: dict[str, Any], work: Path, data_root: str | None,
            record: dict[str, Any], progress: Path | None = None) -> None:
    """Train one run, score its last checkpoint and fill `record` (in the child); the reports
    are in `record` as they are made, so a failure keeps them."""
    import torch

    from trainables.loop import train_loop

    work.mkdir(parents=True, exist_ok=True)
    reporter = ProgressReporter(run["name"], work / "ckpt", progress)
    record["reports"] = reporter.history
    record["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    record["torch"] = torch.__version__
    t0 = time.monotonic()
    record["last"] = train_loop(loop_config(run, work, data_root), reporter)
    record["train_s"] = time.monotonic() - t0
    if reporter.last_checkpoint is not None:
        t1 = time.monotonic()
        record["final"], g_state = final_scores(reporter.last_checkpoint, run, data_root)
        record["final_s"] = time.monotonic() - t1
        torch.save({k: v.half() if v.is_floating_point() else v for k, v in g_state.items()},
                   work / "g_final.pt")


def final_scores(folder: Path, run: dict[str, Any], data_root: str | None
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The last checkpoint scored with `final_samples` samples (the paper's count): modes, KL
    and learning gate on all of them, FID / PR / DC / IS / KID on the first
    `final_prdc_samples` (k-NN PR/DC over 50k × 50k would cost minutes a run)."""
    import torch

    from trainables.restore import restore
    from trainables.scoring.images import image_metrics

    device = "cuda" if torch.cuda.is_available() else "cpu"
    r = restore(folder, device, data_root=data_root)
    n = int(run.get("final_samples", 10_000))
    n_prdc = min(n, int(run.get("final_prdc_samples", 10_000)))
    with torch.no_grad():  # in chunks: 50k through G at once took 12 GiB of a shared GPU
        samples = torch.cat([r.method.sample(min(SAMPLE_CHUNK, n - i)).detach().float().cpu()
                             for i in range(0, n, SAMPLE_CHUNK)])
    out: dict[str, Any] = {"step": r.step, "n_samples": n, "n_prdc": n_prdc}
    if r.data.info.get("kind") == "image":
        found, proto = image_metrics(samples, r.data, r.config.eval_features, device,
                                     split=r.config.eval_split, prdc_samples=n_prdc)
        out |= {f"final/{k}": v for k, v in found.items()} | {"protocol": proto}
    out |= {f"final/{k}": float(v) for k, v in r.method.evaluate(r.step).items()}
    return out, r.method.g.state_dict()


def child_main(spec: str) -> int:
    args = json.loads(spec)
    work = Path(args["work"])
    record: dict[str, Any] = {"run": args["run"], "ok": False}
    progress = Path(args["progress"]) if args.get("progress") else None
    try:
        run_one(args["run"], work, args.get("data_root"), record, progress)
        record["ok"] = True
    except BaseException as exc:  # recorded with the reports so far; the parent packs it
        record |= {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    (work / "record.json").write_text(json.dumps(record, default=str))
    return 0 if record["ok"] else 1


class Packer:
    """Keeps OUT's files current: a line per finished run, and archives rewritten atomically."""

    def __init__(self, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.figures: dict[str, bytes] = {}
        self.generators: dict[str, bytes] = {}

    def log(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        with open(self.out / "runner.log", "a") as f:
            f.write(line + "\n")

    def add(self, name: str, work: Path) -> dict[str, Any]:
        path = work / "record.json"
        record = json.loads(path.read_text()) if path.exists() else {
            "run": {"name": name}, "ok": False, "error": "the run's process died (no record)"}
        with open(self.out / "results.jsonl", "a") as f:
            f.write(json.dumps(record, default=str) + "\n")
        art = work / "art"
        if art.is_dir():
            for f in sorted(art.iterdir()):
                if f.suffix in (".png", ".json") and f.is_file():
                    self.figures[f"{name}/{f.name}"] = f.read_bytes()
        g = work / "g_final.pt"
        if g.exists():
            self.generators[f"{name}/g_final.pt"] = g.read_bytes()
        self._write_tar("figures.tar", self.figures)
        self._write_tar("generators.tar", self.generators)
        return record

    def _write_tar(self, file: str, members: dict[str, bytes]) -> None:
        buf, total = io.BytesIO(), 0
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for member, data in members.items():
                if total + len(data) > MAX_ARCHIVE:
                    self.log(f"{file}: {member} left out (the archive would pass 15 MiB)")
                    continue
                info = tarfile.TarInfo(member)
                info.size, info.mtime = len(data), int(time.time())
                tar.addfile(info, io.BytesIO(data))
                total += len(data)
        tmp = self.out / f".{file}.tmp"
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, self.out / file)


def run_plan(plan: dict[str, Any], out: Path, work_root: Path, data_root: str | None,
             only: list[str] | None = None) -> list[dict[str, Any]]:
    """Start the runs, `parallel` at a time, in plan order; pack each as it ends. Runs not
    started when `wall_s` (from now) would be passed are skipped and said so."""
    packer = Packer(out)
    runs = [r for r in plan["runs"] if not only or r["name"] in only]
    parallel = int(plan.get("parallel", 1))
    deadline = time.monotonic() + float(plan.get("wall_s", 1e9))
    pending, active, records = list(runs), {}, []
    packer.log(f"plan {plan.get('name')}: {len(runs)} runs, {parallel} at a time")
    while pending or active:
        while pending and len(active) < parallel:
            run = pending.pop(0)
            if time.monotonic() + float(run.get("time_s") or 0) * 0.5 > deadline:
                packer.log(f"{run['name']}: skipped (the plan's wall_s would be passed)")
                continue
            work = work_root / run["name"]
            work.mkdir(parents=True, exist_ok=True)
            spec = json.dumps({"run": run, "work": str(work), "data_root": data_root,
                               "progress": str(out / "progress.jsonl")})
            log = open(work / "stdout.log", "w")
            proc = subprocess.Popen([sys.executable, "-m", "bench.gpu.runner", "--child", spec],
                                    stdout=log, stderr=subprocess.STDOUT)
            active[run["name"]] = (proc, work, log, time.monotonic())
            packer.log(f"{run['name']}: started ({run['trainer']}, seed {run.get('seed', 0)})")
        done = [n for n, (p, *_rest) in active.items() if p.poll() is not None]
        if not done:
            time.sleep(0.5)  # polling child processes, not standing in for a result
            continue
        for name in done:
            proc, work, log, t0 = active.pop(name)
            log.close()
            record = packer.add(name, work)
            records.append(record)
            if record.get("ok"):
                fin = record.get("final", {})
                packer.log(f"{name}: done in {time.monotonic() - t0:.0f} s, step "
                           f"{fin.get('step')}, modes {fin.get('final/modes_covered')} "
                           f"({fin.get('final/modes_confident')} confident), gate "
                           f"{fin.get('final/confident_frac')} (between two "
                           f"{fin.get('final/between_frac')}), fid {fin.get('final/fid')}")
            else:
                tail = (work / "stdout.log").read_text()[-1500:]
                packer.log(f"{name}: FAILED ({record.get('error')})\n{tail}")
    return records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plan", nargs="?")
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu_out"))
    ap.add_argument("--work", default=None, help="run folders (default: OUT/../gpu_work)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--only", nargs="*", help="run these names of the plan only")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args.child)
    if not args.plan:
        ap.error("a plan file is required")
    try:
        plan = load_plan(Path(args.plan))
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    work = Path(args.work) if args.work else out.parent / "gpu_work"
    if plan.get("throughput"):
        from bench.gpu.throughput import run_throughput

        run_throughput(plan["throughput"], out, args.data_root)
    records = run_plan(plan, out, work, args.data_root, args.only)
    failed = [r["run"]["name"] for r in records if not r.get("ok")]
    print(f"{len(records) - len(failed)} runs finished, {len(failed)} failed {failed or ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
