"""Spec → Ray Tune objects: param space, searcher, scheduler, the wrapped trainable."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from ray import tune
from ray.tune.search import BasicVariantGenerator, Repeater

from study.population import PB2Scheduler, PBTScheduler
from study.spec import (
    Choice,
    IntRange,
    LogUniform,
    Param,
    StudySpec,
    Uniform,
    uses_repeater,
)
from study.trial import SEED_KEY, TRAINER_KEY, TrialPlan, run_trial

OPTUNA_JOURNAL = "optuna.journal"


def tune_domain(p: Param, grid_ok: bool = True) -> Any:
    if isinstance(p, LogUniform):
        return tune.loguniform(p.low, p.high)
    if isinstance(p, Uniform):
        return tune.uniform(p.low, p.high)
    if isinstance(p, IntRange):
        return (tune.lograndint if p.log else tune.randint)(p.low, p.high + 1)
    assert isinstance(p, Choice)
    if p.type == "grid" and grid_ok:
        return tune.grid_search(p.values)
    return tune.choice(p.values)


def param_space(spec: StudySpec) -> dict[str, Any]:
    grid = spec.searcher.type == "grid"
    space = {}
    for name, p in spec.search.items():
        if grid and isinstance(p, Choice):
            space[name] = tune.grid_search(p.values)
        else:
            space[name] = tune_domain(p)
    for name, p in spec.scheduler.mutations.items():
        # A mutated setting must be in the trial config (PBT perturbs config values): it starts
        # from a draw of its range (a setting both fixed and mutated is refused by the spec).
        if name not in space:
            space[name] = tune_domain(p, grid_ok=False)
    if spec.trainers:
        space[TRAINER_KEY] = tune.grid_search(spec.trainer_names)
    if not uses_repeater(spec):
        space[SEED_KEY] = tune.grid_search(spec.seeds)
    return space


def _variant_generator(spec: StudySpec) -> bool:
    return spec.searcher.type in ("grid", "random")


def tpe_options(spec: StudySpec) -> dict[str, Any]:
    """The spec's TPE options, those it sets only (Optuna's defaults otherwise)."""
    out: dict[str, Any] = {"multivariate": spec.searcher.multivariate}
    if spec.searcher.n_startup_trials is not None:
        out["n_startup_trials"] = spec.searcher.n_startup_trials
    return out


def searcher(spec: StudySpec, study_dir: Path) -> Any:
    if _variant_generator(spec):
        # Seeded: the same spec draws the same configurations (unseeded, every run differed).
        return BasicVariantGenerator(random_state=spec.searcher.seed,
                                     max_concurrent=spec.max_concurrent_trials)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from ray.tune.search.optuna import OptunaSearch

    seed = spec.searcher.seed
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed, **tpe_options(spec)),
        "nsga2": lambda: NSGAIISampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }
    multi = len(spec.metrics) > 1
    search = OptunaSearch(
        metric=spec.metrics if multi else spec.tune_metric,
        mode=spec.modes if multi else spec.modes[0],
        sampler=samplers[spec.searcher.sampler](),
        study_name=spec.name,
        # A journal file in the study folder: resume continues the same Optuna study and
        # optuna-dashboard can open it.
        storage=JournalStorage(JournalFileBackend(str(study_dir / OPTUNA_JOURNAL))),
    )
    # Each suggestion is trained once per seed; Optuna sees the mean over seeds.
    return SeedRepeater(search, repeat=len(spec.seeds), set_index=True)


class LockFreePickle:
    """Mixin for an Optuna sampler: its thread locks are left out when pickled and made anew
    when unpickled. Tune pickles the searcher into the study folder (for resume), and Optuna's
    genetic samplers hold a `threading.Lock` (NSGA-II since Optuna 5)."""

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if not isinstance(v, _LOCK_TYPES)}
        state[_LOCKS] = {k: isinstance(v, _RLOCK) for k, v in self.__dict__.items()
                         if isinstance(v, _LOCK_TYPES)}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        locks = state.pop(_LOCKS)
        self.__dict__.update(state)
        for name, reentrant in locks.items():
            setattr(self, name, threading.RLock() if reentrant else threading.Lock())


_RLOCK = type(threading.RLock())
_LOCK_TYPES = (type(threading.Lock()), _RLOCK)
_LOCKS = "__locks__"


class NSGAIISampler(LockFreePickle, optuna.samplers.NSGAIISampler):
    pass


class SeedRepeater(Repeater):
    """Ray's Repeater, also for several objectives (it assumes one metric): the searcher is told
    the mean over seeds of each objective once every seed of a suggestion has finished."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, **kwargs: Any) -> None:
        metrics = self.searcher.metric
        if not isinstance(metrics, list):
            return super().on_trial_complete(trial_id, result, **kwargs)
        group = self._trial_id_to_group[trial_id]
        group.report(trial_id, [(result or {}).get(m, np.nan) for m in metrics])
        if group.finished_reporting():
            means = np.nanmean(np.asarray(group.scores(), dtype=float), axis=0)
            self.searcher.on_trial_complete(
                group.primary_trial_id,
                result={m: float(v) for m, v in zip(metrics, means, strict=True)}, **kwargs)


