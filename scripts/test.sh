#!/usr/bin/env bash
# Install what the tests need (first run only: Python packages, Debian's chromium) and run the whole suite,
# browser tests included: bash scripts/test.sh [pytest args]
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ensure_venv requirements-dev.txt
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "color emoji"; then
  echo "== installing Debian's chromium for the browser tests" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
fi
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$ROOT/.cache/inductor}"
exec "$VENV/bin/python" -m pytest "$@"
