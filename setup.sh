#!/usr/bin/env bash
# Set up a fresh machine and run the main job.
#   ./setup.sh              install everything, then `invoke build-apk` on the default dataset
#   ./setup.sh --no-run     install only (CI uses this)
#   ./setup.sh TASK [ARGS]  install, then `invoke TASK ARGS` (e.g. ./setup.sh model --quick)
# Idempotent: re-running skips what is already installed. Linux and macOS; the Android step
# installs Debian packages only on Debian/Ubuntu as root (elsewhere it uses $ANDROID_HOME).
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
stamp=.venv/.lock-$("$PY" -c 'import hashlib, sys; h = hashlib.sha256()
for f in sys.argv[1:]: h.update(open(f, "rb").read())
print(h.hexdigest()[:16])' requirements.lock pyproject.toml setup.sh)
if [ ! -f "$stamp" ]; then
  # uv installs the hashed lock, then the project with its extras, resolving with the one
  # override pyproject.toml's [tool.uv] declares (tfmot's absl-py pin; see the comment there).
  # `pip install -e ".[dev]"` works too, without MediaPipe (the cross-check is then skipped).
  echo "==> installing the locked Python packages (requirements.lock, with hashes)"
  .venv/bin/python -m pip install -q "uv==0.13.9"
  export VIRTUAL_ENV="$PWD/.venv"
  .venv/bin/uv pip install -q --require-hashes -r requirements.lock
  .venv/bin/uv pip install -q -e ".[dev,crosscheck]" -c requirements.lock
  rm -f .venv/.lock-*
  touch "$stamp"
fi

echo "==> Android build tools"
if ! .venv/bin/invoke setup-android; then
  echo "warning: no APK toolchain yet (see above); the Python half (invoke model) works without it" >&2
fi

echo "==> Chromium (the report's browser test)"
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "  found $(command -v chromium || command -v chromium-browser)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  echo "  installed $(command -v chromium)"
else
  echo "  not installed (tests/test_report_browser.py will skip): apt-get install chromium, or put Chromium on PATH"
fi

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
