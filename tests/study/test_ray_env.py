"""A study's Ray processes reach their own cluster through Ray's State API while another Ray
instance runs on the same machine (study.ray_env). Ray Train's placement-group cleaner, a
detached actor made by the Train controller, asks the State API whether its controller lives;
without the pinned address the call raised ("Found multiple active Ray instances"), the cleaner
stopped watching, and a stopped Train run's CPUs stayed reserved (a PBT test hung so)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import ray

pytestmark = pytest.mark.ray

# A second Ray instance in its own process, up until its stdin closes.
OTHER_RAY = (
    "import sys, ray\n"
    "ray.init(address='local', num_cpus=0, include_dashboard=False, logging_level='ERROR')\n"
    "print(ray.get_runtime_context().gcs_address, flush=True)\n"
    "sys.stdin.read()\n"
    "ray.shutdown()\n"
)


@ray.remote(num_cpus=0)
class Cleaner:
    """As Train's placement-group cleaner: asks the State API about another actor."""

    def look(self, actor_id: str) -> tuple[str | None, str | None]:
        from ray.util.state import get_actor

        state = get_actor(actor_id, timeout=30)
        return os.environ.get("RAY_ADDRESS"), state.state if state else None


@ray.remote(num_cpus=0)
class Controller:
    """As Train's controller: makes a detached cleaner that watches it."""

    def watched(self) -> tuple[str | None, str | None]:
        cleaner = Cleaner.options(lifetime="detached").remote()
        try:
            return ray.get(cleaner.look.remote(ray.get_runtime_context().get_actor_id()))
        finally:
            ray.kill(cleaner)


@pytest.fixture
def another_ray():
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-c", OTHER_RAY], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        yield proc.stdout.readline().strip()  # its GCS address, once it is up
    finally:
        proc.stdin.close()
        proc.wait(timeout=120)


def test_a_detached_actor_finds_its_own_cluster_beside_another_ray(ray_cluster, another_ray):
    assert another_ray and another_ray != ray_cluster
    controller = Controller.remote()
    try:
        address, state = ray.get(controller.watched.remote(), timeout=120)
    finally:
        ray.kill(controller)
    assert address == ray_cluster
    assert state == "ALIVE"
