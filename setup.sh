#!/usr/bin/env bash
# Set up a fresh machine and run the main job.
#   ./setup.sh              install everything, then `invoke build-apk` on the default dataset
#   ./setup.sh --no-run     install only (CI uses this)
#   ./setup.sh TASK [ARGS]  install, then `invoke TASK ARGS` (e.g. ./setup.sh model --quick)
# Idempotent: re-running skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "error: Python 3.11 is required (found $("$PY" --version 2>&1)) - install python3.11 or set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.lock-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> installing pinned Python packages (requirements.lock)"
  .venv/bin/python -m pip install -q --upgrade "pip>=24" setuptools wheel
  # --no-deps: the lock is complete and tested; tfmot and mediapipe declare conflicting
  # absl-py pins that pip's resolver would refuse, though they work together.
  .venv/bin/python -m pip install -q --no-deps -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  rm -f .venv/.lock-*
  touch "$stamp"
fi

echo "==> Android build tools"
.venv/bin/invoke setup-android

# Fonts for the generated second dataset (pipeline/synthetic.py); optional: without them the
# glyphs are drawn with Pillow's built-in font.
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> fonts-dejavu-core (glyphs of the generated test dataset)"
    apt-get install -y -q --no-install-recommends fonts-dejavu-core \
      || echo "note: fonts-dejavu-core not installed; the generated dataset uses Pillow's font"
  else
    echo "note: no DejaVu fonts; for the generated test dataset run: sudo apt-get install fonts-dejavu-core"
  fi
fi

case "${1:-build-apk}" in
  --no-run) exit 0 ;;
  *) echo "==> invoke ${*:-build-apk}"; exec .venv/bin/invoke "${@:-build-apk}" ;;
esac
