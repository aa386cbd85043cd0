"""Evaluation: score a model on a puzzle dataset split, write the results the model card reads, plot them.

* `evaluator` - `evaluate(model, dataset, metadata, ...)` (``model.solve`` over the split, scored with
  `training.metrics`) and `save_eval_results` (``eval_results.json``, one layout for ``trm eval`` and
  ``trm train``), and `calibrate_halt_confidence` (the halting confidence at which adaptive halting is most
  exact, and as exact as fixed halting, chosen on puzzles outside the test split);
* `cli` - ``trm eval``;
* `plots` - accuracy against inference steps, training curves;
* the metrics themselves (plain numpy functions, the official ARC voting) are `training.metrics`, and the
  ``evaluate`` modules built on them `training/evaluate_modules/` (``training.metrics.load_metric(name)``).
"""

from training.evaluation.cli import main
from training.evaluation.evaluator import (
    PROVENANCE_KEYS,
    calibrate_halt_confidence,
    check_dataset_matches_model,
    evaluate,
    load_eval_results,
    result_identity,
    save_eval_results,
)
from training.evaluation.plots import plot_accuracy_vs_steps, plot_training_curves

__all__ = [
    "PROVENANCE_KEYS",
    "calibrate_halt_confidence",
    "check_dataset_matches_model",
    "evaluate",
    "load_eval_results",
    "main",
    "plot_accuracy_vs_steps",
    "plot_training_curves",
    "result_identity",
    "save_eval_results",
]
