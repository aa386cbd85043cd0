"""ARC-AGI pass@K with the official TRM voting over augmented variants (`evaluators/arc.py`)."""

import datasets
import evaluate

from training.metrics import ARC_PASS_KS, ARCVoting, arc_variant_name

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
        voting = ARCVoting(pass_ks=pass_ks)
        names = [arc_variant_name(name, augmentation) for name, augmentation in zip(puzzle_names, augmentations)]
        voting.update(inputs, predictions, halt_logits, names, labels=references)
        return {**voting.result(), "num_tasks": len(voting.test_pairs)}
