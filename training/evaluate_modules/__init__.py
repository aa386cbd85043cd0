"""`evaluate` metric modules bundled with the package; load them offline with `training.metrics.load_metric(name)`.

Each sub-folder is a standard, self-contained `evaluate` module: its script imports only numpy, datasets
and evaluate (never this package), so `evaluate.load("<folder>")` works anywhere, and
`training.metrics.push_evaluate_module(name, "<namespace>/<name>")` publishes it as a Hub metric Space
that `evaluate.load("<namespace>/<name>")` reads. The arithmetic matches `training.metrics` (tested).
"""
