#!/usr/bin/env bash
# Set up (first time) and run the test suite. Offline data copies: $STUDY_TEST_DATA_ROOT
# (default ../shared/datasets beside the repository).
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
ruff check .
exec python -m pytest "$@"
