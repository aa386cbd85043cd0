"""`training.evaluation.evaluate` and `trm eval`: scores, accuracy by step, ARC voting, provenance, plot."""

from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pytest
import torch
from datasets import Dataset

from hub_datasets import build_dataset, save_puzzle_dataset
from hub_datasets.sudoku import DIFFICULTY_BANDS, SudokuSolver, difficulty_band
from model_cards.render import render_model_card
from modeling_trm import SolveConfig, SolveOutput, TRMConfig, TRMForPuzzleSolving
from training.evaluation import calibrate_halt_confidence, evaluate, main
from training.metrics import ARCVoting, puzzle_correctness


class ReplayModel:
    """Answers with given predictions (looked up by input row) so that scores can be computed by hand.

    Step 1 answers with the puzzle itself (a copy of the input), step 2 with the recorded answer.
    """

    def __init__(self, answers: dict[bytes, tuple[np.ndarray, float]]):
        self.answers = answers
        self.config = SimpleNamespace(max_supervision_steps=2)
        self.solve_config = SolveConfig()

    def solve(self, input_ids, puzzle_ids, solve_config):
        assert solve_config == SolveConfig(halting="fixed", max_steps=2, return_intermediate=True)
        rows = [self.answers[(int(p), row.numpy().astype(np.int64).tobytes())] for p, row in zip(puzzle_ids, input_ids)]
        final = torch.tensor(np.stack([answer for answer, _ in rows]))
        halt = torch.tensor([q for _, q in rows], dtype=torch.float32)
        return SolveOutput(
            predictions=final,
            steps=torch.full((len(rows),), 2),
            halt_logits=torch.stack([torch.full_like(halt, -9.0), halt]),
            intermediate_predictions=torch.stack([input_ids, final]),
        )


@pytest.fixture(scope="module")
def sudoku4(tmp_path_factory):
    dd, metadata = build_dataset("sudoku4x4-gen", num_train=4, num_test=6, num_aug=1)
    return dd, metadata


def test_sudoku_scores_by_hand(sudoku4):
    dd, metadata = sudoku4
    test = dd["test"]
    inputs, labels = np.array(test["inputs"], np.int64), np.array(test["labels"], np.int64)
    answers = labels.copy()
    answers[1, 0] = 2 if labels[1, 0] != 2 else 3  # one wrong cell
    answers[3, [0, 1]] = labels[3, [1, 0]]  # two cells swapped within a row: breaks the columns
    answers[5] = 0  # nothing useful
    halt = [2.0, -1.0, 3.0, 0.5, -2.0, -3.0]
    model = ReplayModel({(0, i.tobytes()): (a, q) for i, a, q in zip(inputs, answers, halt)})

    results = evaluate(model, test, metadata, batch_size=4, progress=False)

    assert results["task"] == "sudoku" and results["num_puzzles"] == 6
    assert results["exact_accuracy"] == pytest.approx(3 / 6)  # rows 0, 2, 4
    assert results["cell_accuracy"] == pytest.approx((3 + 15 / 16 + 14 / 16 + 0) / 6)
    # verdict halt >= 0: T F T T F F; correct: T F T F T F -> agree on rows 0, 1, 2, 5
    assert results["halting_accuracy"] == pytest.approx(4 / 6)
    assert results["mean_steps"] == 2
    assert results["sudoku_valid_rate"] == pytest.approx(3 / 6)
    by_step = results["accuracy_by_step"]
    assert by_step["steps"] == [1, 2]
    # step 1 answers with the puzzle: the givens are the only right cells (their token equals the label's).
    assert by_step["exact_accuracy"] == [0.0, results["exact_accuracy"]]
    assert by_step["cell_accuracy"][0] == pytest.approx((inputs == labels).mean())
    assert by_step["cell_accuracy"][1] == pytest.approx(results["cell_accuracy"])
    assert (results["halting"], results["max_steps"], results["trained_steps"]) == ("fixed", 2, 2)
    json.dumps(results)  # JSON-able