def scheduler(spec: StudySpec) -> Any:
    s = spec.scheduler
    if s.type == "none":
        return None
    if s.type == "asha":
        return tune.schedulers.ASHAScheduler(
            time_attr="step", max_t=spec.budget.steps,
            grace_period=s.grace_period or spec.eval_every, reduction_factor=s.reduction_factor,
        )
    interval = s.perturbation_interval or spec.checkpoint_every
    common = {"time_attr": "step", "perturbation_interval": interval,
              "quantile_fraction": s.quantile_fraction, "log_config": True, "synch": s.synch,
              "last_step": spec.budget.steps}
    if s.type == "pbt":
        mutations = {k: tune_domain(p, grid_ok=False) for k, p in s.mutations.items()}
        return PBTScheduler(
            hyperparam_mutations=mutations, resample_probability=s.resample_probability,
            **common)
    bounds = {k: [p.low, p.high] for k, p in s.mutations.items()}  # continuous (validated)
    return PB2Scheduler(hyperparam_bounds=bounds, **common)


def max_concurrent_trials(spec: StudySpec) -> int | None:
    """TuneConfig's bound; None where the variant generator bounds the concurrency itself
    (Tune ignores max_concurrent_trials for a search_alg it is given)."""
    return None if _variant_generator(spec) else spec.max_concurrent_trials


def checkpoints_to_keep(spec: StudySpec) -> int | None:
    """Per Tune trial and per Train run. PBT/PB2 clone from donors' older checkpoints (for Ray
    Train trials Tune's checkpoint is Train's): deleting any races with an exploit
    ("checkpoint does not exist on storage anymore"), so they keep every one."""
    return None if spec.scheduler.type in ("pbt", "pb2") else spec.keep_checkpoints


def trial_plan(spec: StudySpec, study_dir: Path, data_root: str | None) -> TrialPlan:
    return TrialPlan(
        study=spec.name, study_dir=str(study_dir), trainer=spec.trainer_names[0],
        trainers=dict(spec.trainers),
        dataset=spec.dataset.model_dump(), fixed=dict(spec.fixed), seeds=list(spec.seeds),
        steps=spec.budget.steps, time_s=spec.budget.time_s, eval_every=spec.eval_every,
        checkpoint_every=spec.checkpoint_every, eval_samples=spec.eval_samples,
        eval_features=spec.eval_features, eval_split=spec.eval_split, data_root=data_root,
        workers=spec.resources.workers,
        in_process=spec.resources.in_process,
        cpus_per_worker=spec.resources.cpus_per_worker,
        gpus_per_worker=spec.resources.gpus_per_worker, max_failures=spec.max_failures,
        keep_checkpoints=checkpoints_to_keep(spec),
        int_params=[k for k, p in (spec.search | spec.scheduler.mutations).items()
                    if isinstance(p, IntRange)],
        objective={"metric": spec.metrics[0], "mode": spec.modes[0],
                   "constraints": {k: list(v) for k, v in spec.constraints.items()}}
        if spec.constraints else None,
    )


def trainable(plan: TrialPlan) -> Any:
    fn = tune.with_parameters(run_trial, plan=plan)
    if plan.in_process:  # the trial trains: it holds the worker's resources itself
        return tune.with_resources(fn, {"cpu": plan.cpus_per_worker, "gpu": plan.gpus_per_worker})
    # The trial function only launches and waits for its Train run: it holds no CPU, so the
    # Train workers get the cluster's CPUs and max_concurrent_trials bounds the concurrency.
    return tune.with_resources(fn, {"cpu": 0, "memory": 1})
