#!/usr/bin/env bash
# Extracts the full-body example photos shipped by Debian's opencv-doc and darknet packages into
# $HUMANMV_CACHE/examples (default ~/.cache/humanmv/examples). Used by benchmarks, not by tests.
set -euo pipefail
dest="${HUMANMV_CACHE:-$HOME/.cache/humanmv}/examples"
mkdir -p "$dest"
[ -f "$dest/messi5.jpg" ] && [ -f "$dest/person.jpg" ] && exit 0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
apt-get download opencv-doc darknet >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download opencv-doc darknet >/dev/null; }
for f in *.deb; do dpkg -x "$f" x; done
cp x/usr/share/doc/opencv-doc/examples/data/messi5.jpg "$dest/"
cp x/usr/share/darknet/data/person.jpg "$dest/"
echo "example photos in $dest"
