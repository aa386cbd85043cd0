"""ARC-AGI pass@K with the official TRM voting over augmented variants (`evaluators/arc.py`).

Self-contained (numpy, datasets, evaluate only), so it loads with `evaluate.load` from a folder or the Hub
without the trm-hf package. `training.metrics.ARCVoting` is the package's implementation of the same
voting (with rounds and submissions); tests/training/test_evaluate_modules.py keeps the two equal.
"""

import hashlib

import datasets
import evaluate
import numpy as np

ARC_PASS_KS = (1, 2, 5, 10, 100, 1000)
IGNORE_LABEL_ID = -100
CANVAS, COLOUR_OFFSET = 30, 2  # 30x30 canvas; colour c is token c + 2 (0 = PAD, 1 = EOS)
SEPARATOR = "|||"
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)  # official ids: 0 identity, 1-3 rot90 k times, 4 lr, 5 ud, 6 T, 7 anti-T

_DESCRIPTION = """
Every augmented variant (dihedral transform + colour permutation) of an ARC test input is solved on
its own; each prediction is cropped at EOS (official max-area crop), mapped back to the original frame
(inverse dihedral, then inverse colour map) and votes for that grid. Per test pair the candidates are
ranked by vote count, ties broken by the mean sigmoid of the halting logit. A pair is solved at K when
the true output is among the top K; a task scores solved pairs / pairs; pass@K is the mean over tasks.
The true output is the de-augmented crop of the references (labels of the test split).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `int`): predicted tokens on the 30x30 canvas (900 per row).
    references (`list` of `list` of `int`): label tokens of the same rows (-100 = ignored).
    inputs (`list` of `list` of `int`): input tokens of the same rows (the test input, augmented).
    puzzle_names (`list` of `str`): original task name of each row (dataset column `puzzle_name`).
    augmentations (`list` of `str`): how the row was made (dataset column `augmentation`, "" = identity).
    halt_logits (`list` of `float`): halting logit of each row's final answer.
    pass_ks (`list` of `int`, defaults to (1, 2, 5, 10, 100, 1000)).
Returns:
    `pass@K` (`float`) for each K, and `num_tasks` (`int`).
"""

