"""Exact puzzle accuracy and cell accuracy of token predictions (TRM/HRM official definitions).

Self-contained (numpy, datasets, evaluate only), so it loads with `evaluate.load` from a folder or the Hub
without the trm-hf package; `training.metrics.puzzle_correctness` is the same arithmetic.
"""

import datasets
import evaluate
import numpy as np

IGNORE_LABEL_ID = -100

_DESCRIPTION = """
Exact accuracy: fraction of puzzles whose every supervised cell is predicted correctly.
Cell accuracy: per puzzle, the fraction of supervised cells predicted correctly, averaged over puzzles.
Label positions equal to `ignore_index` (default -100: ARC padding) are not supervised; puzzles with no
supervised cell are left out of both means (as in the official TRM/HRM loss head).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `int`): predicted token ids, one sequence per puzzle.
    references (`list` of `list` of `int`): label token ids, same shape; `ignore_index` = not supervised.
    ignore_index (`int`, defaults to -100): label id of unsupervised positions.
Returns:
    exact_accuracy (`float`), cell_accuracy (`float`), num_puzzles (`int`, puzzles with supervised cells).
Examples:
    >>> metric = evaluate.load("puzzle_accuracy")  # a folder or a Hub id
    >>> metric.compute(predictions=[[2, 3], [2, 4]], references=[[2, 3], [2, 3]])
    {'exact_accuracy': 0.5, 'cell_accuracy': 0.75, 'num_puzzles': 2}
"""

# Copied, not imported: an evaluate module loads from the Hub as this one file, so the TRM citation
# and the MetricInfo boilerplate below stand again in the modules halting_accuracy and arc_pass_at_k.
_CITATION = """
@article{jolicoeurmartineau2025trm,
  title={Less is More: Recursive Reasoning with Tiny Networks},
  author={Jolicoeur-Martineau, Alexia},
  journal={arXiv preprint arXiv:2510.04871},
  year={2025}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PuzzleAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int64")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            ),
        )

    def _compute(self, predictions, references, ignore_index=IGNORE_LABEL_ID):
        predictions, references = np.asarray(predictions), np.asarray(references)
        if predictions.shape != references.shape:
            raise ValueError(f"predictions {predictions.shape} and references {references.shape} differ in shape")
        mask = references != ignore_index
        correct = ((predictions == references) & mask).sum(-1)
        num_supervised = mask.sum(-1)
        supervised = num_supervised > 0  # rows without a supervised cell are left out of both means
        exact = correct == num_supervised
        cell = correct / np.maximum(num_supervised, 1)
        count = int(supervised.sum())
        return {
            "exact_accuracy": float(exact[supervised].mean()) if count else float("nan"),
            "cell_accuracy": float(cell[supervised].mean()) if count else float("nan"),
            "num_puzzles": count,
        }
