"""The `evaluate` modules shipped with the package: offline `evaluate.load`, `add_batch`, `evaluate.combine`."""

from __future__ import annotations

import json

import evaluate
import numpy as np
import pytest

from training.metrics import evaluate_module_path, load_metric


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The modules load from the installed package, with the Hub unreachable."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_puzzle_accuracy_module():
    metric = load_metric("puzzle_accuracy")
    metric.add_batch(predictions=[[2, 3, 4, 6], [2, 3, 9, 9]], references=[[2, 3, 4, 5], [2, 3, -100, -100]])
    metric.add_batch(predictions=[[7, 7, 7, 7]], references=[[-100] * 4])  # no supervised cell: left out
    assert metric.compute() == {"exact_accuracy": 0.5, "cell_accuracy": 0.875, "num_puzzles": 2}


def test_halting_accuracy_module():
    metric = load_metric("halting_accuracy")
    result = metric.compute(predictions=[3.0, 0.0, -2.0, -0.5], references=[1, 0, 0, 1])
    assert result == {"halting_accuracy": 0.5}


def test_unknown_module_lists_the_available_ones():
    with pytest.raises(ValueError, match="arc_pass_at_k.*halting_accuracy.*puzzle_accuracy"):
        evaluate_module_path("pass_at_k")


def test_arc_pass_at_k_module_combined_with_puzzle_accuracy(reference_dir):
    """On the official ARC voting scenario: pass@K from the labels equals the official numbers."""
    scenario = json.loads((reference_dir / "arc_voting" / "scenario.json").read_text())
    rows = [
        (batch["inputs"][r], batch["labels"][r], batch["round1"]["preds"][r], batch["round1"]["q_halt_logits"][r], i)
        for batch in scenario["batches"]
        for r, i in enumerate(batch["puzzle_identifiers"])
        if i != 0
    ]
    inputs, labels, predictions, halt_logits, ids = map(list, zip(*rows))
    names = [scenario["identifiers"][i].split("|||", 1) for i in ids]
    combined = evaluate.combine([load_metric("puzzle_accuracy"), load_metric("arc_pass_at_k")])
    # `add_batch` hands each module only the inputs it declares (`compute(**all)` would not).
    combined.add_batch(
        predictions=predictions,
        references=labels,
        inputs=inputs,
        puzzle_names=[n[0] for n in names],
        augmentations=[n[1] if len(n) == 2 else "" for n in names],
        halt_logits=halt_logits,
    )
    result = combined.compute()
    assert result["pass@1"] == 0.625 and result["pass@2"] == result["pass@1000"] == 0.875
    assert result["num_tasks"] == 4
    # Per-variant exact accuracy: which rows' predictions equal their labels on every supervised cell.
    exact = [all(p == t for p, t in zip(pred, lab) if t != -100) for pred, lab in zip(predictions, labels)]
    assert result["exact_accuracy"] == pytest.approx(np.mean(exact)) and result["num_puzzles"] == 40


@pytest.mark.parametrize("name", ["puzzle_accuracy", "halting_accuracy", "arc_pass_at_k"])
def test_module_scripts_are_self_contained(name):
    """A module loaded from the Hub has only its own file: it may import third-party libraries only."""
    import ast

    tree = ast.parse((evaluate_module_path(name) / f"{name}.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree)), "relative import"
    assert imported <= {"datasets", "evaluate", "numpy", "hashlib"}, imported


def test_arc_module_equals_the_package_voting_on_a_real_build(arc_fixture_dir):
    """The module's own copy of the official voting gives `training.metrics.ARCVoting`'s pass@K on an ARC
    build with mixed right, wrong and tied predictions."""
    from hub_datasets import build_dataset
    from training.metrics import ARCVoting, arc_variant_name

    dd, _ = build_dataset("arc-tiny", source=arc_fixture_dir, num_tasks=4, num_aug=8)
    test = dd["test"].with_format("numpy")[:]
    labels, inputs = test["labels"], test["inputs"]
    rng = np.random.default_rng(0)
    predictions = np.where(labels == -100, 0, labels)
    wrong = rng.random(len(labels)) < 0.4  # some variants vote for a corrupted grid
    predictions[wrong, 0] = np.where(predictions[wrong, 0] == 2, 3, 2)
    predictions[test["puzzle_name"] == test["puzzle_name"][0]] = 0  # one task: every variant votes for an empty grid
    halt_logits = rng.choice([-1.0, 0.0, 2.0], size=len(labels)).astype(np.float32)  # exact ties included
    names = [arc_variant_name(n, a) for n, a in zip(test["puzzle_name"], test["augmentation"])]
    voting = ARCVoting()
    voting.update(inputs, predictions, halt_logits, names, labels=labels)
    module = load_metric("arc_pass_at_k").compute(
        predictions=predictions.tolist(), references=labels.tolist(), inputs=inputs.tolist(),
        puzzle_names=list(test["puzzle_name"]), augmentations=list(test["augmentation"]),
        halt_logits=halt_logits.tolist())
    assert module == {**voting.result(), "num_tasks": len(voting.test_pairs)}
    assert 0 < module["pass@1"] < 1
