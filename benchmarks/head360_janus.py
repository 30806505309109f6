"""Janus check of head views on real portraits, from a `humanmv bench --real` run.

    humanmv bench --real PORTRAITS --mode head --views 32 --size 256 --method prior --method head360 --out R
    .venv/bin/python benchmarks/head360_janus.py R

For each method and photo: dlib's detector on the views near the front (|az| < 30 deg: it should
find the face on every one) and on the views behind (|az| > 120 deg: a face found there is a
Janus face, counted). Reads results.json's per-view `face` flags and azimuths.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def wrapped(az: float) -> float:
    return abs(((az + 180) % 360) - 180)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="bench --out folder (results.json)")
    args = ap.parse_args()
    rows = json.loads((args.results / "results.json").read_text())["subjects"]
    totals: dict = {}
    print(f"{'method':10} {'photo':22} {'front found':>12} {'Janus behind':>13}")
    for r in rows:
        if r.get("error"):
            print(f"{r['method']:10} {r['subject']:22} failed: {r['error']}")
            continue
        front = [f for f, a in zip(r["face"], r["az"]) if wrapped(a) < 30]
        behind = [f for f, a in zip(r["face"], r["az"]) if wrapped(a) > 120]
        t = totals.setdefault(r["method"], [0, 0, 0, 0])
        t[0] += sum(front); t[1] += len(front); t[2] += sum(behind); t[3] += len(behind)
        print(f"{r['method']:10} {r['subject']:22} {sum(front):>5} of {len(front):<4} {sum(behind):>5} of {len(behind):<5}")
    for m, (ff, fn, jb, jn) in totals.items():
        print(f"{m:10} {'all':22} {ff:>5} of {fn:<4} {jb:>5} of {jn:<5}")


if __name__ == "__main__":
    main()
