#!/usr/bin/env bash
# Set up (first time), run the quickstart study on a local Ray with MLflow in ./mlflow.db, and
# write its report. Each run is a new study (quickstart-<time>), so runs can be compared.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
name="quickstart-$(date +%Y%m%d-%H%M%S)"
study run search_spaces/quickstart.yaml --name "$name" "$@"
study report "$name"
