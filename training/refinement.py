"""Watch a model refine one puzzle: the answer after every supervision step, what changed, the halting
confidence, where adaptive halting would stop, and whether the answer is a valid solution.

Shared by ``trm demo`` (the Gradio app), ``trm solve --animate`` and the Python API::

    from training.refinement import animate_solve
    animate_solve(model, processor, "......1.2..4.....534.....2..31...2..", "refinement.gif", max_steps=16)

Frames are drawn with `hub_datasets.pictures` (the package's puzzle pictures).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from hub_datasets.pictures import grid_image, save_animation
from modeling_trm.processing_trm import PuzzleProcessor, check_mazes, check_sudokus


@dataclasses.dataclass
class Refinement:
    """One puzzle solved step by step. Steps are numbered from 1; step 0 is the puzzle itself."""

    task: str
    input_ids: np.ndarray  # [S] the puzzle's tokens
    step_ids: np.ndarray  # [steps, S] the answer's tokens after each supervision step
    halt_confidence: np.ndarray  # [steps] sigmoid of the halting logit after each step
    adaptive_stop: int | None  # first step at which the model's halting rule says "done" (None: never)
    problems: list[str | None] | None  # per step: None = a valid solution, else what is wrong; None for ARC
    halting: str  # "fixed" or "adaptive": how the steps were run

    @property
    def num_steps(self) -> int:
        return len(self.step_ids)

    @property
    def final_problem(self) -> str | None:
        return None if self.problems is None else self.problems[-1]

    def validity_message(self, step: int | None = None) -> str:
        """'valid solution' or 'not a valid solution: ...' for a step (default: the last); '' for ARC."""
        if self.problems is None:
            return ""
        problem = self.problems[(step or self.num_steps) - 1]
        return "valid solution" if problem is None else f"not a valid solution: {problem}"


def solve_with_refinements(model, processor: PuzzleProcessor, inputs, max_steps: int | None = None,
                           halting: str | None = None, batch_size: int | None = None,
                           halt_confidence: float | None = None):
    """``model.solve`` on encoded ``inputs`` keeping every step: ``(SolveOutput, [Refinement per puzzle])``.

    ``max_steps`` / ``halting`` / ``halt_confidence`` default to the model's `SolveConfig`; with ``"fixed"``
    halting all steps run and `Refinement.adaptive_stop` still says where the model's halting rule would have stopped.
    """
    batch = len(inputs["input_ids"])
    wants_to_halt: dict[int, torch.Tensor] = {}  # step -> [batch] bool

    config = model.solve_config.resolve(model.config, max_steps=max_steps, halting=halting, batch_size=batch_size,
                                        halt_confidence=halt_confidence, return_intermediate=True)

    def record(step, solve_step):  # the halting rule of `solve(halting="adaptive")`, at every step
        halts = wants_to_halt.setdefault(step, torch.zeros(batch, dtype=torch.bool))
        halts[solve_step.indices.cpu()] = model.wants_to_halt(solve_step.halt_logits, solve_step.continue_logits,
                                                              config.halt_confidence).cpu()

    output = model.solve(**inputs, solve_config=config, callback=record)
    all_inputs = inputs["input_ids"].cpu().numpy()
    refinements = []
    for index, input_ids in enumerate(all_inputs):
        steps = int(output.steps[index])
        step_ids = output.intermediate_predictions[:steps, index].cpu().numpy()
        stops = [step for step in range(1, steps + 1) if wants_to_halt[step][index]]
        refinements.append(Refinement(
            task=processor.task,
            input_ids=input_ids,
            step_ids=step_ids,
            halt_confidence=torch.sigmoid(output.halt_logits[:steps, index].float()).cpu().numpy(),
            adaptive_stop=stops[0] if stops else None,
            problems=None if processor.task == "arc" else processor.check_solution(
                np.broadcast_to(input_ids, step_ids.shape), step_ids),
            halting=config.halting,
        ))
    return output, refinements


def refine(model, processor: PuzzleProcessor, puzzle, puzzle_name: str | None = None, max_steps: int | None = None,
           halting: str | None = None) -> Refinement:
    """Solve one puzzle (any form `processor` accepts) and keep every step (see `solve_with_refinements`)."""
    inputs = processor([puzzle], puzzle_names=None if puzzle_name is None else [puzzle_name])
    return solve_with_refinements(model, processor, inputs, max_steps=max_steps, halting=halting)[1][0]


def drawable_grid(processor: PuzzleProcessor, tokens) -> np.ndarray:
    """Tokens ``[S]`` as the grid `hub_datasets.pictures.draw_grid` draws (sudoku digits, maze codes, ARC colours)."""
    if processor.task == "maze":  # codes of "# SGo" = token - 1; PAD (never a valid answer) drawn as wall
        return np.clip(np.asarray(tokens, dtype=np.int64) - 1, 0, 4).reshape(processor.grid_size, processor.grid_size)
    return np.asarray(processor.decode(np.asarray(tokens)))


def changed_cells(processor: PuzzleProcessor, refinement: Refinement, step: int) -> np.ndarray:
    """Cells whose answer at ``step`` differs from the previous step (step 1: from the puzzle)."""
    current, previous = (drawable_grid(processor, refinement.step_ids[s - 1]) if s else
                         drawable_grid(processor, refinement.input_ids) for s in (step, step - 1))
    if step == 0 or current.shape != previous.shape:
        return np.zeros(current.shape, bool)
    return current != previous


def wrong_cells(processor: PuzzleProcessor, refinement: Refinement, step: int) -> np.ndarray:
    """Cells of the answer at ``step`` that break the puzzle's rules, to mark in red (none for step 0 and
    ARC). Sudoku: blanks, changed givens and every digit twice in a row, column or box; maze: changed
    walls, start or goal, path cells not connected to the start, and path cells that no shortest route
    passes (a path too long only by cells of other shortest routes has none to mark)."""
    if step == 0 or refinement.problems is None or refinement.problems[step - 1] is None:
        answer = refinement.step_ids[step - 1] if step else refinement.input_ids
        return np.zeros(drawable_grid(processor, answer).shape, bool)  # an ARC answer's shape may differ
    puzzle, answer = (np.asarray(tokens).reshape(1, processor.grid_size, processor.grid_size)
                      for tokens in (refinement.input_ids, refinement.step_ids[step - 1]))
    check = check_sudokus(puzzle, answer) if processor.task == "sudoku" else check_mazes(puzzle, answer)
    return check.wrong_cells[0]


def step_title(refinement: Refinement, step: int) -> str:
    if step == 0:
        return "puzzle"
    title = f"step {step}/{refinement.num_steps}  halt {refinement.halt_confidence[step - 1]:.2f}"
    if refinement.adaptive_stop == step:
        title += "  (halts)"
    return title


def draw_step(processor: PuzzleProcessor, refinement: Refinement, step: int):
    """Step ``step`` (0 = the puzzle) as a ``PIL.Image``: changed cells highlighted (a Sudoku shows the
    replaced digit small in the corner), cells that break a rule in red, the halting confidence and the
    adaptive stop in the title."""
    given = drawable_grid(processor, refinement.input_ids) if processor.task == "sudoku" else None
    grids = [drawable_grid(processor, refinement.step_ids[s - 1] if s else refinement.input_ids)
             for s in (step, max(step - 1, 0))]
    return grid_image(grids[0], processor.task, given=given, title=step_title(refinement, step),
                      changed=changed_cells(processor, refinement, step),
                      wrong=wrong_cells(processor, refinement, step),
                      previous=grids[1] if processor.task == "sudoku" and step else None)


def save_refinement_animation(processor: PuzzleProcessor, refinement: Refinement, path: str | Path,
                              frame_ms: int = 700) -> Path:
    """The puzzle and every step as an animated GIF or PNG (by suffix), written atomically."""
    frames = [draw_step(processor, refinement, step) for step in range(refinement.num_steps + 1)]
    return save_animation(frames, path, frame_ms=frame_ms)


def animate_solve(model, processor: PuzzleProcessor, puzzle, path: str | Path, puzzle_name: str | None = None,
                  max_steps: int | None = None, halting: str | None = None, frame_ms: int = 700) -> Refinement:
    """Solve ``puzzle`` and write its refinement as an animated GIF/PNG to ``path``; returns the `Refinement`."""
    refinement = refine(model, processor, puzzle, puzzle_name=puzzle_name, max_steps=max_steps, halting=halting)
    save_refinement_animation(processor, refinement, path, frame_ms=frame_ms)
    return refinement


__all__ = ["Refinement", "animate_solve", "draw_step", "refine", "save_refinement_animation", "solve_with_refinements"]
