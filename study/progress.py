"""One readable line per trial event while a study runs (Tune's own tables are switched off)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ray import tune


def short_config(config: dict[str, Any], seeds: list[int] | None = None) -> str:
    """A trial's searched values and seed, e.g. `lr_g=0.0001 latent_dim=8 s0` (run names)."""
    parts = [str(config["trainer"])] if "trainer" in config else []  # compared trainers
    parts += [f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
              for k, v in config.items() if not k.startswith("__") and k not in ("seed",
                                                                                 "trainer")]
    if "seed" in config:
        parts.append(f"s{config['seed']}")
    elif seeds and "__trial_index__" in config:  # an Optuna point repeated over the seeds
        parts.append(f"s{seeds[int(config['__trial_index__']) % len(seeds)]}")
    return " ".join(parts)


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


class ProgressCallback(tune.Callback):
    # Class defaults: a study resumes with the callback Tune pickled when it started, which
    # may come from a version without these attributes.
    total: int | None = None

    def __init__(self, metrics: list[str], steps: int, total: int | None = None) -> None:
        self.metrics, self.steps, self.total = metrics, steps, total
        self.t0 = time.monotonic()

    def setup(self, **info: Any) -> None:
        # Each fit (a resume too) counts from its own start: a restored callback's clock came
        # from another process.
        self.t0 = time.monotonic()

    def _say(self, trial: Any, text: str) -> None:
        elapsed = time.monotonic() - self.t0
        print(f"[{elapsed:7.1f}s] {trial.trial_id} {text}", flush=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        # A trial that reported before (a resume, a restart after a failure) continues.
        last = (trial.last_result or {}).get("step")
        verb = f"resumed from step {int(last)}" if isinstance(last, int | float) and last \
            else "started "
        self._say(trial, f"{verb} {short_config(trial.config)}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        shown = " ".join(f"{m}={result[m]:.4g}" for m in self.metrics
                         if isinstance(result.get(m), int | float))
        self._say(trial, f"step {int(result.get('step', 0))}/{self.steps} {shown}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._say(trial, f"finished ({self._done(trials, trial)})")

    def _done(self, trials: list, trial: Any) -> str:
        """'trial k of N done, ETA ...' (the ETA assumes the remaining trials cost the same)."""
        done = sum(t.status in ("TERMINATED", "ERROR") or t is trial for t in trials)
        if not self.total:
            return f"{done} trials done so far"
        left = max(self.total - done, 0)
        eta = (time.monotonic() - self.t0) / done * left
        return f"trial {done} of {self.total} done" + (f", ETA {_duration(eta)}" if left else "")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._say(trial, f"FAILED: {failure_reason(trial)} ({self._done(trials, trial)})")


def failure_reason(trial: Any) -> str:
    """The last meaningful line of the trial's error (e.g. 'loss_d is nan at step 37')."""
    text = ""
    try:
        # The local error file is written before callbacks run; storage may lag behind it.
        if trial.error_file and Path(trial.error_file).is_file():
            text = Path(trial.error_file).read_text()
        elif (err := trial.get_error()) is not None:
            text = str(err)
    except Exception:  # unreadable: still record that it failed
        pass
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "error" in ln]
    line = (errors or lines or ["trial failed (no error text recorded)"])[-1]
    return line.removeprefix("study.trial.TrialFailed: ")
