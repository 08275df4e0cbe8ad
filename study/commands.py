"""Subcommand implementations; user errors are raised as USER_ERRORS and shown without traces."""

from __future__ import annotations

import argparse

from study.paths import StudyExists, StudyNotFound
from study.report.errors import ReportError
from study.spec import SpecError

USER_ERRORS = (SpecError, StudyNotFound, StudyExists, ReportError)


def dispatch(args: argparse.Namespace) -> int:
    return {"run": cmd_run, "resume": cmd_resume, "status": cmd_status, "ls": cmd_ls,
            "validate": cmd_validate, "report": cmd_report,
            "compare": cmd_compare}[args.command](args)


def cmd_run(args: argparse.Namespace) -> int:
    from study.runner import print_summary, run_study

    outcome = run_study(args.spec, args.storage, args.tracking_uri, args.address, args.data_root,
                        args.name)
    print_summary(outcome)
    return 1 if outcome.errors and outcome.errors == len(outcome.table) else 0


def cmd_resume(args: argparse.Namespace) -> int:
    from study.runner import print_summary, resume_study

    outcome = resume_study(args.study, args.storage, args.address)
    print_summary(outcome)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from study.spec import load_spec

    spec = load_spec(args.spec)
    print(f"{args.spec}: valid study {spec.name!r} (trainer {spec.trainer}, hash {spec.digest()})")
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
