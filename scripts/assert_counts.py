"""Count the assertions of every test file, now and at a git revision, and list the files
whose count fell (a test got weaker, or was deleted). Moved files are followed through git's
rename detection, commit by commit; `pytest.raises` blocks count as assertions.

    .venv/bin/python scripts/assert_counts.py --base REV
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def count(source: str) -> int:
    """assert statements + `pytest.raises` / `pytest.fail` calls in a Python source."""
    n = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert):
            n += 1
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("raises", "fail"):
            n += 1
    return n


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def _renames(base: str) -> dict[str, str]:
    """old path -> path now, following the renames of every commit since `base` (each one seen
    while the file was still similar) and of the uncommitted change."""
    steps = []
    for line in git("log", "--reverse", "--format=", "--name-status", "-M", f"{base}..HEAD", "--", "tests").splitlines():
        parts = line.split("\t")
        if parts[0].startswith("R"):
            steps.append((parts[1], parts[2]))
    for line in git("diff", "--name-status", "-M", "HEAD", "--", "tests").splitlines():
        parts = line.split("\t")
        if parts[0].startswith("R"):
            steps.append((parts[1], parts[2]))
    renames: dict[str, str] = {}
    for old, new in steps:
        for k, v in renames.items():
            if v == old:
                renames[k] = new
        renames.setdefault(old, new)
    return renames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    args = ap.parse_args()
    renames = _renames(args.base)
    before = {p: count(git("show", f"{args.base}:{p}")) for p in git("ls-tree", "-r", "--name-only", args.base, "tests").split()
              if p.endswith(".py")}
    now = {str(p.relative_to(ROOT)): count(p.read_text()) for p in (ROOT / "tests").rglob("*.py")}
    fell = []
    for path, n in sorted(before.items()):
        where = renames.get(path, path)
        m = now.get(where)
        if m is None or m < n:
            fell.append((path, where, n, m))
    print(f"{sum(before.values())} assertions in {len(before)} files at {args.base}; "
          f"{sum(now.values())} in {len(now)} files now")
    for path, where, n, m in fell:
        print(f"FELL {path}{' -> ' + where if where != path else ''}: {n} -> {m}")
    if not fell:
        print("no file has fewer assertions than before")


if __name__ == "__main__":
    main()
