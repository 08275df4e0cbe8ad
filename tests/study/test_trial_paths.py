"""A 1-worker trial trains in the Tune trial's own process (no Ray Train worker group) and ends
with the same weights as the same trial run through Ray Train's TorchTrainer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ray.util.state import list_actors

from study.runner import run_study
from tests.study.helpers import fresh_store, runs_of, toy_spec, write_spec
from trainables.checkpoint import META_FILE, STATE_FILE

pytestmark = pytest.mark.ray


def _train_workers(address: str) -> int:
    """Ray Train worker actors this cluster has ever started (dead ones included)."""
    return len(list_actors(address, filters=[("class_name", "=", "RayTrainWorker")],
                           limit=10_000, raise_on_missing_output=False))


def _final_digests(folder: Path, step: int) -> set[str]:
    metas = [json.loads(p.read_text()) for p in folder.rglob(META_FILE)]
    return {m["weights_digest"] for m in metas if m["step"] == step}


@pytest.mark.train_group
def test_one_worker_trial_skips_train_and_matches_its_weights(tmp_path, ray_cluster):
    uri = fresh_store(tmp_path)
    before = _train_workers(ray_cluster)
    direct = run_study(write_spec(tmp_path, toy_spec("inproc")), storage=str(tmp_path / "runs"),
                       tracking=uri)
    assert direct.errors == 0
    assert _train_workers(ray_cluster) == before, "a 1-worker trial started a Train worker group"
    assert not (direct.folder / "train").exists()
    # Each checkpoint is stored once (by Tune), not once by Train and again by Tune.
    states = list(direct.folder.rglob(STATE_FILE))
    steps = [json.loads((p.parent / META_FILE).read_text())["step"] for p in states]
    assert sorted(steps) == [30, 60]
    _, children = runs_of(uri, "inproc")
    assert [c.info.status for c in children] == ["FINISHED"]
    assert children[0].data.metrics["reverse_kl"] >= 0

    via_train = run_study(
        write_spec(tmp_path, toy_spec("viatrain", resources={"train_worker_group": "always"})),
        storage=str(tmp_path / "runs"), tracking=uri)
    assert via_train.errors == 0
    assert _train_workers(ray_cluster) == before + 1
    digest = _final_digests(direct.folder, 60)
    assert len(digest) == 1 and digest == _final_digests(via_train.folder, 60)
    cols = ["step", "reverse_kl", "modes", "high_quality_pct"]
    assert direct.table[cols].equals(via_train.table[cols])