# Copied, not imported: an evaluate module loads from the Hub as this one file, so the TRM citation
# and the MetricInfo boilerplate below stand again in the modules puzzle_accuracy and halting_accuracy.
_CITATION = """
@article{jolicoeurmartineau2025trm,
  title={Less is More: Recursive Reasoning with Tiny Networks},
  author={Jolicoeur-Martineau, Alexia},
  journal={arXiv preprint arXiv:2510.04871},
  year={2025}
}
@article{chollet2019measure,
  title={On the Measure of Intelligence},
  author={Chollet, Fran{\\c{c}}ois},
  journal={arXiv preprint arXiv:1911.01547},
  year={2019}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ArcPassAtK(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int64")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                    "inputs": datasets.Sequence(datasets.Value("int64")),
                    "puzzle_names": datasets.Value("string"),
                    "augmentations": datasets.Value("string"),
                    "halt_logits": datasets.Value("float32"),
                }
            ),
        )

    def _compute(self, predictions, references, inputs, puzzle_names, augmentations, halt_logits, pass_ks=ARC_PASS_KS):
        # task -> input hash -> true output (first-seen order), and the votes [(prediction hash, sigmoid q)]
        test_pairs, votes = {}, {}
        # official: sigmoid of the float32 logit, in float64
        confidences = 1.0 / (1.0 + np.exp(-np.asarray(halt_logits, np.float32).astype(np.float64)))
        for row, (task, augmentation) in enumerate(zip(puzzle_names, augmentations)):
            original_input = _invert(augmentation, _crop(inputs[row]))
            input_hash = _grid_hash(original_input)
            label = np.asarray(references[row])
            output = _invert(augmentation, _crop(np.where(label == IGNORE_LABEL_ID, 0, label)))
            known = test_pairs.setdefault(task, {}).setdefault(input_hash, output)
            if known.shape != output.shape or not (known == output).all():
                raise ValueError(f"ARC task {task!r}, augmentation {augmentation!r}: its de-augmented label disagrees "
                                 "with another variant of the same test input")
            prediction_hash = _grid_hash(_invert(augmentation, _crop(predictions[row])))
            votes.setdefault(task, {}).setdefault(input_hash, []).append((prediction_hash, float(confidences[row])))
        scores = dict.fromkeys(pass_ks, 0.0)
        for task, pairs in test_pairs.items():
            solved = dict.fromkeys(pass_ks, 0)
            for input_hash, output in pairs.items():
                stats = {}
                for prediction_hash, confidence in votes[task][input_hash]:
                    entry = stats.setdefault(prediction_hash, [0, 0.0])
                    entry[0] += 1
                    entry[1] += confidence
                # most votes first, the mean confidence breaks ties; the stable sort keeps first-seen order
                ranked = [h for h, _ in sorted(stats.items(), key=lambda kv: (kv[1][0], kv[1][1] / kv[1][0]), reverse=True)]
                label_hash = _grid_hash(output)
                for k in pass_ks:
                    solved[k] += label_hash in ranked[:k]
            for k in pass_ks:
                scores[k] += solved[k] / len(pairs)
        num_tasks = len(test_pairs)
        result = {f"pass@{k}": scores[k] / num_tasks if num_tasks else float("nan") for k in pass_ks}
        return {**result, "num_tasks": num_tasks}


# _crop and _grid_hash are copies of modeling_trm/processing_trm.py's crop_arc_grid and grid_hash (this module
# loads from the Hub alone); tests/training/test_evaluate_modules.py checks that the two give the same votes.
def _crop(tokens) -> np.ndarray:
    """The official crop (`evaluators/arc.py:_crop`): colours of the largest-area top-left rectangle."""
    grid = np.asarray(tokens, dtype=np.int64).reshape(CANVAS, CANVAS)
    is_colour = (grid >= COLOUR_OFFSET) & (grid <= COLOUR_OFFSET + 9)
    leading_run = np.where(is_colour.all(1), CANVAS, np.argmin(is_colour, axis=1))
    widths = np.minimum.accumulate(leading_run)
    areas = widths * np.arange(1, CANVAS + 1)
    if areas.max() == 0:
        return np.zeros((0, 0), np.uint8)
    rows = int(np.argmax(areas)) + 1
    return (grid[:rows, : widths[rows - 1]] - COLOUR_OFFSET).astype(np.uint8)


def _grid_hash(grid) -> str:
    """The official `grid_hash`: SHA-256 of the shape (one byte per dimension) and the uint8 cells."""
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return hashlib.sha256(bytes(grid.shape) + grid.tobytes()).hexdigest()


def _dihedral(grid: np.ndarray, transform_id: int) -> np.ndarray:
    if transform_id in (1, 2, 3):
        return np.rot90(grid, k=transform_id)
    if transform_id == 4:
        return np.flip(grid, axis=1)
    if transform_id == 5:
        return np.flip(grid, axis=0)
    if transform_id == 6:
        return grid.T
    if transform_id == 7:
        return np.flip(np.rot90(grid, k=1), axis=1)
    return grid


def _invert(augmentation: str, grid: np.ndarray) -> np.ndarray:
    """Back to the original frame: inverse dihedral transform, then inverse colour map (official order).
    `augmentation` is "" or "t<d>[|||<10-digit colour map>[|||o<row>,<col>]]" (the offset needs no undoing)."""
    if not augmentation:
        return grid
    parts = augmentation.split(SEPARATOR)
    if not parts[0].startswith("t") or not parts[0][1:].isdigit() or int(parts[0][1:]) > 7:
        raise ValueError(f"cannot parse ARC augmentation {augmentation!r}")
    out = np.ascontiguousarray(_dihedral(grid, DIHEDRAL_INVERSE[int(parts[0][1:])]))
    if len(parts) > 1 and not parts[1].startswith("o"):
        colour_map = np.array([int(c) for c in parts[1]])
        if sorted(colour_map.tolist()) != list(range(10)):
            raise ValueError(f"cannot parse ARC augmentation {augmentation!r}: bad colour map")
        out = np.argsort(colour_map).astype(np.uint8)[out]
    return out
