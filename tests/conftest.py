"""Session-wide fixtures: one real Ray instance for the whole test session, data roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """Offline data copies: $STUDY_TEST_DATA_ROOT, else ../shared/datasets beside the repo."""
    root = Path(os.environ.get("STUDY_TEST_DATA_ROOT", REPO.parent / "shared" / "datasets"))
    if not root.is_dir():
        pytest.fail(f"offline data sets not found at {root}: set STUDY_TEST_DATA_ROOT")
    return root


@pytest.fixture(scope="session")
def _ray_session():
    """Stops the test session's local Ray at the end (whoever started it last)."""
    yield
    import ray

    ray.shutdown()


@pytest.fixture
def ray_cluster(_ray_session):
    """A real local Ray shared by the tests: started once, again only after a test that needed
    a cluster of its own (multi-node) shut it down. Subprocess drivers join it by address."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, logging_level="WARNING",
                 log_to_driver=False)
    return ray.get_runtime_context().gcs_address
