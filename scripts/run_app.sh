#!/usr/bin/env bash
# Install what the app needs (first run only) and serve it: bash scripts/run_app.sh [streamlit args]
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ensure_venv requirements.txt
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$ROOT/.cache/inductor}"
exec "$VENV/bin/python" -m streamlit run app.py "$@"
