"""The per-trial driver: a Tune function trainable that runs one Ray Train `TorchTrainer`.

Ray Train V2: the Tune trial launches the Train run; metrics come back through
`TuneReportCallback`. The Train run is named after the trial, so a resumed trial continues from
the Train run's own latest checkpoint instead of starting again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import train, tune
from ray.train.torch import TorchConfig, TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from trainables.loop import LoopConfig, ray_train_worker

SEED_KEY = "seed"
REPEAT_INDEX = "__trial_index__"
DATASET_PREFIX = "dataset."  # set by tune.search.Repeater when seeds repeat an Optuna point


class TrialFailed(RuntimeError):
    """The Train run failed; the message is the root cause (what MLflow records)."""


@dataclass
class TrialPlan:
    """What every trial of a study shares (passed with tune.with_parameters, not in config)."""

    study: str
    study_dir: str
    trainer: str
    dataset: dict[str, Any]
    fixed: dict[str, Any]
    seeds: list[int]
    steps: int
    eval_every: int
    checkpoint_every: int
    eval_samples: int
    eval_features: str = "auto"
    time_s: float | None = None
    data_root: str | None = None
    workers: int = 1
    cpus_per_worker: float = 1
    gpus_per_worker: float = 0
    max_failures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def loop_config(self, config: dict[str, Any], trial_id: str) -> LoopConfig:
        hparams = {k: v for k, v in config.items() if k != SEED_KEY and not k.startswith("__")}
        # `dataset.<option>` parameters sweep the data set itself (e.g. the number of modes).
        data_opts = {k.removeprefix(DATASET_PREFIX): hparams.pop(k) for k in list(hparams)
                     if k.startswith(DATASET_PREFIX)}
        dataset = self.dataset | {"options": self.dataset.get("options", {}) | data_opts}
        if SEED_KEY in config:
            seed = int(config[SEED_KEY])
        else:
            seed = self.seeds[int(config.get(REPEAT_INDEX, 0)) % len(self.seeds)]
        return LoopConfig(
            trainer=self.trainer, method=self.fixed | hparams, dataset=dataset,
            data_root=self.data_root, seed=seed, steps=self.steps, time_s=self.time_s,
            eval_every=self.eval_every, checkpoint_every=self.checkpoint_every,
            eval_samples=self.eval_samples, eval_features=self.eval_features,
            artifact_dir=str(Path(self.study_dir) / "artifacts" / trial_id),
            threads=max(1, int(self.cpus_per_worker)),
        )

    def trainer_for(self, loop: LoopConfig, run_name: str) -> TorchTrainer:
        use_gpu = self.gpus_per_worker > 0
        resources = {"CPU": self.cpus_per_worker}
        if use_gpu:
            resources["GPU"] = self.gpus_per_worker
        return TorchTrainer(
            ray_train_worker,
            train_loop_config=loop.model_dump(),
            scaling_config=train.ScalingConfig(
                num_workers=self.workers, use_gpu=use_gpu, resources_per_worker=resources
            ),
            torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
            run_config=train.RunConfig(
                name=run_name,
                storage_path=str(Path(self.study_dir) / "train"),
                callbacks=[TuneReportCallback()],
                failure_config=train.FailureConfig(max_failures=self.max_failures),
                checkpoint_config=train.CheckpointConfig(num_to_keep=2),
            ),
        )


def run_trial(config: dict[str, Any], plan: TrialPlan) -> None:
    trial_id = tune.get_context().get_trial_id()
    loop = plan.loop_config(config, trial_id)
    try:
        plan.trainer_for(loop, run_name=trial_id).fit()
    except Exception as exc:  # Train wraps worker errors; keep the root cause readable
        raise TrialFailed(root_cause(exc)) from None


def root_cause(exc: BaseException) -> str:
    """The innermost meaningful message of a (possibly wrapped, remote) exception."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    text = "\n".join(str(e) for e in seen)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error:" in ln or "Exception:" in ln]
    return (errors[-1] if errors else (lines[-1] if lines else type(exc).__name__))[:2000]
