#!/usr/bin/env bash
# Extracts real photos of people that registry packages ship into $HUMANMV_CACHE/examples
# (default ~/.cache/humanmv/examples). Used by benchmarks and manual checks, not by tests.
#   messi5.jpg, basketball1.png  Debian opencv-doc (examples/data/): full body in action; two people
#   person.jpg, kite.jpg         Debian darknet (data/): full body seen from behind; small people on a beach
#   camera.png                   PyPI scikit-image (skimage/data/): greyscale "cameraman", upper body in profile
set -euo pipefail
dest="${HUMANMV_CACHE:-$HOME/.cache/humanmv}/examples"
mkdir -p "$dest"
want=(messi5.jpg basketball1.png person.jpg kite.jpg camera.png)
missing=0; for f in "${want[@]}"; do [ -f "$dest/$f" ] || missing=1; done
[ "$missing" = 0 ] && exit 0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
apt-get download opencv-doc darknet >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download opencv-doc darknet >/dev/null; }
for f in *.deb; do dpkg -x "$f" x; done
cp x/usr/share/doc/opencv-doc/examples/data/{messi5.jpg,basketball1.png} "$dest/"
cp x/usr/share/darknet/data/{person.jpg,kite.jpg} "$dest/"
python3 -m pip download -q --no-deps --only-binary=:all: scikit-image -d wheel >/dev/null 2>&1
python3 -m zipfile -e wheel/scikit_image-*.whl sk >/dev/null
cp sk/skimage/data/camera.png "$dest/"
echo "example photos in $dest: ${want[*]}"
