# Sourced by run_app.sh and test.sh: make .venv and install the given requirements file once
# (re-installs only when the file changes). Python 3.11 is expected; PYTHON overrides it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
ensure_venv() {
  local req="$1"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(basename "$req")"
  local want
  want="$(cat "$req" requirements.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "== installing $req into .venv (first time: a minute or two)" >&2
    # requirements.txt pins torch's CPU wheel by URL for Community Cloud; here the same pins with a plain
    # torch==VERSION (that index is unreachable here; a GPU box gets PyPI's CUDA build).
    local resolved="$VENV/.requirements-local-$(basename "$req")"
    "$VENV/bin/python" scripts/local_requirements.py "$req" > "$resolved"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$resolved"
    echo "$want" > "$stamp"
  fi
}
