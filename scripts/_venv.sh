# Sourced by the entry scripts: make ./.venv and install the project (with test extras) once.
# Re-installs only when pyproject.toml changes (a stamp holds its hash).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing the project and its dependencies into .venv (first run: several minutes)"
  # pip's output goes to a log, shown only if the install fails.
  if ! .venv/bin/python -m pip install --quiet -e ".[test]" > .venv/pip-install.log 2>&1; then
    tail -n 60 .venv/pip-install.log
    echo "install failed: full log in .venv/pip-install.log" >&2
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
