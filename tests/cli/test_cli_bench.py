"""`humanmv bench` end to end on a tiny synthetic split (copy-input only, to stay fast)."""

from __future__ import annotations

import json
import subprocess
import sys

from humanmv.data.synth import synthesize

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]


def test_bench_writes_results_and_refuses_bad_input(tmp_path):
    synthesize(tmp_path / "ds", "body-bench", 2, seed=4)
    out = tmp_path / "res"
    proc = subprocess.run([*HUMANMV, "bench", "--split", str(tmp_path / "ds"), "--subset", "all",
                           "--method", "copy-input", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "results.json").read_text())["summary"]["copy-input"]
    assert summary["subjects"] == 2 and 5 < summary["all_psnr"]["mean"] < 40
    assert "| copy-input | 2 |" in (out / "results.md").read_text()
    assert (out / "comparison.png").stat().st_size > 1000
    for args, expected in ((["--split", str(tmp_path)], "no manifest.json"),
                           (["--split", str(tmp_path / "ds"), "--method", "magic"], "unknown --method")):
        proc = subprocess.run([*HUMANMV, "bench", *args, "--out", str(tmp_path / "x")],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and expected in proc.stderr and len(proc.stderr.splitlines()) == 1
        assert not (tmp_path / "x").exists()
