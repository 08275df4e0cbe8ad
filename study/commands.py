"""Subcommand implementations; user errors are raised as USER_ERRORS and shown without traces."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# (module, class) of the errors a user's input causes. Named, not imported: importing them would
# load torch and scikit-learn (evaluation, trainables) into `study ls` and `status`, whose start-up
# then took 5 s; an error whose module was never imported cannot have been raised.
USER_ERRORS = (("study.spec", "SpecError"), ("study.paths", "StudyNotFound"),
               ("study.paths", "StudyExists"), ("study.report.errors", "ReportError"),
               ("trainables.data", "DatasetError"), ("evaluation.errors", "FeatureExtractorError"),
               ("study.records", "TrackingError"))


def is_user_error(exc: BaseException) -> bool:
    """True for an error of the user's input (shown without a trace, exit 2)."""
    for module, name in USER_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(exc, cls):
            return True
    return False


def dispatch(args: argparse.Namespace) -> int:
    return {"run": cmd_run, "resume": cmd_resume, "status": cmd_status, "ls": cmd_ls,
            "validate": cmd_validate, "report": cmd_report, "compare": cmd_compare,
            "classifiers": cmd_classifiers, "sample": cmd_sample,
            "evaluate": cmd_evaluate, "describe": cmd_describe,
            "model": cmd_model}[args.command](args)


def cmd_model(args: argparse.Namespace) -> int:
    from study.export import ExportError, best_trial
    from study.paths import StudyRecord, find_study, storage_root
    from study.records import check_tracking
    from study.runner import run_ids

    folder = find_study(args.study, storage_root(args.storage))
    record = StudyRecord.load(folder)
    check_tracking(record, record.tracking_uri, "model")
    trial = args.trial or best_trial(folder)
    run = run_ids(record.tracking_uri, record.experiment_id, record.parent_run_id).get(trial)
    if run is None:
        raise ExportError(f"{folder.name}: no MLflow run of trial {trial!r}")
    print(f"trial {trial}: runs:/{run}/generator  (MLflow {record.tracking_uri})")
    print(f"  mlflow.pyfunc.load_model('runs:/{run}/generator')"
          f".unwrap_python_model().sample(1000, seed=0)")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from study.describe import describe
    from study.spec import SpecError, suggest
    from trainables.registry import METHODS

    if args.trainer not in METHODS:
        raise SpecError(f"unknown trainer {args.trainer!r}{suggest(args.trainer, METHODS)}; "
                        f"expected one of {sorted(METHODS)}")
    print(describe(args.trainer))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from study.runner import print_summary, run_study

    outcome = run_study(args.spec, args.storage, args.tracking_uri, args.address, args.data_root,
                        args.name, args.set)
    print_summary(outcome)
    if outcome.interrupted:
        return 130
    return 1 if outcome.errors and outcome.errors == len(outcome.table) else 0


def cmd_resume(args: argparse.Namespace) -> int:
    from study.runner import print_summary, resume_study

    outcome = resume_study(args.study, args.storage, args.address, args.retry_failed,
                           args.tracking_uri, args.rebuild_tracking)
    print_summary(outcome)
    return 130 if outcome.interrupted else 0


def cmd_validate(args: argparse.Namespace) -> int:
    import sys

    from study.spec import load_spec, spec_warnings

    spec = load_spec(args.spec, args.set)
    given = f"{args.spec}{' with --set ' + ' '.join(args.set) if args.set else ''}"
    print(f"{given}: valid study {spec.name!r} (trainer {spec.label}, hash {spec.digest()})")
    for line in spec_warnings(spec):
        print(f"warning: {line}", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from study.status import print_status

    return print_status(args.study, args.storage)


def cmd_ls(args: argparse.Namespace) -> int:
    from study.status import print_ls

    return print_ls(args.storage)


def cmd_report(args: argparse.Namespace) -> int:
    from study.report import write_report

    folder = write_report(args.study, args.storage, args.out)
    print(f"report: {folder / 'results.html'} (and results.md, trials.parquet, steps.parquet)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from study.report import ReportError, compare_studies

    if len(args.studies) < 2:
        raise ReportError("compare needs two or more studies")
    folder = compare_studies(args.studies, args.storage, args.out)
    print(f"comparison: {folder / 'compare.html'} (and compare.md)")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    from study.export import ExportError, overrides_from, trial_checkpoint, write_samples
    from study.paths import StudyRecord
    from trainables.checkpoint import read_meta
    from trainables.restore import RestoreError, restore

    if args.n < 1:
        raise ExportError(f"-n: expected at least 1, got {args.n}")
    folder, trial, ckpt = trial_checkpoint(args.study, args.storage, args.trial, args.best)
    record, meta = StudyRecord.load(folder), read_meta(ckpt) or {}
    trainer = _trainer_of(ckpt, meta)
    over = overrides_from(trainer, args.tau_infer, args.rejection)
    try:
        restored = restore(ckpt, args.device, over, args.data_root or record.data_root, args.seed)
    except RestoreError as exc:
        raise ExportError(str(exc)) from None
    out = Path(args.out)
    proto = write_samples(restored, args.n, out, args.per_condition, {
        "study": folder.name, "trial_id": trial, "checkpoint": str(ckpt),
        "weights_digest": meta.get("weights_digest"), "overrides": over,
        "stream": "evaluation (seed, step)" if args.seed is None else f"sample, seed {args.seed}"})
    print(f"{args.n} samples of trial {trial} (step {proto['step']}, {trainer}) → {out}")
    return 0


def _trainer_of(ckpt: Path, meta: dict) -> str:
    """From meta.json; checkpoints written before it named the trainer hold it in state.pt."""
    from trainables.checkpoint import read_state

    return str(meta.get("trainer") or read_state(ckpt)["config"]["trainer"])


def cmd_evaluate(args: argparse.Namespace) -> int:
    from study.paths import RESCORE_PREFIX
    from study.rescore import rescore

    added = rescore(args.study, args.storage, args.trial, args.samples, args.features,
                    args.split, args.seed, args.device, args.data_root)
    cols = [c for c in added.columns if c != "trial_id"]
    print(f"re-scored {len(added)} trial(s); {len(cols)} metrics under {RESCORE_PREFIX}/ in the "
          "results table and the trials' MLflow runs")
    if not added.empty:
        print(added.to_string(index=False, max_cols=8))
    return 0


def cmd_classifiers(args: argparse.Namespace) -> int:
    import json

    from evaluation.classifiers import available_classifiers, classifiers_dir

    if args.action == "ls":
        folder = classifiers_dir()
        for name in available_classifiers():
            meta = folder / f"{name}.json"
            acc = json.loads(meta.read_text()).get("test_accuracy") if meta.is_file() else None
            print(f"{name}\t" + (f"test accuracy {acc:.4f}" if acc is not None else "not trained"))
        return 0
    from study.reference_classifiers import train_classifier
    from trainables.data import DatasetError

    if args.name not in available_classifiers():
        raise DatasetError(f"unknown classifier {args.name!r}; expected one of "
                           f"{available_classifiers()}")
    meta = train_classifier(args.name, args.data_root, args.out, epochs=args.epochs,
                            seed=args.seed, time_budget_s=args.budget_s)
    print(f"{args.name}: test accuracy {meta['test_accuracy']:.4f} "
          f"(saved in {classifiers_dir(args.out)})")
    return 0
