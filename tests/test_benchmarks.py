"""``python -m benchmarks --quick``: the benchmark runs end to end and reports fit against its peers."""

from __future__ import annotations

import json

import pytest

from benchmarks import __main__ as bench
from benchmarks import peers

pytestmark = pytest.mark.slow


def test_quick_throughput_and_quality_report_fit_against_the_peers(tmp_path, capsys):
    argv = ["--quick", "--only", "throughput", "quality", "--out", str(tmp_path)]
    argv += ["--variants", "hand", "pyro", "--steps", "2", "--repeats", "2", "--seeds", "0"]
    assert bench.main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    tp = results["throughput"]
    assert set(tp["variants"]) == {"reference", "fit", "hand", "pyro"}
    assert tp["fit_over_hand"] > 0
    pyro_missing = peers.pyro_available()
    if pyro_missing is None:
        assert tp["fit_over_pyro"] > 0 and "pyro" in results["quality"]["summary"]
    else:
        assert tp["fit_over_pyro"] is None and pyro_missing in tp["variants"]["pyro"]["error"]
    assert {"reference", "hand", "fit"} <= set(results["quality"]["summary"])
    report = (tmp_path / "REPORT.md").read_text(encoding="utf-8")
    assert report.index("## fit against its peers") < report.index("## Targets")
    assert "fit / hand-written loop" in report
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("fit/hand ")
