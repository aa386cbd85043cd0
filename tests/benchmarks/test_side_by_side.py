"""benchmarks/side_by_side.py without the official code: the skip, the timing protocol and its arithmetic, and the
docs' table of a committed run."""

from __future__ import annotations

import itertools
import json

import harness
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


@pytest.mark.parametrize("name", ["trm_small_mlp", "trm_small_att", "hrm_small"])
def test_a_trained_model_goes_back_into_the_official_names_unchanged(reference_dir, name):
    """The adaptive section runs the official code on our trained weights: the converter's renames, inverted."""
    import json

    import torch
    from safetensors.torch import load_file

    from modeling_trm.convert_original_checkpoint import convert_official_state_dict

    official = load_file(reference_dir / name / "model.safetensors")
    ours = convert_official_state_dict(official, json.loads((reference_dir / name / "config.json").read_text()))
    with torch.no_grad():  # weights of our own, so the test sees them travel (not the official ones left in place)
        for tensor in ours.state_dict().values():  # parameters and the initial-state buffers
            tensor.add_(1.0)
    back = side_by_side.official_state_dict(ours, official)
    assert back.keys() == official.keys()
    for key, tensor in back.items():
        assert tensor.dtype == official[key].dtype, key
        torch.testing.assert_close(tensor, (official[key].float() + 1.0).to(tensor.dtype), rtol=0, atol=0, msg=key)


def test_the_adaptive_rows_get_their_own_table():
    row = {"section": "adaptive", "model": "runs/trm-sudoku6x6", "batch_size": 64, "num_puzzles": 256,
           "results": {"official": {"exact_accuracy": 0.98, "mean_steps": 8.0, "puzzles_per_second": 6.0,
                                    "speedup_over_official": 1.0},
                       "adaptive": {"exact_accuracy": 0.898, "mean_steps": 2.07, "puzzles_per_second": 45.0,
                                    "speedup_over_official": 7.5}}}
    report = {"machine": {"threads": 2, "load_average_before": [1.0], "load_average_after": [1.0]},
              "matmul_peak_gflops": 100.0, "official_commit": "abc", "rows": [row]}
    text = side_by_side.markdown(report)
    assert "| trm-sudoku6x6 | 256 | adaptive | 89.8 | 2.07 | 45.0 | 7.50 |" in text
    assert "| trm-sudoku6x6 | 256 | official | 98.0 | 8.00 | 6.0 | 1.00 |" in text


def test_bfloat16_rows_sit_beside_float32_rows_and_relate_to_our_float32_model():
    old = [{"section": "solve", "model": "TRM-MLP", "batch_size": 16, "v": 1}]  # rows before --dtype: float32
    new = [{"section": "solve", "model": "TRM-MLP", "batch_size": 16, "dtype": "bfloat16", "v": 2}]
    assert sorted(row["v"] for row in side_by_side.merge_rows(old, new)) == [1, 2]
    again = [{"section": "solve", "model": "TRM-MLP", "batch_size": 16, "dtype": "float32", "v": 3}]
    assert sorted(row["v"] for row in side_by_side.merge_rows(old, again)) == [3]

    results = {"solve": {"seconds": 1.0}, "solve fp32": {"seconds": 2.5}}
    side_by_side.add_speedup_over(results, "solve fp32")
    assert results["solve"]["speedup_over_our_float32"] == pytest.approx(2.5)
    assert results["solve fp32"]["speedup_over_our_float32"] == 1.0


def test_the_docs_bfloat16_table_without_amx_is_the_committed_results():
    report = json.loads((harness.RESULTS_ROOT / "side_by_side_epyc.json").read_text())
    assert all(row["max_abs_logit_difference"] == 0.0 for row in report["rows"] if row["section"] == "solve")
    assert side_by_side.bfloat16_table(report) in (harness.REPO_ROOT / "docs" / "benchmarks.md").read_text()


def test_the_docs_float32_sentence_on_the_epyc_is_the_committed_results():
    """docs/benchmarks.md's float32 ratios on the AMD EPYC are those of benchmarks/results/side_by_side_epyc_fp32.json."""
    report = json.loads((harness.RESULTS_ROOT / "side_by_side_epyc_fp32.json").read_text())
    assert report["machine"]["cpu_model"].startswith("AMD EPYC")
    rows = {(row["section"], row["model"], row["batch_size"]): row for row in report["rows"]}
    assert all(row["max_abs_logit_difference"] == 0.0 for row in report["rows"] if row["section"] == "solve")

    def solve(model: str) -> str:
        return " / ".join(f"{rows['solve', model, batch]['results']['solve']['speedup_over_official']:.2f}" for batch in (16, 64))

    def train(model: str) -> str:
        return f"{rows['train', model, 16]['results']['ours']['speedup_over_official']:.2f}×"

    docs = " ".join((harness.REPO_ROOT / "docs" / "benchmarks.md").read_text().split())
    assert (f"`solve` {solve('TRM-MLP')}× the official loop for TRM-MLP (batch 16 / 64), {solve('TRM-Att')}× for TRM-Att, "
            f"{solve('HRM')}× for HRM; the training step {train('TRM-MLP')} (TRM-MLP), {train('TRM-Att')} (TRM-Att) and "
            f"{train('HRM')} (HRM)") in docs