def test_exact_accuracy_by_difficulty_counts_each_puzzle_once_in_its_solver_band():
    """A replayed 9x9 split: every third answer wrong; each band's accuracy is counted by hand from the
    solver's rating of the decoded puzzle."""
    dd, metadata = build_dataset("sudoku-gen-small", num_train=1, num_test=40, num_aug=0)
    test = dd["test"]
    inputs, labels = np.array(test["inputs"], np.int64), np.array(test["labels"], np.int64)
    answers = labels.copy()
    answers[::3, 0] = 1  # blank token where a digit belongs: wrong
    model = ReplayModel({(0, i.tobytes()): (a, 1.0) for i, a in zip(inputs, answers)})
    solver = SudokuSolver(9)
    bands = [difficulty_band(solver.rating((row.reshape(9, 9) - 1).clip(0).astype(np.uint8))) for row in inputs]
    assert len(set(bands)) >= 3  # the split spans bands, so the split-up below is tested

    results = evaluate(model, test, metadata, batch_size=16, by_difficulty=True, progress=False)

    correct = np.arange(len(test)) % 3 != 0
    by_band = {row["band"]: row for row in results["exact_accuracy_by_difficulty"]}
    assert list(by_band) == [difficulty_band(low) for low, _ in DIFFICULTY_BANDS]
    for name, row in by_band.items():
        members = np.array([band == name for band in bands])
        assert row["num_puzzles"] == members.sum()
        assert row["exact_accuracy"] == (correct[members].mean() if members.any() else None)
    assert "exact_accuracy_by_difficulty" not in evaluate(model, test, metadata, batch_size=16, progress=False)
    with pytest.raises(ValueError, match="difficulty bands are the Sudoku solver's rating; this is a maze"):
        evaluate(model, test, task="maze", by_difficulty=True, progress=False)


def tiny_trm(vocab_size=6, seq_len=16, max_supervision_steps=2, **kwargs) -> TRMForPuzzleSolving:
    torch.manual_seed(0)
    config = TRMConfig(vocab_size=vocab_size, seq_len=seq_len, hidden_size=32, num_attention_heads=2, num_layers=1,
                       num_recursions=2, num_latent_updates=2, max_supervision_steps=max_supervision_steps,
                       puzzle_embedding_dim=0, num_puzzle_identifiers=1, **kwargs)
    return TRMForPuzzleSolving(config).eval()


def test_real_model_fixed_and_adaptive_halting_and_test_time_steps(sudoku4):
    dd, metadata = sudoku4
    test = dd["test"]
    model = tiny_trm()
    inputs, labels = torch.tensor(test["inputs"]), np.array(test["labels"])

    results = evaluate(model, test, metadata, batch_size=4, max_steps=4, progress=False)  # trained with 2 steps
    direct = model.solve(inputs, max_steps=4, return_intermediate=True)
    exact, cell, _ = puzzle_correctness(direct.predictions.numpy(), labels)
    assert results["exact_accuracy"] == exact.mean() and results["cell_accuracy"] == pytest.approx(cell.mean())
    assert results["halting_accuracy"] == pytest.approx(np.mean((direct.halt_logits[-1].numpy() >= 0) == exact))
    assert results["mean_steps"] == 4 and (results["max_steps"], results["trained_steps"]) == (4, 2)
    for step in range(4):
        step_exact, step_cell, _ = puzzle_correctness(direct.intermediate_predictions[step].numpy(), labels)
        assert results["accuracy_by_step"]["exact_accuracy"][step] == step_exact.mean()
        assert results["accuracy_by_step"]["cell_accuracy"][step] == pytest.approx(step_cell.mean())
    # Batching does not change anything.
    assert evaluate(model, test, metadata, batch_size=64, max_steps=4, progress=False) == results

    with torch.no_grad():
        model.q_head.bias.fill_(10.0)  # the halting head is sure after the first step
    adaptive = evaluate(model, test, metadata, halting="adaptive", max_steps=4, progress=False)
    assert adaptive["mean_steps"] == 1 and adaptive["halting"] == "adaptive"
    assert adaptive["accuracy_by_step"]["cell_accuracy"] == [results["accuracy_by_step"]["cell_accuracy"][0]] * 4


