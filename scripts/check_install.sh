#!/usr/bin/env bash
# Checks that humanmv installs as a plain Python package and then works: for the source tree and
# for a wheel built from it, each in a fresh venv in a temporary folder,
#   pip install torch==2.13.0 -> pip install -c constraints.txt <tree or wheel> (nothing else)
#   -> humanmv setup -> humanmv generate examples/astronaut.jpg --views 4,
# run outside the repository so nothing is imported from src/. Prints each step's time and the
# result. Slow (~15 min on 2 cores, most of it pip and Anny's first cache build), so it is not
# part of the test suite: run it before changing dependencies or packaging lands.
#
#   bash scripts/check_install.sh            # a fresh $HUMANMV_CACHE, shared by both installs
#   HUMANMV_CACHE=~/.cache/humanmv bash scripts/check_install.sh   # reuse a built cache
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export HUMANMV_CACHE=${HUMANMV_CACHE:-$TMP/cache}
LOG=$TMP/step.log

step() {  # step NAME COMMAND...: runs it quietly, prints its time, or its log's tail on failure
  local name=$1; shift
  local start=$SECONDS
  if ! "$@" >"$LOG" 2>&1; then
    echo "FAILED: $name after $((SECONDS - start)) s; last lines:"
    tail -n 30 "$LOG"
    exit 1
  fi
  printf '  %-44s %5d s\n' "$name" $((SECONDS - start))
}

check_outputs() {  # check_outputs DIR VENV: the files `generate` must write, from site-packages
  local out=$1 venv=$2
  "$venv/bin/python" - "$out" <<'EOF'
import json, pathlib, sys

import humanmv

out = pathlib.Path(sys.argv[1])
where = pathlib.Path(humanmv.__file__).parent
assert "site-packages" in where.parts, f"humanmv imported from {where}, not the venv"
views = sorted((out / "views").glob("*.png"))
assert len(views) == 4, f"{len(views)} views, expected 4"
for name in ("avatar.glb", "texture.png", "cameras.json", "grid.png", "turntable.mp4", "run.json"):
    assert (out / name).stat().st_size > 0, f"{name} is empty"
cameras = json.loads((out / "cameras.json").read_text())
assert len(cameras) == 4, f"cameras.json has {len(cameras)} cameras, expected 4"
print(f"humanmv {humanmv.__version__} from {where}: {len(views)} views, {len(cameras)} cameras, "
      f"avatar.glb {(out / 'avatar.glb').stat().st_size / 1e6:.1f} MB")
EOF
}

check() {  # check LABEL SOURCE: one fresh venv, SOURCE installed into it, then the main job
  local label=$1 source=$2 venv=$TMP/venv-$1 out=$TMP/out-$1
  local start=$SECONDS
  echo "$label: $source"
  step "python -m venv" "$PY" -m venv "$venv"
  step "pip install torch==2.13.0" "$venv/bin/python" -m pip install -q torch==2.13.0
  step "pip install -c constraints.txt $label" \
    "$venv/bin/python" -m pip install -q -c "$ROOT/constraints.txt" "$source"
  step "pip check" "$venv/bin/python" -m pip check
  (cd "$TMP" && step "humanmv setup" "$venv/bin/humanmv" setup)
  (cd "$TMP" && step "humanmv generate --views 4" \
    "$venv/bin/humanmv" generate "$ROOT/examples/astronaut.jpg" --out "$out" --views 4 --quiet)
  echo "  result: $(check_outputs "$out" "$venv")"
  echo "  $label total: $((SECONDS - start)) s"
}

echo "check_install: $("$PY" --version), HUMANMV_CACHE=$HUMANMV_CACHE"
check tree "$ROOT"
WHEELS=$TMP/wheels
step "pip wheel . --no-deps" "$PY" -m pip wheel -q --no-deps -w "$WHEELS" "$ROOT"
WHEEL=$(ls "$WHEELS"/humanmv-*.whl)
echo "  wheel: $(basename "$WHEEL"), $(du -h "$WHEEL" | cut -f1)"
check wheel "$WHEEL"
echo "check_install: OK"
