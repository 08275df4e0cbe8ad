"""Several nodes on one machine (`ray.cluster_utils.Cluster`): trials spread over the worker
nodes, and when a node is removed mid-study its trial resumes from its last checkpoint on another
node; every trial finishes once, with one MLflow run each."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from study.runner import run_study
from tests.study.helpers import free_port, fresh_store, runs_of, toy_spec, wait_for, write_spec

pytestmark = [pytest.mark.ray, pytest.mark.own_cluster]


@pytest.fixture(scope="module")
def _node_cluster(_ray_session):
    """One multi-node cluster for this file's tests (each start costs a head and three raylets)."""
    import ray
    from ray.cluster_utils import Cluster

    from study.ray_env import init_ray

    ray.shutdown()  # the shared local Ray: these tests need a cluster of their own
    # The dashboard serves the State API; a free port, as 8265 may belong to another Ray here.
    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 0, "include_dashboard": True,
                                      "dashboard_port": free_port()})
    init_ray(cluster.address)  # as `study run --address` joins it
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture
def three_worker_nodes(_node_cluster):
    """Three live one-CPU worker nodes: the node an earlier test removed is replaced."""
    while len(_node_cluster.worker_nodes) < 3:
        _node_cluster.add_node(num_cpus=1)
    _node_cluster.wait_for_nodes()
    return _node_cluster, list(_node_cluster.worker_nodes)


def reports(study: Path) -> dict[str, list[dict]]:
    """Every trial's Tune results so far (trial id → reports in order)."""
    out: dict[str, list[dict]] = {}
    for path in (study / "tune").glob("*/result.json"):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            out[rows[0]["trial_id"]] = rows
    return out


@pytest.mark.parametrize("group", ["auto", "always"])  # in the trial's process; via Ray Train
def test_node_removed_mid_study_trials_resume_elsewhere(tmp_path, three_worker_nodes, group):
    cluster, nodes = three_worker_nodes
    spec = toy_spec("nodes", budget={"steps": 600}, eval_every=50, checkpoint_every=50,
                    resources={"train_worker_group": group},
                    max_concurrent_trials=2, max_failures=3,
                    search={"lr_g": {"type": "grid", "values": [1e-4, 2e-4]}})
    uri = fresh_store(tmp_path)
    study = tmp_path / "runs" / "nodes"
    outcome: list = []
    driver = threading.Thread(target=lambda: outcome.append(run_study(
        write_spec(tmp_path, spec), storage=str(tmp_path / "runs"), tracking=uri)))
    driver.start()

    # Both trials have reported (and checkpointed) at least once, each on its own node; the
    # third node is free for the trial whose node goes.
    wait_for(lambda: len(reports(study)) == 2, 300, "two trials reporting")
    placed = {tid: rows[-1]["node_id"] for tid, rows in reports(study).items()}
    assert len(set(placed.values())) == 2, f"trials did not spread over the nodes: {placed}"
    victim_trial, victim_node = next(iter(placed.items()))
    step_before = reports(study)[victim_trial][-1]["step"]
    cluster.remove_node(next(n for n in nodes if n.node_id == victim_node))

    driver.join(timeout=600)
    assert not driver.is_alive(), "study did not finish after the node was removed"
    result = outcome[0]
    assert result.errors == 0
    assert len(result.table) == 2 and (result.table["step"] == 600).all()

    rows = reports(study)[victim_trial]
    later = [r for r in rows if r["step"] > step_before]
    assert later and {r["node_id"] for r in later} - {victim_node}, "did not move to a live node"
    assert victim_node not in {r["node_id"] for r in later[-1:]}
    # Resumed from its checkpoint, not from scratch: its steps never go back.
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)), f"trial restarted instead of resuming: {steps}"

    _, children = runs_of(uri, "nodes")
    assert len(children) == 2, "a retried trial must reuse its MLflow run"
    assert {c.info.status for c in children} == {"FINISHED"}