def test_halt_confidence_calibration_scores_adaptive_halting_as_solve_does(sudoku4):
    """One fixed rollout scores every candidate confidence; each score equals a real adaptive evaluation, and
    the chosen confidence is the lowest whose adaptive exact accuracy reaches the fixed rollout's (here every
    one that reaches it is exact on every puzzle)."""
    dd, metadata = sudoku4
    model = tiny_trm(max_supervision_steps=4)
    with torch.no_grad():  # a halting head that stops puzzles at different steps
        model.q_head.weight.normal_(0, 3 / model.config.hidden_size**0.5)
    inputs = torch.tensor(dd["test"]["inputs"])
    final = model.solve(inputs, max_steps=6).predictions.numpy()
    # Labels = the 6-step answers, so fixed halting at 6 steps is exact on every puzzle and stopping early
    # is right only where the answer had already settled.
    split = dd["test"].map(lambda row, index: {"labels": final[index].tolist()}, with_indices=True)
    candidates = (0.5, 0.6, 0.7, 0.8, 0.9, 0.99, 0.9999)
    calibration = calibrate_halt_confidence(model, split, max_steps=6, candidates=candidates, batch_size=4)
    assert calibration["target_exact_accuracy"] == 1.0 and calibration["num_puzzles"] == len(split)
    scores = calibration["candidates"]
    for entry in scores:
        adaptive = evaluate(model, split, metadata, halting="adaptive", max_steps=6,
                            halt_confidence=entry["halt_confidence"], progress=False)
        assert adaptive["halt_confidence"] == entry["halt_confidence"]
        assert (adaptive["exact_accuracy"], adaptive["mean_steps"]) == pytest.approx(
            (entry["exact_accuracy"], entry["mean_steps"]), abs=1e-12)
    assert [e["mean_steps"] for e in scores] == sorted(e["mean_steps"] for e in scores)  # more confident, later
    assert scores[0]["exact_accuracy"] < 1.0 and scores[0]["mean_steps"] < 6, "the test needs early, wrong stops"
    reaching = [e["halt_confidence"] for e in scores if e["exact_accuracy"] == 1.0]
    assert calibration["halt_confidence"] == reaching[0] > 0.5
    with pytest.raises(ValueError, match="halting confidences must be in \\(0, 1\\), got 1.0"):
        calibrate_halt_confidence(model, split, max_steps=6, candidates=(0.5, 1.0))


def test_the_chosen_confidence_is_the_most_exact_of_those_reaching_fixed_halting():
    from training.evaluation.evaluator import choose_halt_confidence

    def scored(*accuracies):
        return [{"halt_confidence": c, "exact_accuracy": a} for c, a in zip((0.5, 0.7, 0.9, 0.99), accuracies)]

    # 0.5 just reaches fixed halting's 0.90, 0.9 is more exact: the more exact one wins
    assert choose_halt_confidence(scored(0.91, 0.88, 0.97, 0.95), target=0.90) == 0.9
    # equally exact: the lowest confidence, which stops soonest
    assert choose_halt_confidence(scored(0.80, 0.95, 0.95, 0.95), target=0.90) == 0.7
    assert choose_halt_confidence(scored(0.80, 0.85, 0.89, 0.89), target=0.90) is None


