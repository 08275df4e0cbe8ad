"""`study status` and `study ls`: read the Tune experiment state and MLflow, no Ray needed."""

from __future__ import annotations

from collections import Counter

from study.driver import DEAD, FAILED, INTERRUPTED, liveness
from study.paths import SPEC_COPY, StudyRecord, find_study, list_studies, storage_root
from study.spec import load_spec, total_trials
from study.tune_state import trial_states


def print_status(name: str | None, storage: str | None) -> int:
    """Each study's state; 2 when a study's MLflow records are not in its store (said)."""
    from study.records import TrackingError, check_tracking

    root = storage_root(storage)
    lost = 0
    names = [name] if name else list_studies(root)
    if not names:
        print(f"no studies under {root}")
        return 0
    for n in names:
        folder = find_study(n, root)
        record = StudyRecord.load(folder)
        spec = load_spec(folder / SPEC_COPY)
        trials = trial_states(folder)
        state, reason = liveness(folder)
        if state != "running":  # Tune's state says running for trials a dead driver left
            for t in trials:
                if t["status"] not in ("TERMINATED", "ERROR"):
                    t["status"] = "INTERRUPTED"
        counts = Counter(t["status"] for t in trials)
        summary = ", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items())) or "not started"
        total = total_trials(spec)
        print(f"{record.name}: {state}, {len(trials)} of {total} trials ({summary})  "
              f"folder {folder}")
        if state in (INTERRUPTED, DEAD, FAILED) and reason:
            print(f"  {reason}")
        if state in (INTERRUPTED, DEAD) and "study resume" not in (reason or ""):
            print(f"  continue it with `study resume {record.name}`")
        ids = _run_ids(record)
        metric, mode = spec.tune_metric, spec.modes[0]  # `objective` under constraints
        scored = [t for t in trials if isinstance(t["last_result"].get(metric), int | float)]
        if scored:
            pick = min if mode == "min" else max
            best = pick(scored, key=lambda t: t["last_result"][metric])
            print(f"  best so far: {metric}={best['last_result'][metric]:.4g} "
                  f"(trial {best['trial_id']}, step {best['last_result'].get('step')}, MLflow run "
                  f"{ids.get(best['trial_id'], '?')})")
        for t in trials:
            if t["status"] not in ("TERMINATED",):
                step = t["last_result"].get("step")
                at = f" at step {step} of {spec.budget.steps}" if step is not None else ""
                print(f"  {t['trial_id']} {t['status']}{at} (MLflow run "
                      f"{ids.get(t['trial_id'], '?')})")
        print(f"  MLflow: {record.tracking_uri} (experiment {record.name})")
        try:
            check_tracking(record, record.tracking_uri, "resume")
        except TrackingError as exc:
            lost += 1
            print("  " + str(exc).replace("\n", "\n  "))
    return 2 if lost else 0


def _run_ids(record: StudyRecord) -> dict[str, str]:
    """Trial id → MLflow run id; empty when the store cannot be read (status still prints)."""
    from study.records import present

    if not present(record, record.tracking_uri):
        return {}
    from study.runner import run_ids

    return run_ids(record.tracking_uri, record.experiment_id, record.parent_run_id)


def print_ls(storage: str | None) -> int:
    root = storage_root(storage)
    names = list_studies(root)
    if not names:
        print(f"no studies under {root}")
        return 0
    for n in names:
        record = StudyRecord.load(root / n)
        state, _ = liveness(root / n)
        print(f"{n}\t{state}\tcreated {record.created}\tspec {record.spec_hash}")
    return 0
