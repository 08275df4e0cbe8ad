#!/usr/bin/env bash
# Set up (first time) and run the test suite. Offline data copies: $STUDY_TEST_DATA_ROOT
# (default ../shared/datasets beside the repository).
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
ruff check .
# Two pytest workers: every Ray test file in one (one Ray instance), the rest beside it
# (tests/conftest.py, pytest_xdist_make_scheduler). `-n 0` runs in one process.
exec python -m pytest -n "${TEST_WORKERS:-2}" "$@"
