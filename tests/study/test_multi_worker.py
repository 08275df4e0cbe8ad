"""A 2-worker Ray Train trial (gloo on CPU) trains, keeps ranks in sync and reports."""

from __future__ import annotations

import pytest
import torch

from study.runner import run_study
from tests.study.helpers import fresh_store, runs_of, toy_spec, write_spec
from trainables.checkpoint import STATE_FILE

pytestmark = pytest.mark.ray


def test_two_worker_trial_trains_and_reports(tmp_path, ray_cluster):
    spec = toy_spec("ddp", resources={"workers": 2, "cpus_per_worker": 1},
                    max_concurrent_trials=1)
    uri = fresh_store(tmp_path)
    outcome = run_study(write_spec(tmp_path, spec), storage=str(tmp_path / "runs"), tracking=uri)
    assert outcome.errors == 0
    row = outcome.table.iloc[0]
    assert row["step"] == 60 and row["reverse_kl"] >= 0
    _, children = runs_of(uri, "ddp")
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    # Both ranks wrote their RNG state into the one merged checkpoint folder.
    states = sorted((outcome.folder / "train").rglob(STATE_FILE))
    folder = states[-1].parent
    assert {p.name for p in folder.glob("rng_rank*.pt")} == {"rng_rank0.pt", "rng_rank1.pt"}
    r0 = torch.load(folder / "rng_rank0.pt", weights_only=True)["generator"]
    r1 = torch.load(folder / "rng_rank1.pt", weights_only=True)["generator"]
    assert not torch.equal(r0, r1), "ranks must draw different data"
