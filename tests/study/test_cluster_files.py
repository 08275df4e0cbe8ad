"""Both cluster files validate against Ray's own cluster-config schema, offline."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-onprem.yaml"])
def test_cluster_file_validates(name):
    raw = yaml.safe_load((REPO / name).read_text())
    config = prepare_config(copy.deepcopy(raw))
    for node_type in config["available_node_types"].values():
        node_type.setdefault("resources", {})  # what `ray up` fills in from the provider
    validate_config(config)
    assert config["head_node_type"] in config["available_node_types"]


def test_schema_catches_a_broken_file():
    raw = yaml.safe_load((REPO / "cluster.yaml").read_text())
    raw["available_node_types"]["head"]["no_such_field"] = 1
    config = prepare_config(raw)
    with pytest.raises(jsonschema.ValidationError):
        validate_config(config)


def test_aws_file_keeps_trials_off_the_head_and_uses_spot_gpus():
    raw = yaml.safe_load((REPO / "cluster.yaml").read_text())
    nodes = raw["available_node_types"]
    assert nodes[raw["head_node_type"]]["resources"]["CPU"] == 0
    spot = nodes["gpu_spot"]
    assert spot["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert spot["min_workers"] == 0 and spot["resources"]["GPU"] >= 1


@pytest.mark.parametrize(("name", "store"), [("cluster.yaml", "postgresql://"),
                                             ("cluster-onprem.yaml", "sqlite:////mnt/studies/")])
def test_mlflow_store_outlives_the_head(name, store):
    """The tracking server's run store is a database or the shared file system, never the
    head's own disk: a replaced head must find the studies' runs again (`study resume`)."""
    raw = yaml.safe_load((REPO / name).read_text())
    server = " ".join(raw["head_setup_commands"])
    uri = server.split("--backend-store-uri ", 1)[1].split()[0]
    assert uri.startswith(store), uri
    artifacts = server.split("--artifacts-destination ", 1)[1].split()[0]
    assert artifacts.startswith(("s3://", "/mnt/studies/")), artifacts
    if store.startswith("postgresql"):
        assert "psycopg2" in " ".join(raw["setup_commands"])  # the driver MLflow needs
