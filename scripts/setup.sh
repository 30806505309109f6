#!/usr/bin/env bash
# Installs humanmv and everything it needs into ./.venv and builds the one-time caches.
# Safe to run again: each step is skipped or cheap when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# 1. The CPU build of torch first, pinned: an unpinned torch would pull GBs of CUDA wheels.
"${PIP[@]}" "torch==2.13.0"
# 2. humanmv itself (editable) with its runtime and test dependencies.
"${PIP[@]}" -e ".[test]"
# 3. mediapipe 0.10.21 is the last release with the legacy solutions and their bundled models.
#    Its metadata pins numpy<2 (it runs on numpy 2), so it goes in last and without its declared
#    deps; the ones it really uses are in pyproject.toml. (On a re-run pip may list mediapipe's
#    declared pins as conflicts: expected, harmless.)
"${PIP[@]}" --no-deps "mediapipe==0.10.21"
# 4. Build the caches (Anny's parsed assets, compiled kernels) so a user's first run is fast.
.venv/bin/humanmv setup
