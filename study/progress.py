"""One readable line per trial event while a study runs (Tune's own tables are switched off)."""

from __future__ import annotations

import time
from typing import Any

from ray import tune


def _short(config: dict[str, Any]) -> str:
    parts = []
    for k, v in config.items():
        if k.startswith("__"):
            continue
        parts.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)


class ProgressCallback(tune.Callback):
    def __init__(self, metrics: list[str], steps: int) -> None:
        self.metrics, self.steps = metrics, steps
        self.t0 = time.monotonic()

    def _say(self, trial: Any, text: str) -> None:
        elapsed = time.monotonic() - self.t0
        print(f"[{elapsed:7.1f}s] {trial.trial_id} {text}", flush=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._say(trial, f"started  {_short(trial.config)}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        shown = " ".join(f"{m}={result[m]:.4g}" for m in self.metrics
                         if isinstance(result.get(m), int | float))
        self._say(trial, f"step {int(result.get('step', 0))}/{self.steps} {shown}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        done = sum(t.status == "TERMINATED" or t is trial for t in trials)
        self._say(trial, f"finished ({done} trials done so far)")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from study.tracking import failure_reason

        self._say(trial, f"FAILED: {failure_reason(trial)}")
