"""The GPU runner's throughput phase: each image trainer's images/s beside a bare PyTorch loop of
the same networks and batch (`bench.bench_throughput.compare`), and the total images/s of 1, 2,
4, 8 runs of one trainer sharing the device, each in its own process as the plan's runs are.
Writes OUT/throughput.json and prints the tables.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def run_throughput(spec: dict[str, Any], out: Path, data_root: str | None) -> dict[str, Any]:
    import torch

    from bench.bench_throughput import compare

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    table: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if device.type == "cuda"
                             else "cpu", "torch": torch.__version__, "precision": "fp32",
                             "steps": spec.get("steps", 20), "repeats": spec.get("repeats", 3),
                             "trainers": {}, "sharing": {}}
    out.mkdir(parents=True, exist_ok=True)
    for name, (trainer, dataset, options, cfg) in spec.get("trainers", {}).items():
        t0 = time.monotonic()
        try:
            ours, bare = compare(trainer, data_root, int(table["steps"]), int(table["repeats"]),
                                 device, (dataset, options, cfg))
            row = {"trainer_img_s": ours, "bare_img_s": bare, "ratio": ours / bare}
        except Exception as exc:  # one trainer's failure is a finding, not the end of the phase
            row = {"error": f"{type(exc).__name__}: {exc}"}
        row["wall_s"] = time.monotonic() - t0
        table["trainers"][name] = row
        print(f"throughput {name}: {row}", flush=True)
        (out / "throughput.json").write_text(json.dumps(table, indent=2))
    share = spec.get("sharing")
    if share:
        trainer, dataset, options, cfg = share["setting"]
        for n in share.get("processes", [1, 2, 4, 8]):
            arg = json.dumps({"trainer": trainer, "dataset": dataset, "options": options,
                              "cfg": cfg, "data_root": data_root,
                              "seconds": share.get("seconds", 10)})
            procs = [subprocess.Popen([sys.executable, "-m", "bench.gpu.throughput", arg],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                     for _ in range(n)]
            # A common start, so that the processes overlap: each says `ready` once built and
            # warmed up, and all start on one `go`.
            ready = [_wait_ready(p) for p in procs]
            for p in procs:
                if p.poll() is None:
                    p.stdin.write("go\n")
                    p.stdin.flush()
            rates = []
            for p, ok in zip(procs, ready, strict=True):
                stdout, _ = p.communicate()
                lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
                rates.append(json.loads(lines[-1]) if ok and lines else
                             {"error": stdout[-500:] or f"exit {p.returncode} before ready"})
            total = sum(r.get("img_s", 0.0) for r in rates)
            table["sharing"][str(n)] = {"total_img_s": total, "per_process": rates}
            print(f"throughput sharing {n} processes: {total:.0f} img/s", flush=True)
            (out / "throughput.json").write_text(json.dumps(table, indent=2))
    return table


def _wait_ready(proc: subprocess.Popen) -> bool:
    """Reads the child's output up to its `ready` line; False if it ended first."""
    for line in proc.stdout:
        if line.strip() == "ready":
            return True
    return False


def share_child(arg: str) -> None:
    """One sharing process: build the trainer, warm up, say `ready`, wait for `go` on stdin,
    then step for `seconds`."""
    import torch

    from trainables.core.context import RunContext
    from trainables.data import load_dataset
    from trainables.registry import get_method

    a = json.loads(arg)
    torch.set_num_threads(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = load_dataset(a["dataset"], root=a["data_root"], **a["options"])
    cls = get_method(a["trainer"])
    method = cls(cls.Config.model_validate(a["cfg"]), data, RunContext(device, seed=0))
    for i in range(5):
        method.train_step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    t0, steps = time.perf_counter(), 0
    while time.perf_counter() - t0 < a["seconds"]:
        method.train_step(5 + steps)
        steps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(json.dumps({"steps": steps, "seconds": dt,
                      "img_s": steps * int(a["cfg"]["batch_size"]) / dt}), flush=True)


if __name__ == "__main__":
    share_child(sys.argv[1])
