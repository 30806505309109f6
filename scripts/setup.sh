#!/usr/bin/env bash
# Installs humanmv and everything it needs into ./.venv at the exact versions of constraints.txt
# (the lock file; scripts/lock.sh regenerates it) and builds the one-time caches.
#
#   bash scripts/setup.sh                  # the main job: humanmv and its runtime dependencies
#   bash scripts/setup.sh --test-clients   # the test suite: also the test extra (pytest, kornia,
#                                          # playwright), Debian's chromium and blender, and the
#                                          # npm packages of tests/clients
#
# Safe and cheap to run again (~1 s when all is done): the pip step is skipped while
# pyproject.toml and constraints.txt are unchanged (.venv/.humanmv-install records what was
# installed), Debian packages are installed only when missing, `npm ci` runs only when
# tests/clients/node_modules is missing or older than its package-lock.json, and `humanmv setup`
# only when its caches lack a stamp of the same inputs ($HUMANMV_CACHE/.setup-done).
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_CLIENTS=0
for arg in "$@"; do
  case "$arg" in
    --test-clients) TEST_CLIENTS=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (known: --test-clients)" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# Every pip install below, and the isolated environment pip builds humanmv in, takes the locked
# versions (PIP_CONSTRAINT reaches the build environment; `-c` would not).
export PIP_CONSTRAINT="$PWD/constraints.txt"
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)

# 1. Python packages. The stamp names the inputs' hash and the extras installed from them.
TARGET="."
[ "$TEST_CLIENTS" = 1 ] && TARGET=".[test]"
STAMP=.venv/.humanmv-install
INPUTS=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && grep -qxF "$INPUTS $TARGET" "$STAMP"; then
  echo "setup: python packages up to date ($STAMP)"
else
  # The CPU build of torch first: an unpinned torch would pull GBs of CUDA wheels.
  "${PIP[@]}" "torch==2.13.0"
  # cv2 comes from opencv-contrib-python alone (mediapipe's requirement). A venv made by an
  # older set-up has opencv-python-headless, whose files share the cv2 folder: remove it and
  # lay opencv-contrib-python's files again over what the uninstall took away.
  if .venv/bin/python -m pip show -q opencv-python-headless >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -q -y opencv-python-headless
    "${PIP[@]}" --force-reinstall --no-deps opencv-contrib-python
  fi
  # humanmv itself (editable) with its dependencies, every one at its locked version.
  "${PIP[@]}" -e "$TARGET"
  { echo "$INPUTS ."; [ "$TARGET" = "." ] || echo "$INPUTS $TARGET"; } > "$STAMP"
  echo "setup: python packages installed ($SECONDS s)"
fi

# 2. The real clients the tests check our files with.
if [ "$TEST_CLIENTS" = 1 ]; then
  MISSING=()
  command -v chromium >/dev/null || MISSING+=(chromium)
  command -v blender >/dev/null || MISSING+=(blender)
  command -v npm >/dev/null || MISSING+=(nodejs npm)
  if [ ${#MISSING[@]} -gt 0 ]; then
    START=$SECONDS
    SUDO=()
    [ "$(id -u)" = 0 ] || SUDO=(sudo)
    echo "setup: installing Debian packages: ${MISSING[*]}"
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${MISSING[@]}"
    echo "setup: Debian packages installed ($((SECONDS - START)) s)"
  fi
  NODE_STAMP=tests/clients/node_modules/.package-lock.json
  if [ ! -f "$NODE_STAMP" ] || [ tests/clients/package-lock.json -nt "$NODE_STAMP" ]; then
    npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error
  else
    echo "setup: tests/clients/node_modules up to date"
  fi
  # Real photos from Debian and PyPI packages (the crop tests of the fit use messi5.jpg).
  bash scripts/fetch_example_photos.sh
fi

# 3. Build the caches (Anny's parsed assets, compiled kernels, texture correspondences) and
#    load every model once, so a user's first run is fast and a broken install fails here.
#    Skipped while the cache holds a stamp of the same inputs (deleting the cache removes it;
#    `.venv/bin/humanmv setup` runs it by hand).
CACHE=${HUMANMV_CACHE:-$HOME/.cache/humanmv}
SETUP_KEY=$(cat pyproject.toml constraints.txt src/humanmv/setup_check.py \
  src/humanmv/body/avatar_texture.py | sha256sum | cut -c1-16)
if [ -f "$CACHE/.setup-done" ] && grep -qxF "$SETUP_KEY" "$CACHE/.setup-done"; then
  echo "setup: caches built ($CACHE/.setup-done)"
else
  .venv/bin/humanmv setup
  echo "$SETUP_KEY" > "$CACHE/.setup-done"
fi
