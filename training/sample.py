"""The sample puzzle ``trm train`` prints at the end: a held-out puzzle, the model's answer and a verdict
computed from the answer (the task's rules and the held-out solution), never chosen by hand."""

from __future__ import annotations

import numpy as np
import torch

from modeling_trm.processing_trm import IGNORE_LABEL_ID, one_based
from training.data import collate

SAMPLE_CANDIDATES = 64  # test puzzles searched for one the model solves


# what a valid solution is, in the words of the sample
RULES = {"sudoku": "every row, column and box holds 1..{size} once; every given kept",
         "maze": "walls, S and G kept; the path cells 'o' mark a shortest route from S to G"}


def answer_verdict(processor, input_ids, answer_ids, solution_ids) -> tuple[bool, str]:
    """``(solved, text)`` for one answer, token ids ``[S]`` as the puzzle's and the held-out solution's: does
    it match the held-out solution, and (Sudoku, maze) is it a valid solution by the task's rules
    (`PuzzleProcessor.check_solution`, independently of the held-out solution)."""
    answer, solution = np.asarray(processor.decode(answer_ids)), np.asarray(processor.decode(solution_ids))
    matches = answer.shape == solution.shape and bool((answer == solution).all())
    if processor.task == "arc":  # no rules: the held-out solution decides
        if matches:
            return True, "matches the held-out solution"
        wrong = f" in {int((answer != solution).sum())} cells" if answer.shape == solution.shape else ""
        return False, "wrong: differs from the held-out solution" + wrong
    problem = processor.check_solution(input_ids, answer_ids)
    rules = (f"valid solution ({RULES[processor.task].format(size=processor.grid_size)})" if problem is None
             else f"not valid: {one_based(problem)}")  # counted from 1, as the puzzle's number
    return matches and problem is None, rules + ("; matches the held-out solution" if matches
                                                 else "; differs from the held-out solution")


@torch.no_grad()
def sample_solution_text(model, test_dataset, processor, device="cpu", exact_accuracy: float | None = None) -> str:
    """Solve the first `SAMPLE_CANDIDATES` test puzzles (fixed halting, the trained number of steps) and show
    the first one the model solves, labelled as such, beside the split's exact accuracy; if it solves none,
    the first puzzle and what is wrong with its answer."""
    count = min(SAMPLE_CANDIDATES, len(test_dataset))
    batch = collate(test_dataset, np.arange(count), device)
    output = model.solve(batch["input_ids"], puzzle_ids=batch["puzzle_ids"], halting="fixed")
    inputs, labels = batch["input_ids"].cpu(), batch["labels"].cpu()
    answers = output.predictions.cpu()
    solutions = torch.where(labels == IGNORE_LABEL_ID, inputs, labels)
    verdicts = [answer_verdict(processor, *puzzle) for puzzle in zip(inputs, answers, solutions)]
    solved = [index for index, (ok, _) in enumerate(verdicts) if ok]
    index = solved[0] if solved else 0
    notes = [f"{len(solved)} of these {count} solved"]
    if exact_accuracy is not None:
        notes.append(f"exact accuracy on the whole test split: {exact_accuracy:.1%}")
    if solved:
        which = f"Test puzzle #{index + 1}, the first of the first {count} that the model solves"
    else:
        which = f"Test puzzle #1 (the model solves none of the first {count} test puzzles)"
    which += f" [{'; '.join(notes)}]"
    return (f"{which}:\n{processor.to_text(processor.decode(inputs[index]))}\nModel's answer after "
            f"{int(output.steps[index])} supervision steps — {verdicts[index][1]}:\n"
            f"{processor.to_text(processor.decode(answers[index]))}")
