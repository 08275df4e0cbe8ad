"""Fixtures for the data-set and reference-classifier tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: trains a reference classifier (minutes on 2 cores)")


@pytest.fixture(scope="session")
def shared_data_root() -> Path:
    """The offline data copies: $STUDY_TEST_DATA_ROOT, else ../shared/datasets beside the repo."""
    env = os.environ.get("STUDY_TEST_DATA_ROOT")
    root = Path(env) if env else Path(__file__).parents[3] / "shared" / "datasets"
    if not (root / "mnist").is_dir():
        pytest.skip(f"offline data copies not found in {root} (set STUDY_TEST_DATA_ROOT)")
    return root
