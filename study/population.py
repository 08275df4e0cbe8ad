"""Tune's population schedulers (PBT, PB2): no exploit at the budget's last step, and kept going
in synchronous mode after a trial error.

Synchronous PBT pauses each trial that reaches the next sync point until every live trial has.
Tune keeps an errored trial among the live ones (Ray 2.60), so a trial that errors short of
the point holds the others paused forever (`run_study` would hang). Here a finished trial
never holds the point; and when nothing runs and no trial may start, the scheduler re-reads a
paused trial's last result, which synchronises the trials left.
"""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import PopulationBasedTraining
from ray.tune.schedulers.pb2 import PB2
from ray.tune.utils import flatten_dict

__all__ = ["PBTScheduler", "PB2Scheduler"]


class _ResyncAfterError(PopulationBasedTraining):
    def __init__(self, *args: Any, last_step: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_step = last_step

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        if self._last_step is not None and result.get(self._time_attr, 0) >= self._last_step:
            # The budget's last step is no perturbation point (where it is a multiple of the
            # interval, Tune's PBT would replace a finished trial's weights with its donor's
            # and restart it to train nothing): its score counts, the trial ends as it is.
            if self._metric in result:
                self._save_trial_state(self._trial_state[trial], result[self._time_attr],
                                       result, trial)
            return self.CONTINUE
        if self._synch:
            for t in tune_controller.get_live_trials():
                if t.is_finished() and t in self._trial_state:
                    state = self._trial_state[t]
                    state.last_train_time = max(state.last_train_time,
                                                self._next_perturbation_sync)
        return super().on_trial_result(tune_controller, trial, result)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        chosen = super().choose_trial_to_run(tune_controller)
        if chosen is not None or not self._synch:
            return chosen
        live = tune_controller.get_live_trials()
        if any(t.status == Trial.RUNNING for t in live):
            return None  # a result will arrive
        state = self._trial_state
        waiting = [t for t in live if t.status == Trial.PAUSED and t.last_result
                   and state[t].last_perturbation_time < state[t].last_train_time]
        if not waiting:
            return None
        trial = max(waiting, key=lambda t: state[t].last_train_time)
        self.on_trial_result(tune_controller, trial, flatten_dict(trial.last_result))
        return super().choose_trial_to_run(tune_controller)


class PBTScheduler(_ResyncAfterError):
    """Tune's PopulationBasedTraining."""


class PB2Scheduler(_ResyncAfterError, PB2):
    """Tune's PB2."""
