"""The benchmark harness's arithmetic and output (bench/compare.py); no timing is asserted."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import compare  # noqa: E402
from compare import BenchError, Command, Comparison, Samples, Spread, measure, report, run_all, summarise  # noqa: E402

PY = sys.executable


def test_summary_is_medians_min_max_and_the_median_of_pair_ratios():
    samples = Samples(ours=[2.0, 4.0, 3.0, 10.0, 3.0], baseline=[1.0, 1.0, 1.0, 2.0, 3.0])
    summary = summarise(samples, target=3.0)
    assert summary.ours == Spread(3.0, 2.0, 10.0)
    assert summary.baseline == Spread(1.0, 1.0, 3.0)
    # pairs: 2, 4, 3, 5, 1 -> median 3 (not 3.0 / 1.0 of the medians by accident: see the next case)
    assert summary.ratio == Spread(3.0, 1.0, 5.0)
    assert summary.met and summary.runs == 5
    drift = summarise(Samples(ours=[1, 2, 4, 8, 16], baseline=[1, 2, 4, 8, 16]), target=1.0)
    assert drift.ratio == Spread(1.0, 1.0, 1.0) and drift.ours.median == 4


def test_target_is_a_ceiling_and_none_means_a_reference_figure():
    samples = Samples(ours=[1.3] * 5, baseline=[1.0] * 5)
    assert not summarise(samples, target=1.2).met
    assert summarise(samples, target=1.3).met
    assert summarise(samples, target=None).met


def test_uneven_or_empty_samples_are_refused():
    with pytest.raises(ValueError):
        summarise(Samples(ours=[1.0], baseline=[]), 1.0)
    with pytest.raises(ValueError):
        summarise(Samples(), 1.0)
    with pytest.raises(BenchError, match="0 s"):
        summarise(Samples(ours=[1.0] * 5, baseline=[1.0, 1.0, 0.0, 1.0, 1.0]), 1.0)


def comparison(ours: Command, baseline: Command, target: float | None = 100.0, runs: int = 5) -> Comparison:
    return Comparison("demo", "a figure", ours, baseline, target, runs)


def test_report_prints_both_sides_the_ratio_and_the_verdict():
    lines: list[str] = []
    c = comparison(Command.of("ours", ["ours", "--x"]), Command.of("theirs", ["a"], ["b", "c"]), target=1.2)
    report(c, summarise(Samples(ours=[0.3] * 5, baseline=[0.2] * 5), 1.2), lines.append)
    assert lines[0] == "demo: a figure (n=5 each, alternated, whole processes)"
    assert lines[1] == "  ours    median    300.0 ms  (min 300.0, max 300.0)  $ ours --x"
    assert lines[2] == "  theirs  median    200.0 ms  (min 200.0, max 200.0)  $ a && b c"
    assert lines[3] == "  ratio ours/theirs: 1.50x (min 1.50, max 1.50); target <= 1.2x: MISSED"
    lines.clear()
    report(c, summarise(Samples(ours=[0.2] * 5, baseline=[0.2] * 5), None), lines.append)
    assert lines[3].endswith("reference figure, no target")


def test_runs_alternate_and_count_after_the_warm_up(tmp_path):
    order = tmp_path / "order"
    ours = Command.of("ours", [PY, "-c", f"open({str(order)!r}, 'a').write('A')"])
    theirs = Command.of("theirs", [PY, "-c", f"open({str(order)!r}, 'a').write('B')"])
    summary = measure(comparison(ours, theirs))
    assert order.read_text() == "AB" * 6          # one warm-up pair, then 5 counted pairs
    assert summary.runs == 5


def test_fewer_than_five_runs_is_refused():
    with pytest.raises(ValueError, match="at least 5"):
        measure(comparison(Command.of("a", ["true"]), Command.of("b", ["true"]), runs=4))


def test_a_failing_command_is_no_figure_and_fails_the_run():
    lines: list[str] = []
    code = run_all([comparison(Command.of("ours", [PY, "-c", "raise SystemExit(3)"]),
                               Command.of("theirs", ["true"]))], lines.append)
    assert code == 1
    assert lines[0].startswith("demo: FAILED: ours:") and "exited 3" in lines[0]
    assert lines[-1] == "targets missed or not measured: demo"


def test_ok_codes_and_an_outside_figure():
    seen = []

    def figure(started: float) -> float:
        seen.append(started)
        return 0.25
    ours = Command.of("ours", [PY, "-c", "raise SystemExit(5)"], ok=(5,), figure=figure)
    assert compare.time_once(ours) == 0.25 and len(seen) == 1
    with pytest.raises(BenchError, match="not seen"):
        compare.time_once(Command.of("x", ["true"], figure=lambda started: None))


def test_a_missed_target_exits_1_and_a_met_one_0():
    """The figures are given (``figure``) so that the verdict does not depend on this machine's speed."""
    two = Command.of("two", ["true"], figure=lambda started: 2.0)
    one = Command.of("one", ["true"], figure=lambda started: 1.0)
    assert run_all([comparison(two, one, target=1.5)], lambda line: None) == 1
    assert run_all([comparison(two, one, target=2.0)], lambda line: None) == 0
    assert run_all([comparison(two, one, target=None)], lambda line: None) == 0


def test_a_figure_read_from_the_result_json_waits_for_a_whole_document(tmp_path):
    result = tmp_path / "result.json"
    figure = compare.from_result_json(result, lambda data: float(data["kube_requests"]["total"]), timeout=0.3)
    assert figure(0.0) is None                                  # never written: no figure
    result.write_text('{"kube_requests": {"tot')                # still being written: not read
    assert figure(0.0) is None
    result.write_text('{"kube_requests": {"total": 86}}')
    assert figure(0.0) == 86.0


def test_a_count_is_reported_in_its_unit_not_in_ms():
    lines: list[str] = []
    command = Command.of("bake 40s", ["true"])
    comparison = Comparison("requests", "requests of a deploy", command, command, 1.1, 5, unit="requests")
    report(comparison, summarise(Samples([86.0] * 5, [79.0] * 5), 1.1), lines.append)
    assert "median     86.0 requests  (min 86, max 86)" in lines[1] and "ms" not in lines[1]
    assert "1.09x" in lines[3] and "met" in lines[3]
