"""`trm train` chooses its adaptive-halting confidence on puzzles that are neither train nor test."""

from __future__ import annotations

import json

import numpy as np

from modeling_trm import TRMForPuzzleSolving
from training.config import PRESETS, TrainingConfig, apply_overrides
from training.data import split_off_calibration
from training.evaluation.evaluator import HALT_CONFIDENCE_CANDIDATES


def _rows(dataset) -> set[bytes]:
    return {np.asarray(row, np.uint8).tobytes() for row in dataset["inputs"]}


def test_a_generated_recipe_calibrates_on_fresh_puzzles_outside_train_and_test():
    import hub_datasets

    config = TrainingConfig.from_dict(apply_overrides(PRESETS["sudoku4x4"].to_dict(), {"halt_calibration_puzzles": 64}))
    dataset, _ = hub_datasets.build_dataset(config.dataset_recipe, seed=config.dataset_seed, **config.dataset_options)
    train, calibration, source = split_off_calibration(config, dataset)
    assert train is dataset and "fresh puzzles" in source
    # 4x4 puzzles repeat often across seeds: the overlap is really removed, not merely unlikely
    assert 0 < len(calibration) <= 64
    assert not _rows(calibration) & (_rows(dataset["train"]) | _rows(dataset["test"]))


def test_a_built_dataset_holds_its_last_groups_out_of_training(sudoku4_dataset):
    import hub_datasets

    config = TrainingConfig(dataset=sudoku4_dataset, halt_calibration_puzzles=256)
    dataset = hub_datasets.load_puzzle_dataset(sudoku4_dataset)
    groups = len(set(dataset["train"]["group_id"]))
    train, calibration, _ = split_off_calibration(config, dataset)
    held = groups // 10  # at most a tenth of the groups
    assert len(calibration) == held
    assert set(calibration["group_id"]).isdisjoint(train["train"]["group_id"])
    assert len(set(train["train"]["group_id"])) == groups - held
    # one example per held-out group: its original (first) variant
    assert all(augmentation == "" for augmentation in calibration["augmentation"])
    assert split_off_calibration(TrainingConfig(dataset=sudoku4_dataset, halt_calibration_puzzles=0), dataset)[1] is None


def test_the_run_saves_the_chosen_confidence_and_fixed_against_adaptive_on_test(tiny_config, tmp_path):
    from training.train import train

    folder = train(tiny_config(max_steps=12, halt_calibration_puzzles=32))
    report = json.loads((folder / "halt_calibration.json").read_text())
    model = TRMForPuzzleSolving.from_pretrained(folder)
    assert report["num_puzzles"] > 0 and "held out of training" in report["source"]
    assert [c["halt_confidence"] for c in report["candidates"]] == sorted(HALT_CONFIDENCE_CANDIDATES)
    chosen = report["halt_confidence"]
    if chosen is None:  # nothing matched fixed halting: the training rule stays
        assert model.solve_config.halt_confidence == 0.5
    else:  # the most exact candidate at least as exact as fixed halting on the calibration puzzles
        reaching = [c for c in report["candidates"] if c["exact_accuracy"] >= report["target_exact_accuracy"] - 1e-12]
        best = max(c["exact_accuracy"] for c in reaching)
        assert chosen == min(c["halt_confidence"] for c in reaching if c["exact_accuracy"] == best)
        assert chosen == model.solve_config.halt_confidence
    test = report["test"]
    assert test["adaptive"]["halt_confidence"] == model.solve_config.halt_confidence
    assert test["fixed"]["mean_steps"] == test["fixed"]["max_steps"] == model.config.max_supervision_steps
    assert 1 <= test["adaptive"]["mean_steps"] <= test["fixed"]["max_steps"]
    # the card's results: the paper's fixed evaluation and adaptive halting at the chosen confidence
    from training.evaluation import load_eval_results

    results = {entry["halting"]: entry for entry in load_eval_results(folder / "eval_results.json")}
    assert results["fixed"]["exact_accuracy"] == test["fixed"]["exact_accuracy"]
    assert results["adaptive"]["exact_accuracy"] == test["adaptive"]["exact_accuracy"]
    assert results["adaptive"]["halt_confidence"] == model.solve_config.halt_confidence
