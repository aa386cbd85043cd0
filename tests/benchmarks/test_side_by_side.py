"""benchmarks/side_by_side.py without the official code: the skip, the timing protocol and its arithmetic."""

from __future__ import annotations

import itertools

import pytest
from benchmark_scripts import load_benchmark

side_by_side = load_benchmark("side_by_side")


def test_without_official_repo_it_says_so_and_writes_nothing(tmp_path, capsys):
    output = tmp_path / "out.json"
    assert side_by_side.main(["--output", str(output)]) == 0
    assert "skipped, no --official-repo" in capsys.readouterr().out
    assert not output.exists()


def test_a_folder_that_is_not_the_official_checkout_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        side_by_side.import_official(tmp_path)


def test_trials_are_interleaved_in_alternating_order_and_every_timing_is_kept():
    calls = []
    ticks = itertools.count()  # the clock advances by 1 per reading: each call lasts 1 "second"...
    durations = {"a": 3, "b": 5}

    def clock():
        return next(ticks)

    def contender(name):
        def run():
            calls.append(name)
            for _ in range(durations[name] - 1):  # ...plus 1 per extra reading taken here
                next(ticks)
            return name.upper()
        return run

    timings, last = side_by_side.interleaved_best_of({"a": contender("a"), "b": contender("b")}, trials=3, clock=clock)
    assert calls == ["a", "b", "b", "a", "a", "b"]  # forward, reversed, forward
    assert timings == {"a": [3, 3, 3], "b": [5, 5, 5]}
    assert last == {"a": "A", "b": "B"}


def test_summary_takes_the_best_trial_and_relates_it_to_the_reference_and_the_peak():
    timings = {"official": [4.0, 2.0, 3.0], "ours": [1.5, 1.0, 1.25]}
    flops = {"official": 100e9, "ours": 100e9}
    summary = side_by_side.summarise(timings, flops, peak_gflops=200.0, reference="official")
    assert summary["official"]["seconds"] == 2.0 and summary["ours"]["seconds"] == 1.0
    assert summary["ours"]["trials"] == [1.5, 1.0, 1.25]
    assert summary["ours"]["gflops"] == pytest.approx(100.0)
    assert summary["ours"]["fraction_of_matmul_peak"] == pytest.approx(0.5)
    assert summary["official"]["fraction_of_matmul_peak"] == pytest.approx(0.25)
    assert summary["ours"]["speedup_over_official"] == pytest.approx(2.0)
    assert summary["official"]["speedup_over_official"] == 1.0


def test_a_partial_run_replaces_only_its_own_rows():
    old = [{"section": "solve", "model": "TRM-MLP", "batch_size": 16, "v": 1},
           {"section": "solve", "model": "TRM-MLP", "batch_size": 64, "v": 2},
           {"section": "train", "model": "TRM-MLP", "batch_size": 16, "v": 3}]
    new = [{"section": "solve", "model": "TRM-MLP", "batch_size": 64, "v": 4}]
    merged = side_by_side.merge_rows(old, new)
    assert sorted(row["v"] for row in merged) == [1, 3, 4]
