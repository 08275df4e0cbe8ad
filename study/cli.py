"""`study` command line: run, resume, status, ls (and the helpers for classifiers, reports)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from study.paths import STORAGE_ENV, TRACKING_ENV


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", help=f"storage root for studies (default ${STORAGE_ENV} "
                   "or ./study_runs); use shared storage (NFS/S3) on a cluster")


def _restore_options(p: argparse.ArgumentParser, seed_help: str) -> None:
    """What restoring a checkpoint takes (`study sample`, `study evaluate`), and --storage."""
    p.add_argument("--seed", type=int, help=seed_help)
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-root", help="offline data copies (default: the study's)")
    _common(p)


def _trial_choice(p: argparse.ArgumentParser) -> None:
    """A study and one of its trials: --trial ID, or --best (the default)."""
    p.add_argument("study", help="study name (under the storage root) or its folder")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--trial", help="trial id (see `study status`); default: --best")
    which.add_argument("--best", action="store_true", help="the trial best at the study's metric")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="study", description="GAN mode-coverage studies on Ray Tune + Ray Train + MLflow.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a study from a YAML spec")
    run.add_argument("spec", help="study spec, e.g. search_spaces/quickstart.yaml")
    _common(run)
    run.add_argument("--tracking-uri", help=f"MLflow tracking URI (default ${TRACKING_ENV} or "
                     "sqlite:///./mlflow.db)")
    run.add_argument("--address", help="Ray cluster address (default $RAY_ADDRESS, else a "
                     "local Ray)")
    run.add_argument("--name", help="run the spec under another study name (default: its own)")
    run.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                     help="override one spec field (dotted PATH, YAML VALUE), validated like "
                     "the file, e.g. --set budget.steps=500 --set fixed.lr_g=1e-3 "
                     "--set seeds=[0]; repeatable")
    run.add_argument("--data-root", help="folder with offline data set copies "
                     "(default $STUDY_DATA_ROOT)")

    resume = sub.add_parser("resume", help="continue an interrupted study")
    resume.add_argument("study", help="study name (under the storage root) or its folder")
    _common(resume)
    resume.add_argument("--address", help="Ray cluster address")
    resume.add_argument("--tracking-uri", help="MLflow tracking URI (default "
                        f"${TRACKING_ENV}, else the study's own, recorded in study.json); "
                        "another store than the study's is refused unless rebuilt")
    resume.add_argument("--rebuild-tracking", action="store_true",
                        help="the study's MLflow store was lost: make its experiment, parent "
                        "and trial runs anew in the store in use from the study folder, "
                        "then continue")
    resume.add_argument("--retry-failed", action="store_true",
                        help="also run the failed trials again, from their last checkpoint "
                             "(their MLflow runs continue)")

    status = sub.add_parser("status", help="trials by state and the best result so far")
    status.add_argument("study", nargs="?", help="one study (default: all)")
    _common(status)

    ls = sub.add_parser("ls", help="list studies")
    _common(ls)

    clf = sub.add_parser("classifiers", help="reference classifiers for mode counting and "
                         "classifier features")
    clf_sub = clf.add_subparsers(dest="action", required=True)
    clf_train = clf_sub.add_parser("train", help="train one and store it with its test accuracy")
    clf_train.add_argument("name", help="mnist | fashion_mnist | digits | cifar10")
    clf_train.add_argument("--data-root", help="offline data copies (default $STUDY_DATA_ROOT)")
    clf_train.add_argument("--out", help="folder (default $STUDY_CLASSIFIERS_DIR or "
                           "~/.cache/gan-mode-study/classifiers)")
    clf_train.add_argument("--epochs", type=int, help="override the recipe's epochs")
    clf_train.add_argument("--budget-s", type=float, help="CPU budget in seconds (CIFAR-10)")
    clf_train.add_argument("--seed", type=int, default=0)
    clf_sub.add_parser("ls", help="stored classifiers with their test accuracy")

    describe = sub.add_parser("describe", help="a trainer's settings (type, default, range, "
                              "meaning), what PBT may mutate, the metrics it reports")
    describe.add_argument("trainer", help="baseline_gan | selfcond_gan | pgmgan | simplicial | "
                          "nemgan")

    validate = sub.add_parser("validate", help="check a spec without running it")
    validate.add_argument("spec")
    validate.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                          help="override one spec field, as for `study run`")

    report = sub.add_parser("report", help="write a finished study's report: tables, plots, "
                            "Parquet (also logged to its MLflow parent run)")
    report.add_argument("study", help="study name (under the storage root) or its folder")
    report.add_argument("--out", help="report folder (default <study folder>/report)")
    _common(report)

    sample = sub.add_parser("sample", help="samples of a trial's last checkpoint (or the best "
                            "trial's), with the method's own sampling")
    _trial_choice(sample)
    sample.add_argument("-n", type=int, default=1000, help="samples (default 1000)")
    sample.add_argument("--out", required=True, help="folder for samples.npy (vectors) or "
                        "samples.npz + png/ (images), and protocol.json")
    sample.add_argument("--per-condition", action="store_true",
                        help="also n samples per partition / cluster / latent mode")
    sample.add_argument("--tau-infer", type=float, help="simplicial: the truncation τ to sample at")
    sample.add_argument("--rejection", action=argparse.BooleanOptionalAction,
                        help="pgmgan: accepted samples only (default: as the trial trained)")
    _restore_options(sample, "draw from stream (sample, SEED); default: the run's last "
                     "evaluation stream (its first eval_samples are what it scored)")

    model = sub.add_parser("model", help="the MLflow model URI of a trial's final generator "
                           "(runs:/<run id>/generator)")
    _trial_choice(model)
    _common(model)

    evaluate = sub.add_parser("evaluate", help="score checkpoints again under another protocol; "
                              "logged to the trials' MLflow runs and added to the results table")
    evaluate.add_argument("study", help="study name (under the storage root) or its folder")
    which = evaluate.add_mutually_exclusive_group()
    which.add_argument("--trial", action="append", help="trial id (repeatable)")
    which.add_argument("--all", action="store_true", help="every trial (the default)")
    evaluate.add_argument("--samples", type=int, help="generated samples (default: eval_samples)")
    evaluate.add_argument("--features", help="auto | raw | inception | classifier:<dataset> "
                          "(default: the study's eval_features)")
    evaluate.add_argument("--split", choices=["train", "test"], default="train",
                          help="real reference split (image data)")
    _restore_options(evaluate, "sample stream seed (default: the run's evaluation stream)")

    compare = sub.add_parser("compare", help="put finished studies' tables side by side")
    compare.add_argument("studies", nargs="+", metavar="STUDY", help="two or more studies")
    compare.add_argument("--out", help="folder (default <storage>/compare/A_vs_B)")
    _common(compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # MLflow announcing that it creates or updates its sqlite tables says nothing to a user.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    # Nor do its per-artifact download bars (a study reads its own runs back).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from study import commands

    try:
        return commands.dispatch(args)
    except Exception as exc:
        if not commands.is_user_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: continue with `study resume NAME`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