def test_task_mismatch_and_empty_split_are_errors(sudoku4):
    dd, metadata = sudoku4
    with pytest.raises(ValueError, match="task='maze'.*'sudoku'"):
        evaluate(tiny_trm(), dd["test"], metadata, task="maze", progress=False)
    with pytest.raises(ValueError, match="empty"):
        evaluate(tiny_trm(), dd["test"].select([]), metadata, progress=False)


def arc_split(scenario, round_name, batches=None):
    """The scenario's test rows as a dataset split plus a model replaying the recorded predictions."""
    rows, answers = [], {}
    for batch in scenario["batches"]:
        for r, identifier in enumerate(batch["puzzle_identifiers"]):
            if identifier == 0:
                continue
            task, _, augmentation = scenario["identifiers"][identifier].partition("|||")
            rows.append({"inputs": batch["inputs"][r], "labels": batch["labels"][r], "puzzle_id": identifier,
                         "puzzle_name": task, "augmentation": augmentation})
            key = (identifier, np.array(batch["inputs"][r], np.int64).tobytes())
            answers[key] = (np.array(batch[round_name]["preds"][r]), batch[round_name]["q_halt_logits"][r])
    return Dataset.from_list(rows), ReplayModel(answers)


def test_arc_pass_at_k_with_voting_across_evaluation_rounds(reference_dir):
    """Through `evaluate`: the official pass@K of round 1, then round 2 with the votes of round 1 kept."""
    scenario = json.loads((reference_dir / "arc_voting" / "scenario.json").read_text())
    expected = json.loads((reference_dir / "arc_voting" / "expected.json").read_text())
    voting = ARCVoting()
    split, model = arc_split(scenario, "round1")
    round1 = evaluate(model, split, task="arc", batch_size=16, arc_voting=voting, progress=False)
    assert {k: round1[k] for k in voting.result()} == {
        k.removeprefix("ARC/"): v for k, v in expected["round1"]["metrics"].items()}
    assert round1["num_tasks"] == 4 and round1["num_puzzles"] == 40

    split, model = arc_split(scenario, "round2")
    round2 = evaluate(model, split, task="arc", batch_size=7, arc_voting=voting, progress=False)
    assert round2["pass@1"] == expected["round2_aggregated_voting_true"]["metrics"]["ARC/pass@1"] == 0.875
    assert json.dumps(voting.submission()) == json.dumps(
        {task: expected["round2_aggregated_voting_true"]["submission"][task] for task in voting.test_pairs})


