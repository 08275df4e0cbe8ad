"""How a study starts or joins Ray: every worker process of its job knows its own cluster.

Ray's State API, called with no address inside a worker, looks for the machine's Ray instances
and raises when it finds two (a second study on the same laptop, a test session beside a
study). Ray Train's placement-group cleaner asks the State API whether its controller still
lives; that error kills its monitor thread, so the placement group of a Train run that stopped
(a PBT exploit, a failed or resumed trial) is never removed, and the next Train run waits for
the CPUs it holds until its start times out (seen: a PBT test hung this way beside a study).
"""

from __future__ import annotations

import os
from typing import Any

# Runs in every worker process of the job (detached actors its tasks create included).
RUNTIME_ENV = {"worker_process_setup_hook": "study.ray_env.pin_address"}


def pin_address() -> None:
    """Worker setup hook: RAY_ADDRESS is the worker's own cluster."""
    import ray

    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address


def init_ray(address: str | None = None, **kwargs: Any) -> None:
    """`ray.init` with the study's runtime environment (address None: start a local Ray)."""
    import ray

    ray.init(address=address, runtime_env=RUNTIME_ENV, **kwargs)
