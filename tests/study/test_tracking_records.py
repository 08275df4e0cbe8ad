"""A study's MLflow records against its folder, without Ray: a lost store, another store and a
moved one are told apart before anything runs (exit 2, no traceback, the URIs named), and a
rebuild makes the records anew where the study looks (the Ray scenario — kill, store lost,
refusal, rebuild, every trial finished — is in test_resume_after_kill.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from study import records
from study.cli import main
from study.paths import StudyRecord
from study.runner import _static_params
from study.spec import load_spec
from tests.study.helpers import fresh_store, runs_of, toy_spec, write_spec

CREATE = """
import sys
from study.runner import _new_study, create_study
spec, folder = _new_study(sys.argv[1], sys.argv[2], None)
create_study(spec, folder, sys.argv[1], sys.argv[3])
"""


@pytest.fixture
def study(tmp_path, monkeypatch):
    """A created study (folder, study.json, MLflow parent run) that has not run. Made in another
    process: this one must not hold the sqlite store open when a test takes it away (MLflow
    keeps one engine per URI, which would go on reading the moved file)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = write_spec(tmp_path, toy_spec("ledger"))
    uri = fresh_store(tmp_path)
    subprocess.run([sys.executable, "-c", CREATE, str(path), str(tmp_path / "runs"), uri],
                   check=True, capture_output=True, timeout=120)
    return load_spec(path), tmp_path / "runs" / "ledger", uri


def test_lost_store_refuses_resume_and_status_naming_the_way_on(study, tmp_path, capsys):
    spec, folder, uri = study
    (tmp_path / "mlflow.db").rename(tmp_path / "gone.db")
    storage = str(folder.parent)
    assert main(["resume", "ledger", "--storage", storage]) == 2
    err = capsys.readouterr().err
    assert "error: study ledger: the MLflow store it was created with, " + uri in err
    assert "no experiment 'ledger'" in err and "study resume ledger --rebuild-tracking" in err
    assert "Traceback" not in err
    assert main(["status", "ledger", "--storage", storage]) == 2
    out = capsys.readouterr().out
    assert "ledger: " in out and "no experiment 'ledger'" in out
    assert json.loads((folder / "study.json").read_text())["tracking_uri"] == uri  # untouched
    assert not (tmp_path / "mlflow.db").exists()  # the check made no empty store there


def test_another_store_is_refused_unless_it_holds_the_study(study, tmp_path, capsys,
                                                           monkeypatch):
    spec, folder, uri = study
    storage = str(folder.parent)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["resume", "ledger", "--storage", storage, "--tracking-uri", other]) == 2
    err = capsys.readouterr().err
    assert f"the MLflow store in use, {other}, is not the study's" in err
    assert f"created with {uri}" in err and f"--rebuild-tracking --tracking-uri {other}" in err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)  # a shell pointed elsewhere: the same
    assert main(["resume", "ledger", "--storage", storage]) == 2
    assert "is not the study's" in capsys.readouterr().err

    # The same store at another address (moved): accepted, and the record follows it.
    shutil.copyfile(tmp_path / "mlflow.db", tmp_path / "moved.db")
    record = StudyRecord.load(folder)
    moved_uri = f"sqlite:///{tmp_path / 'moved.db'}"
    records.check_tracking(record, moved_uri)
    after = records.moved(folder, record, moved_uri)
    assert StudyRecord.load(folder).tracking_uri == moved_uri == after.tracking_uri
    assert after.tracking_history[-1]["tracking_uri"] == uri
    assert after.tracking_history[-1]["how"] == "moved"


def test_rebuild_makes_the_records_anew_and_keeps_the_old_ids(study, tmp_path):
    spec, folder, uri = study
    old = StudyRecord.load(folder)
    (tmp_path / "mlflow.db").unlink()
    with pytest.raises(records.TrackingError):
        records.check_tracking(old, uri)
    new, lines = records.rebuild(folder, old, _static_params(spec), (), [0], uri)
    assert lines == []  # no trial had started
    records.check_tracking(new, uri)  # passes now
    assert StudyRecord.load(folder) == new
    assert new.tracking_history == [old.tracking_history[0] if old.tracking_history else
                                    new.tracking_history[0]]
    assert new.tracking_history[0]["parent_run_id"] == old.parent_run_id
    assert new.tracking_history[0]["how"] == "rebuilt"
    parent, children = runs_of(uri, "ledger")
    assert parent.info.run_id == new.parent_run_id and children == []
    assert json.loads(parent.data.tags["study.rebuilt_from"])["parent_run_id"] == \
        old.parent_run_id
    assert MlflowClient(uri).list_artifacts(parent.info.run_id)[0].path == "spec.yaml"
