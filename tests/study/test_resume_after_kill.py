"""A study whose driver is SIGKILLed mid-run completes with `study resume`, nothing twice: every
trial finishes once, one MLflow run each, and the Optuna study continues (more trials, none
repeated, none left running)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from study.driver import DEAD, INTERRUPTED, liveness
from study.runner import resume_study
from study.status import print_status
from study.tune_state import trial_states
from study.tuner import OPTUNA_JOURNAL
from tests.study.helpers import fresh_store, runs_of, toy_spec, wait_for, write_spec

pytestmark = pytest.mark.ray


@pytest.mark.parametrize(  # in the trial's process; via Ray Train
    "group", ["auto", pytest.param("always", marks=pytest.mark.train_group)])
def test_killed_driver_resumes_without_duplicates(tmp_path, ray_cluster, capsys, group):
    # One trial at a time: the kill leaves the first trial part-way and the second unsuggested.
    spec = toy_spec("killme", budget={"steps": 300}, eval_every=50, checkpoint_every=50,
                    resources={"train_worker_group": group}, max_concurrent_trials=1,
                    num_samples=2, searcher={"type": "optuna", "sampler": "tpe", "seed": 0},
                    search={"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3}})
    uri = fresh_store(tmp_path)
    storage = tmp_path / "runs"
    cmd = [sys.executable, "-m", "study.cli", "run", str(write_spec(tmp_path, spec)),
           "--storage", str(storage), "--tracking-uri", uri, "--address", ray_cluster]
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Kill once a trial has saved a checkpoint, so the resumed trial must continue from it.
        wait_for(lambda: any((storage / "killme").rglob("state.pt")), 300, "a first checkpoint")
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == -signal.SIGKILL
    assert liveness(storage / "killme")[0] == DEAD
    print_status("killme", str(storage))
    shown = capsys.readouterr().out
    assert "killme: dead" in shown and "continue it with `study resume killme`" in shown
    journal = JournalStorage(JournalFileBackend(str(storage / "killme" / OPTUNA_JOURNAL)))
    before = optuna.load_study(study_name="killme", storage=journal).trials
    assert len(before) == 1, "the kill should leave an Optuna trial still to suggest"

    outcome = resume_study("killme", storage=str(storage))
    assert outcome.errors == 0
    assert len(outcome.table) == 2
    after = optuna.load_study(study_name="killme", storage=journal).trials
    assert len(after) == 2 > len(before), "resume continues the same Optuna study"
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in after)
    assert len({t.params["lr_g"] for t in after}) == 2, "no suggestion repeated"
    assert [t.params for t in after[: len(before)]] == [t.params for t in before]
    assert (outcome.table["step"] == 300).all()
    assert {t["status"] for t in trial_states(outcome.folder)} == {"TERMINATED"}

    _, children = runs_of(uri, "killme")
    assert len(children) == 2, "a resumed trial must reuse its MLflow run"
    assert sorted(c.data.tags["trial_id"] for c in children) == sorted(outcome.table["trial_id"])
    client = MlflowClient(uri)
    for child in children:
        assert child.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "reverse_kl")]
        assert steps == sorted(set(steps)), f"metric steps logged twice: {steps}"
        assert steps[-1] == 300
    # No trial started over: each Train run's first report after resume came from a checkpoint.
    assert not list(Path(storage / "killme").glob("tune/*/error.txt"))


def test_sigterm_leaves_no_run_running_and_names_resume(tmp_path, ray_cluster, capsys):
    spec = toy_spec("termme", budget={"steps": 2000}, eval_every=50, checkpoint_every=50,
                    seeds=[0, 1], max_concurrent_trials=1)
    uri = fresh_store(tmp_path)
    storage = tmp_path / "runs"
    cmd = [sys.executable, "-m", "study.cli", "run", str(write_spec(tmp_path, spec)),
           "--storage", str(storage), "--tracking-uri", uri, "--address", ray_cluster]
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: any((storage / "termme").rglob("state.pt")), 300,
                 "a first checkpoint")
        assert liveness(storage / "termme")[0] == "running"
        driver.send_signal(signal.SIGTERM)
        out, _ = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, out
    assert "continue with `study resume termme`" in out
    assert "TensorBoard" not in out and "Configuration for experiment" not in out, out
    state, reason = liveness(storage / "termme")
    assert state == INTERRUPTED and "SIGTERM" in reason
    parent, children = runs_of(uri, "termme")
    assert parent.info.status == "KILLED" and "SIGTERM" in parent.data.tags["study.end_reason"]
    assert children and all(c.info.status != "RUNNING" for c in children)
    assert any(c.info.status == "KILLED" and "study resume termme" in
               c.data.tags.get("study.end_reason", "") for c in children)
    # The table says which trials the interrupt left, where, and each trial's MLflow run.
    table = pd.read_parquet(storage / "termme" / "results.parquet")
    assert set(table["status"]) <= {"TERMINATED", "INTERRUPTED"}
    assert "INTERRUPTED" in set(table["status"]), table
    assert (table.loc[table["status"] == "INTERRUPTED", "step"] < 2000).all()
    assert set(table["mlflow_run_id"]) <= {c.info.run_id for c in children}
    assert "INTERRUPTED" in out and "Tuner.restore" not in out
    assert out.count("study resume termme") == 1, out
    print_status("termme", str(storage))
    shown = capsys.readouterr().out
    assert "termme: interrupted" in shown and "of 2 trials" in shown
    assert shown.count("study resume termme") == 1, shown
    assert "INTERRUPTED at step" in shown and "(MLflow run " in shown


def _finished_trials(folder: Path, steps: int) -> int:
    """Trials whose result.json already holds their last step."""
    return sum(f'"step": {steps},' in p.read_text() for p in folder.glob("tune/*/result.json"))


def test_lost_store_is_refused_then_rebuilt_and_the_study_continues(tmp_path, ray_cluster):
    spec = toy_spec("lostdb", budget={"steps": 300}, eval_every=50, checkpoint_every=50,
                    seeds=[0, 1, 2], max_concurrent_trials=1)
    uri = fresh_store(tmp_path)
    storage = tmp_path / "runs"
    cli = [sys.executable, "-m", "study.cli"]
    driver = subprocess.Popen(
        [*cli, "run", str(write_spec(tmp_path, spec)), "--storage", str(storage),
         "--tracking-uri", uri, "--address", ray_cluster],
        stdout=open(tmp_path / "driver.log", "w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    folder = storage / "lostdb"
    try:  # killed with one trial finished and another one checkpointed
        wait_for(lambda: _finished_trials(folder, 300) >= 1
                 and len({p.parent.parent for p in folder.rglob("state.pt")}) >= 2, 300,
                 "a finished trial and a second one's checkpoint")
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    finished_before = _finished_trials(folder, 300)
    assert 1 <= finished_before < 3
    # (Not opened here before it goes: MLflow keeps one engine per URI in a process.)
    old_parent = json.loads((folder / "study.json").read_text())["parent_run_id"]
    (tmp_path / "mlflow.db").rename(tmp_path / "lost.db")  # the head node and its store: gone

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    refused = subprocess.run([*cli, "resume", "lostdb", "--storage", str(storage)], env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    assert uri in refused.stderr and "--rebuild-tracking" in refused.stderr
    assert "no experiment 'lostdb'" in refused.stderr
    assert not (tmp_path / "mlflow.db").exists() or runs_missing(uri)  # nothing half-made

    outcome = resume_study("lostdb", storage=str(storage), rebuild_tracking=True)
    assert outcome.errors == 0 and len(outcome.table) == 3
    assert (outcome.table["step"] == 300).all()
    parent, children = runs_of(uri, "lostdb")
    assert parent.info.run_id != old_parent and parent.info.status == "FINISHED"
    assert sorted(c.data.tags["trial_id"] for c in children) == sorted(outcome.table["trial_id"])
    client = MlflowClient(uri)
    for child in children:
        assert child.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "reverse_kl")]
        # Every report present once: the finished trials' replayed from their result.json,
        # the interrupted one's replayed then continued from its checkpoint.
        assert steps == list(range(50, 301, 50)), steps
    record = json.loads((folder / "study.json").read_text())
    assert record["parent_run_id"] == parent.info.run_id
    assert record["tracking_history"][0]["parent_run_id"] == old_parent


def runs_missing(uri: str) -> bool:
    return MlflowClient(uri).get_experiment_by_name("lostdb") is None
