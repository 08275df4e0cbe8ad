"""Tune's experiment state read back: the trials a study's folder records, without Ray."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from study.paths import TUNE_DIR


def trial_states(folder: Path) -> list[dict[str, Any]]:
    """Trials recorded in the newest Tune experiment state: id, status, config, last result."""
    states = sorted((folder / TUNE_DIR).glob("experiment_state-*.json"))
    if not states:
        return []
    data = json.loads(states[-1].read_text())
    out = []
    for item in data.get("trial_data", []):
        trial_json = json.loads(item[0]) if isinstance(item, list) else item
        runtime = json.loads(item[1]) if isinstance(item, list) and len(item) > 1 else {}
        out.append({
            "trial_id": trial_json.get("trial_id"),
            "status": trial_json.get("status"),
            "config": _decode(trial_json.get("config", {})),
            "last_result": runtime.get("last_result", {}) if isinstance(runtime, dict) else {},
        })
    return out


def _decode(value: Any) -> Any:
    # Tune stores configs as cloudpickled hex for safety; show only plain JSON configs.
    return value if isinstance(value, dict) else {}
