"""`pipeline("puzzle-solving", model=..., trust_remote_code=True)`: puzzles in, solved grids out.

A custom transformers pipeline (`preprocess` -> `_forward` -> `postprocess`). Saved models name it in
``config.json`` (``custom_pipelines``) and carry this file, so the pipeline loads through remote code
where this package is not installed:

    from transformers import pipeline

    solver = pipeline("puzzle-solving", model="me/trm-sudoku", trust_remote_code=True)
    solver("1.3.....2..1....")                        # one puzzle -> one dict
    solver([puzzle_a, puzzle_b], halting="adaptive")  # a list -> a list of dicts

With this package installed, ``pipeline("puzzle-solving", model=..., pipeline_class=PuzzleSolvingPipeline)`` runs
the installed code instead of the folder's copies (no ``trust_remote_code`` needed).

Each answer: ``solution`` (the grid, as lists), ``text`` (the grid as the processor prints it), ``steps``
(supervision steps run), ``halt_confidence`` (sigmoid of the final halting logit: the model's belief that
the answer is right), ``valid`` and ``problem`` (the puzzle's rules checked on the answer: ``None`` for ARC,
which has no rules to check; compare with the test output instead).

This file is copied next to saved models for ``trust_remote_code``: it imports third-party libraries only.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import Pipeline

PIPELINE_TASK = "puzzle-solving"
# what `config.json`'s `custom_pipelines` holds for saved models (the format `Pipeline.save_pretrained` writes)
CUSTOM_PIPELINE_ENTRY = {"impl": "pipeline_trm.PuzzleSolvingPipeline", "pt": ["AutoModel"], "tf": [], "type": "text"}
SOLVE_OPTIONS = ("max_steps", "halting", "halt_confidence", "compile")


class PuzzleSolvingPipeline(Pipeline):
    r"""
    Solves puzzles with a TRM/HRM and its `PuzzleProcessor`.

    Call arguments:
        inputs: one puzzle or a list of puzzles, in any form the processor accepts (a Sudoku string such as
            ``"53..7...."``, a maze as rows of ``#``/`` ``/``S``/``G``, an ARC grid as lists of colours).
        puzzle_names (`str` or `list[str]`, *optional*): puzzle-embedding names (ARC task ids), one per puzzle.
        max_steps, halting, halt_confidence, compile: `SolveConfig` fields for this call (default: the model's
            ``solve_config.json``).
    """

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False

    def _sanitize_parameters(self, **kwargs):
        unknown = set(kwargs) - set(SOLVE_OPTIONS)
        if unknown:
            raise TypeError(f"unknown puzzle-solving option(s) {sorted(unknown)}; known: puzzle_names, "
                            f"{', '.join(SOLVE_OPTIONS)}")
        return {}, kwargs, {}  # `solve` keeps the saved value of an option given as None

    def __call__(self, inputs, puzzle_names=None, **kwargs):
        # One puzzle may itself be a list (the rows of a grid): tell it from a list of puzzles here, and pair
        # each puzzle with its name, before the base class iterates over the list.
        single = self._is_one_puzzle(inputs)
        puzzles = [inputs] if single else list(inputs)
        names = [puzzle_names] if isinstance(puzzle_names, str) else puzzle_names
        if names is not None and len(names) != len(puzzles):
            raise ValueError(f"got {len(puzzles)} puzzle(s) but {len(names)} puzzle_names")
        items = [{"puzzle": puzzle, "puzzle_name": None if names is None else names[i]}
                 for i, puzzle in enumerate(puzzles)]
        outputs = super().__call__(items, **kwargs)
        return outputs[0] if single else outputs

    def _is_one_puzzle(self, inputs) -> bool:
        if isinstance(inputs, str):
            return True
        if isinstance(inputs, np.ndarray):
            return inputs.ndim <= 2 if self.processor.task != "sudoku" else inputs.ndim == 1 or inputs.shape == (
                self.processor.grid_size, self.processor.grid_size)
        if len(inputs) == 0:
            return False
        first = inputs[0]
        if self.processor.task == "sudoku":  # a flat list of digits, or one grid as rows of digits
            if isinstance(first, str):  # a list of puzzle strings
                return False
            return np.ndim(first) == 0 or (not isinstance(first, str) and np.ndim(first) == 1
                                           and len(inputs) == self.processor.grid_size
                                           and len(first) == self.processor.grid_size)
        if self.processor.task == "maze":  # one maze: rows as strings (or as lists of characters)
            return isinstance(first, str) and len(first) == self.processor.grid_size \
                and len(inputs) == self.processor.grid_size or np.ndim(first) == 1 and isinstance(first[0], str) \
                and len(first[0]) == 1
        return not isinstance(first, str) and len(first) > 0 and np.ndim(first[0]) == 0  # ARC: rows of colours

    def preprocess(self, item):
        names = None if item["puzzle_name"] is None else [item["puzzle_name"]]
        encoded = self.processor([item["puzzle"]], puzzle_names=names)
        return {"input_ids": encoded["input_ids"], "puzzle_ids": encoded["puzzle_ids"]}

    def _forward(self, model_inputs, **solve_options):
        output = self.model.solve(model_inputs["input_ids"], model_inputs["puzzle_ids"], **solve_options)
        # the halting logit of the step each puzzle stopped at (later steps are NaN under adaptive halting)
        final_halt_logits = output.halt_logits.gather(0, (output.steps - 1)[None]).squeeze(0)
        return {"input_ids": model_inputs["input_ids"], "predictions": output.predictions, "steps": output.steps,
                "halt_logits": final_halt_logits}

    def postprocess(self, model_outputs):
        processor = self.processor
        predictions = model_outputs["predictions"][0]
        grid = processor.decode(predictions)
        problem, valid = None, None
        if processor.task != "arc":
            problem = processor.check_solution(model_outputs["input_ids"][0], predictions)
            valid = problem is None
        solution = grid.tolist() if hasattr(grid, "tolist") else grid
        if processor.task == "maze":
            solution = ["".join(row) for row in solution]
        return {"solution": solution, "text": processor.to_text(grid), "steps": int(model_outputs["steps"][0]),
                "halt_confidence": float(torch.sigmoid(model_outputs["halt_logits"][0].float())),
                "valid": valid, "problem": problem}


__all__ = ["CUSTOM_PIPELINE_ENTRY", "PIPELINE_TASK", "PuzzleSolvingPipeline"]
