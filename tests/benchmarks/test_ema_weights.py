"""benchmarks/ema_weights.py: a run's published EMA weights and its last checkpoint's raw weights solve the same
held-out puzzles, each scored as the package's evaluation scores it, and the puzzles only one solves are counted."""

from __future__ import annotations

import json
import math
import shutil

import harness
import pytest
from benchmark_scripts import load_benchmark

ema_weights = load_benchmark("ema_weights")


def test_the_ema_and_the_raw_weights_of_a_run_are_scored_on_the_same_puzzles(tiny_sudoku_model, tmp_path):
    from safetensors.torch import load_file

    from modeling_trm import TRMForPuzzleSolving
    from training.evaluation import evaluate

    recipe_test, metadata, _ = harness.load_test_split(tiny_sudoku_model)
    assert ema_weights.main(["--run", f"tiny={tiny_sudoku_model}", "--num-test", str(len(recipe_test) + 8),
                             "--output", str(tmp_path / "out")]) == 0
    entry = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]["tiny"]
    assert entry["num_puzzles"] == len(recipe_test) + 8
    assert entry["both"] + entry["only_ema"] + entry["only_raw"] + entry["neither"] == entry["num_puzzles"]
    assert entry["ema_exact_accuracy"] == (entry["both"] + entry["only_ema"]) / entry["num_puzzles"]
    assert entry["raw_exact_accuracy"] == (entry["both"] + entry["only_raw"]) / entry["num_puzzles"]

    # the raw weights are those of the checkpoint of the step the run published (its last)
    raw_path = tiny_sudoku_model / entry["raw_weights"]
    assert raw_path.parent.name == f"checkpoint-{entry['step']}"
    published = TRMForPuzzleSolving.from_pretrained(tiny_sudoku_model).eval()
    raw = TRMForPuzzleSolving.from_pretrained(tiny_sudoku_model).eval()
    raw.load_state_dict(load_file(raw_path))
    assert any((a != b).any() for a, b in zip(published.state_dict().values(), raw.state_dict().values()))

    # each side's accuracy is the package's evaluation of those weights on the rebuilt split
    test, _ = load_benchmark("more_held_out").rebuilt_test_split(
        harness.training_dataset(tiny_sudoku_model)[2], entry["num_puzzles"], recipe_test)
    for model, key in ((published, "ema_exact_accuracy"), (raw, "raw_exact_accuracy")):
        assert evaluate(model, test, metadata, progress=False)["exact_accuracy"] == pytest.approx(entry[key], abs=1e-12)
    assert (tmp_path / "out" / "results.md").read_text() == ema_weights.results_table(
        json.loads((tmp_path / "out" / "results.json").read_text()))


def test_a_run_without_the_checkpoint_of_its_published_step_is_refused(tiny_sudoku_model, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_sudoku_model, run, ignore=shutil.ignore_patterns("checkpoints"))
    with pytest.raises(SystemExit, match="no complete checkpoint of step"):
        ema_weights.published_raw_weights(run)
    results = json.loads((run / "eval_results.json").read_text())
    for result in results if isinstance(results, list) else [results]:
        result["weights"] = "raw"
    (run / "eval_results.json").write_text(json.dumps(results))
    with pytest.raises(SystemExit, match="names no EMA weights"):
        ema_weights.published_raw_weights(run)


def test_a_malformed_run_is_named_with_its_flag(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ema_weights.main(["--run", "no-equals-sign", "--output", str(tmp_path)])
    assert "--run takes NAME=DIR, got 'no-equals-sign'" in capsys.readouterr().err


def test_mcnemar_p_value_is_the_two_sided_binomial_tail_of_the_discordant_puzzles():
    assert ema_weights.mcnemar_p_value(0, 0) == 1.0
    assert ema_weights.mcnemar_p_value(5, 5) == 1.0
    assert ema_weights.mcnemar_p_value(10, 0) == ema_weights.mcnemar_p_value(0, 10) == 2 / 2**10
    # 7 against 1: P(X <= 1) for X ~ Binomial(8, 1/2), doubled
    assert ema_weights.mcnemar_p_value(7, 1) == pytest.approx(2 * (1 + 8) / 256)
    assert ema_weights.mcnemar_p_value(30, 12) == pytest.approx(
        2 * sum(math.comb(42, k) for k in range(13)) / 2**42)


def test_the_docs_quote_the_committed_comparisons():
    """docs/reproduction.md's rows for the 9×9 and maze runs, and the README's 9×9 numbers, are those of
    benchmarks/results/ema_weights_52000steps and ema_weights_maze."""
    page = (harness.REPO_ROOT / "docs" / "reproduction.md").read_text().replace("**", "")
    for folder in ("ema_weights_52000steps", "ema_weights_maze"):
        for entry in json.loads((harness.RESULTS_ROOT / folder / "results.json").read_text())["runs"].values():
            row = (f"| {100 * entry['ema_exact_accuracy']:.1f} | {100 * entry['raw_exact_accuracy']:.1f} | "
                   f"{entry['only_ema']} | {entry['only_raw']} | {entry['p_value']:.2g} |")
            assert row in page
    sudoku = json.loads((harness.RESULTS_ROOT / "ema_weights_52000steps" / "results.json").read_text())["runs"]
    gains = sorted(100 * (e["ema_exact_accuracy"] - e["raw_exact_accuracy"]) for e in sudoku.values())
    ema = {f"{100 * e['ema_exact_accuracy']:.1f}" for e in sudoku.values()}
    raw = {f"{100 * e['raw_exact_accuracy']:.1f}" for e in sudoku.values()}
    assert len(ema) == len(raw) == 1  # the README gives one number for both runs
    readme = " ".join((harness.REPO_ROOT / "README.md").read_text().split())
    assert (f"adds {gains[0]:.1f}–{gains[-1]:.1f} points on 9×9 ({ema.pop()} against {raw.pop()}% for the same two "
            "runs' raw weights)") in readme