def test_trm_eval_cli_writes_results_with_provenance_and_plot(sudoku4, tmp_path, capsys):
    dd, metadata = sudoku4
    data_dir = save_puzzle_dataset(dd, metadata, tmp_path / "data")
    model_dir = tmp_path / "model"
    tiny_trm().save_pretrained(model_dir)

    exit_code = main([str(model_dir), "--dataset", str(data_dir), "--max-steps", "3", "--batch-size", "4",
                      "--limit", "5", "--plot", str(tmp_path / "steps.png")])
    assert exit_code == 0
    results = json.loads((model_dir / "eval_results.json").read_text())  # default: next to the model
    assert results["num_puzzles"] == 5 and results["limit"] == 5
    assert (results["model"], results["dataset"], results["split"]) == (str(model_dir), str(data_dir), "test")
    assert (results["model_type"], results["halting"], results["max_steps"], results["trained_steps"]) == (
        "trm", "fixed", 3, 2)
    assert results["dataset_recipe"] == "sudoku4x4-gen" and results["date"].startswith("20")
    assert len(results["accuracy_by_step"]["exact_accuracy"]) == 3
    assert '"exact_accuracy"' in capsys.readouterr().out
    image = matplotlib.image.imread(tmp_path / "steps.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100

    # The card built from that file carries exactly these numbers in its model-index.
    card = render_model_card(model_dir)
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == {
        k: results[k] for k in ("exact_accuracy", "cell_accuracy", "halting_accuracy", "mean_steps", "sudoku_valid_rate")}

    assert main([str(model_dir), "--dataset", str(data_dir), "--split", "validation"]) == 2
    assert "no split 'validation'" in capsys.readouterr().err


def test_trm_eval_by_difficulty_writes_the_bands_for_the_card_and_refuses_other_puzzles(sudoku4, tmp_path, capsys):
    dd, metadata = sudoku4
    data_dir = save_puzzle_dataset(dd, metadata, tmp_path / "data")
    model_dir = tmp_path / "model"
    tiny_trm().save_pretrained(model_dir)

    assert main([str(model_dir), "--dataset", str(data_dir), "--by-difficulty"]) == 0
    results = json.loads((model_dir / "eval_results.json").read_text())
    bands = results["exact_accuracy_by_difficulty"]
    assert sum(band["num_puzzles"] for band in bands) == results["num_puzzles"] == 6
    assert f"0 guesses: exact {100 * bands[0]['exact_accuracy']:.1f}% of {bands[0]['num_puzzles']}\n" in (
        capsys.readouterr().out)
    assert "Exact accuracy by difficulty" in render_model_card(model_dir, save=False).text

    mazes, maze_metadata = build_dataset("maze-gen-small", num_train=1, num_test=2)
    maze_dir = save_puzzle_dataset(mazes, maze_metadata, tmp_path / "mazes")
    assert main([str(model_dir), "--dataset", str(maze_dir), "--by-difficulty"]) == 2
    assert f"--by-difficulty rates Sudokus; {maze_dir} is a maze dataset" in capsys.readouterr().err


def test_eval_results_keep_one_result_per_dataset_split_and_settings(tmp_path):
    from training.evaluation import load_eval_results, save_eval_results

    path = tmp_path / "eval_results.json"
    base = {"exact_accuracy": 0.5, "halting": "fixed", "max_steps": 4}
    save_eval_results(base, path, dataset="me/sudoku", split="test")
    assert isinstance(json.loads(path.read_text()), dict)  # one evaluation: one object, as before
    save_eval_results(dict(base, halting="adaptive"), path, keep_others=True, dataset="me/sudoku", split="test")
    save_eval_results(base, path, keep_others=True, dataset="me/sudoku", split="train")
    save_eval_results(dict(base, exact_accuracy=0.75), path, keep_others=True, dataset="me/sudoku", split="test")
    entries = load_eval_results(path)
    assert [(e["split"], e["halting"], e["exact_accuracy"]) for e in entries] == [
        ("test", "adaptive", 0.5), ("train", "fixed", 0.5), ("test", "fixed", 0.75)]
    save_eval_results(base, path, dataset="me/sudoku", split="test")  # without keep_others: the file is replaced
    assert len(load_eval_results(path)) == 1


def test_eval_refuses_a_halting_confidence_with_fixed_halting(tmp_path, capsys):
    """`trm eval --halting fixed --halt-confidence 0.9` used to ignore the confidence without a word."""
    from modeling_trm import PuzzleProcessor, TRMConfig, TRMForPuzzleSolving
    from training.cli import main as trm

    TRMForPuzzleSolving(TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_attention_heads=2, num_layers=1,
                                  puzzle_embedding_dim=0)).save_pretrained(tmp_path / "model")
    PuzzleProcessor("sudoku", grid_size=4).save_pretrained(tmp_path / "model")
    dataset, metadata = build_dataset("sudoku4x4-gen", num_train=2, num_test=2, num_aug=0)
    save_puzzle_dataset(dataset, metadata, tmp_path / "data")
    for extra in (["--halting", "fixed"], []):  # fixed given, or trm eval's default
        assert trm(["eval", str(tmp_path / "model"), "--dataset", str(tmp_path / "data"), "--halt-confidence", "0.9",
                    *extra]) == 2
        assert "trm eval: error: halt_confidence=0.9 applies to adaptive halting only" in capsys.readouterr().err
    assert not (tmp_path / "model" / "eval_results.json").exists()
