#!/usr/bin/env bash
# Set up (first time) and run the quickstart study on a local Ray with MLflow in ./mlflow.db.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
exec study run search_spaces/quickstart.yaml "$@"
