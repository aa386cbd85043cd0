"""The sample puzzle ``trm train`` prints at the end: a held-out puzzle, the model's answer and a verdict
computed from the answer (the task's rules and the held-out solution), never chosen by hand."""

from __future__ import annotations

import numpy as np
import torch

from modeling_trm.processing_trm import IGNORE_LABEL_ID
from training.data import collate

SAMPLE_CANDIDATES = 64  # test puzzles searched for one the model solves


def answer_verdict(processor, question, answer, solution) -> tuple[bool, str]:
    """``(solved, text)`` for one decoded answer: does it match the held-out solution, and (Sudoku) is it a
    valid grid that keeps every given — checked by the rules, independently of the solution."""
    matches = bool(np.array_equal(np.asarray(answer), np.asarray(solution)))
    if processor.task == "sudoku":
        from hub_datasets.sudoku import sudoku_errors

        error = sudoku_errors(np.asarray(question)[None], np.asarray(answer)[None])[0]
        size = processor.grid_size
        rules = (f"valid solution (every row, column and box holds 1..{size} once; every given kept)" if error is None
                 else f"not valid: {error}")
        return matches and error is None, rules + ("; matches the held-out solution" if matches
                                                   else "; differs from the held-out solution")
    if matches:
        return True, "matches the held-out solution"
    wrong = int((np.asarray(answer) != np.asarray(solution)).sum()) if np.shape(answer) == np.shape(solution) else None
    return False, "wrong: differs from the held-out solution" + (f" in {wrong} cells" if wrong is not None else "")


@torch.no_grad()
def sample_solution_text(model, test_dataset, processor, device="cpu", exact_accuracy: float | None = None) -> str:
    """Solve the first `SAMPLE_CANDIDATES` test puzzles (fixed halting, the trained number of steps) and show
    the first one the model solves, labelled as such, beside the split's exact accuracy; if it solves none,
    the first puzzle and what is wrong with its answer."""
    count = min(SAMPLE_CANDIDATES, len(test_dataset))
    batch = collate(test_dataset, np.arange(count), device)
    output = model.solve(batch["input_ids"], puzzle_ids=batch["puzzle_ids"], halting="fixed")
    questions = processor.decode(batch["input_ids"].cpu())
    answers = processor.decode(output.predictions.cpu())
    labels = batch["labels"].cpu()
    solutions = processor.decode(torch.where(labels == IGNORE_LABEL_ID, batch["input_ids"].cpu(), labels))
    verdicts = [answer_verdict(processor, q, a, s) for q, a, s in zip(questions, answers, solutions)]
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
    return (f"{which}:\n{processor.to_text(questions[index])}\nModel's answer after {int(output.steps[index])} "
            f"supervision steps — {verdicts[index][1]}:\n{processor.to_text(answers[index])}")
