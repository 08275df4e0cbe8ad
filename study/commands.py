"""Subcommand implementations; user errors are raised as USER_ERRORS and shown without traces."""

from __future__ import annotations

import argparse

from study.paths import StudyNotFound
from study.runner import StudyExists
from study.spec import SpecError

USER_ERRORS = (SpecError, StudyNotFound, StudyExists)


def dispatch(args: argparse.Namespace) -> int:
    return {"run": cmd_run, "resume": cmd_resume, "status": cmd_status, "ls": cmd_ls,
            "validate": cmd_validate}[args.command](args)


def cmd_run(args: argparse.Namespace) -> int:
    from study.runner import print_summary, run_study

    outcome = run_study(args.spec, args.storage, args.tracking_uri, args.address, args.data_root)
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
