"""The sample `trm train` prints: the first held-out puzzle the model solves, with a verdict computed from
the answer (the task's rules + the held-out solution), or the first puzzle's failure when none is solved."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hub_datasets import build_dataset
from modeling_trm.processing_trm import PuzzleProcessor
from training.sample import SAMPLE_CANDIDATES, answer_verdict, sample_solution_text


class ScriptedModel:
    """Answers with the held-out solution for the rows in `solved`, else with `wrong(solution)`."""

    def __init__(self, labels, solved, wrong):
        self.labels, self.solved, self.wrong = labels, set(solved), wrong

    def solve(self, input_ids, puzzle_ids=None, halting="fixed"):
        rows = [self.labels[i] if i in self.solved else self.wrong(self.labels[i]) for i in range(len(input_ids))]
        return SimpleNamespace(predictions=torch.tensor(np.stack(rows)), steps=torch.full((len(rows),), 4))


@pytest.fixture(scope="module")
def sudoku4():
    dataset, _ = build_dataset("sudoku4x4-gen", num_train=4, num_test=8, num_aug=1)
    test = dataset["test"]
    return test, np.asarray(test["labels"], dtype=np.int64), PuzzleProcessor(task="sudoku", grid_size=4)


def swap_two_rows_digits(labels):  # a wrong answer: first two cells swapped (breaks the givens or a column)
    wrong = labels.copy()
    wrong[[0, 1]] = wrong[[1, 0]]
    return wrong


def test_the_first_solved_puzzle_is_shown_and_labelled(sudoku4):
    test, labels, processor = sudoku4
    text = sample_solution_text(ScriptedModel(labels, solved=[2, 5], wrong=swap_two_rows_digits), test, processor,
                                exact_accuracy=0.25)
    count = min(SAMPLE_CANDIDATES, len(test))
    assert text.startswith(f"Test puzzle #3, the first of the first {count} that the model solves "
                           f"[2 of these {count} solved; exact accuracy on the whole test split: 25.0%]")
    assert "valid solution (every row, column and box holds 1..4 once; every given kept)" in text
    assert "matches the held-out solution" in text
    assert text.endswith(processor.to_text(processor.decode(labels[2])))


def test_a_model_that_solves_nothing_shows_the_first_puzzle_and_why_it_is_wrong(sudoku4):
    test, labels, processor = sudoku4
    text = sample_solution_text(ScriptedModel(labels, solved=[], wrong=swap_two_rows_digits), test, processor)
    assert text.startswith("Test puzzle #1 (the model solves none of the first")
    expected = answer_verdict(processor, np.asarray(test["inputs"][0]), swap_two_rows_digits(labels[0]), labels[0])
    assert expected[0] is False and expected[1].startswith("not valid: ") and expected[1] in text


def test_verdict_checks_the_rules_not_only_the_solution():
    processor = PuzzleProcessor(task="sudoku", grid_size=4)
    solution = np.array([[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]])
    question = np.where(np.eye(4, dtype=bool), solution, 0)
    tokens = lambda digits: digits.reshape(-1) + 1  # blank 0 -> token 1, digit d -> d + 1
    assert answer_verdict(processor, tokens(question), tokens(solution), tokens(solution)) == (
        True, "valid solution (every row, column and box holds 1..4 once; every given kept); matches the held-out solution")
    other = solution[[1, 0, 3, 2]]  # a valid grid, but it changes the givens on the diagonal
    solved, text = answer_verdict(processor, tokens(question), tokens(other), tokens(solution))
    assert not solved and text == "not valid: row 1, column 1 changes the given 1 to 3; differs from the held-out solution"
