"""Accuracy of the halting (Q) head: does `halt_logit >= 0` agree with the puzzle being solved exactly?

Self-contained (numpy, datasets, evaluate only), so it loads with `evaluate.load` from a folder or the Hub
without the trm-hf package; `training.metrics.halting_accuracy` is the same arithmetic.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """
TRM/HRM learn a halting head whose logit predicts whether the current answer is exactly right.
Halting accuracy is the fraction of puzzles where the head's verdict `halt_logit >= 0` equals the
puzzle's exact correctness (official `q_halt_accuracy`). Use the halt logit of the step whose answer
is scored (the last supervision step the puzzle ran).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): halt logits, one per puzzle.
    references (`list` of `int`): 1 if the puzzle's answer is exactly correct, else 0.
Returns:
    halting_accuracy (`float`).
Examples:
    >>> metric = evaluate.load("halting_accuracy")  # a folder or a Hub id
    >>> metric.compute(predictions=[3.0, -2.0, 0.5], references=[1, 1, 0])
    {'halting_accuracy': 0.3333333333333333}
"""

# Copied, not imported: an evaluate module loads from the Hub as this one file, so the TRM citation
# and the MetricInfo boilerplate below stand again in the modules puzzle_accuracy and arc_pass_at_k.
_CITATION = """
@article{jolicoeurmartineau2025trm,
  title={Less is More: Recursive Reasoning with Tiny Networks},
  author={Jolicoeur-Martineau, Alexia},
  journal={arXiv preprint arXiv:2510.04871},
  year={2025}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class HaltingAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("float32"), "references": datasets.Value("int8")}),
        )

    def _compute(self, predictions, references):
        halt_logits, solved = np.asarray(predictions, np.float64), np.asarray(references).astype(bool)
        agree = (halt_logits >= 0) == solved
        return {"halting_accuracy": float(agree.mean()) if agree.size else float("nan")}
