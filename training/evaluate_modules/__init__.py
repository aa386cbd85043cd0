"""`evaluate` metric modules bundled with the package; load them offline with `training.metrics.load_metric(name)`.

Each sub-folder is a standard `evaluate` module (`evaluate.load("<folder>")`); the arithmetic lives in
`training.metrics`, the modules only declare the inputs.
"""
