"""Shared fixtures: one torch thread per test (the CI box has 2 busy cores; OpenMP spinning
makes small blocked kernels ~50x slower under load), restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
