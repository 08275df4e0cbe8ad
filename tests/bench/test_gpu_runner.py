"""The GPU runner on the CPU with a tiny plan: prepare the carried folder, run the plan through
`bench/gpu/run.sh` as the GPU machine would, and read back what it packed into OUT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import torch
import yaml

from bench.gpu import prepare, rescore
from evaluation.classifiers import build_classifier, save_classifier

REPO = Path(__file__).resolve().parents[2]
TINY = {"network": "dcgan", "network_options": {"g_ch": 4, "d_ch": 4}, "latent_dim": 8,
        "batch_size": 8}
SETTING = ["baseline_gan", "stacked_mnist", {"n": 256}, TINY]


def tiny_plan() -> dict:
    return {
        "name": "cpu_tiny",
        "parallel": 2,
        "throughput": {"steps": 2, "repeats": 1, "trainers": {"baseline_gan": SETTING},
                       "sharing": {"setting": SETTING, "processes": [1, 2], "seconds": 0.5}},
        "defaults": {"dataset": {"name": "stacked_mnist", "options": {"n": 256}}, "steps": 4,
                     "eval_every": 2, "eval_samples": 64, "final_samples": 300,
                     "final_prdc_samples": 100, "method": TINY},
        "runs": [{"name": "tiny_baseline", "trainer": "baseline_gan", "seed": 1},
                 # A setting the trainer does not take: the run fails, the plan goes on.
                 {"name": "tiny_broken", "trainer": "baseline_gan", "method": {"k": 3}}],
    }


def test_runner_trains_scores_and_packs_each_run(tmp_path, shared_datasets, monkeypatch):
    # An untrained MNIST classifier stands in for the reference: the scoring path runs in full;
    # its readings are not asserted.
    clf = tmp_path / "classifiers"
    save_classifier(build_classifier("mnist"), "mnist", clf, {"test_accuracy": 0.0})
    carry = tmp_path / "carry"
    assert prepare.main(["--data-root", str(shared_datasets), "--classifiers", str(clf),
                         "--no-wheels", "--carry", str(carry)]) == 0
    assert (carry / "data/mnist/train-images-idx3-ubyte.gz").is_file()
    assert (carry / "classifiers/mnist.pt").is_file()
    assert (carry / "commit.txt").read_text().startswith("commit ")

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(tiny_plan()))
    out = tmp_path / "out"
    env = os.environ | {"OUT": str(out), "GPU_CARRY": str(carry), "GPU_WORK": str(tmp_path / "w"),
                        "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}
    done = subprocess.run(["bash", "bench/gpu/run.sh", str(plan)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr  # one run of the two failed
    assert "1 runs finished, 1 failed ['tiny_broken']" in done.stdout

    records = {r["run"]["name"]: r for r in map(json.loads, (out / "results.jsonl").open())}
    assert set(records) == {"tiny_baseline", "tiny_broken"}
    broken = records["tiny_broken"]
    assert not broken["ok"] and "k" in broken["error"] and broken["reports"] == []
    ok = records["tiny_baseline"]
    assert ok["ok"] and [r["step"] for r in ok["reports"]] == [2, 4]
    final = ok["final"]
    assert final["step"] == 4 and final["n_samples"] == 300 and final["n_prdc"] == 100
    assert 1 <= final["final/modes_covered"] <= 300
    assert 0.0 <= final["final/confident_frac"] <= 1.0
    assert 0.0 <= final["final/between_frac"] <= 1.0 - final["final/confident_frac"]
    assert final["protocol"]["n_fake_prdc"] == 100 and final["protocol"]["n_fake"] == 300
    assert all(0 <= r["confident_frac"] <= 1 for r in ok["reports"])

    progress = [json.loads(line) for line in (out / "progress.jsonl").open()]
    assert [(p["run"], p["step"]) for p in progress] == [("tiny_baseline", 2),
                                                          ("tiny_baseline", 4)]
    assert progress[-1]["fid"] == ok["reports"][-1]["fid"] and progress[-1]["wall_s"] > 0

    with tarfile.open(out / "figures.tar") as tar:
        names = tar.getnames()
    assert "tiny_baseline/samples_step0000004.png" in names
    assert "tiny_baseline/protocol.json" in names
    with tarfile.open(out / "generators.tar") as tar:
        tar.extractall(tmp_path / "g", filter="data")
    g = torch.load(tmp_path / "g/tiny_baseline/g_final.pt", weights_only=True)
    assert g and all(v.dtype in (torch.float16, torch.int64) for v in g.values())

    table = json.loads((out / "throughput.json").read_text())
    row = table["trainers"]["baseline_gan"]
    assert row["trainer_img_s"] > 0 and row["bare_img_s"] > 0
    assert set(table["sharing"]) == {"1", "2"}
    assert all(p["steps"] >= 1 for s in table["sharing"].values() for p in s["per_process"])
    log = (out / "runner.log").read_text()
    assert "tiny_baseline: done" in log and "tiny_broken: FAILED" in log

    # Scored again from the kept checkpoints: the last one reproduces the final scores.
    monkeypatch.setenv("STUDY_CLASSIFIERS_DIR", str(carry / "classifiers"))
    again = tmp_path / "rescored.jsonl"
    assert rescore.main([str(tmp_path / "w/work/tiny_baseline"), "--samples", "300",
                         "--prdc-samples", "100", "--data-root", str(carry / "data"),
                         "--out", str(again)]) == 0
    rows = [json.loads(line) for line in again.open()]
    assert [r["step"] for r in rows] == [2, 4]
    assert {k: v for k, v in rows[-1].items() if k.startswith("final/")} == \
        {k: v for k, v in final.items() if k.startswith("final/")}
    assert rescore.main([str(tmp_path / "w/work/tiny_broken")]) == 2  # no checkpoint: refused


def test_a_bad_plan_is_refused_with_the_field_named(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"runs": [{"name": "a", "trainer": "baseline_gan",
                                              "dataset": {"name": "grid"}, "stepz": 3}]}))
    done = subprocess.run([sys.executable, "-m", "bench.gpu.runner", str(plan), "--out",
                           str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "runs[0]: unknown field(s) ['stepz']" in done.stderr
    assert not (tmp_path / "out").exists()
