"""`evaluate` module folder (the `__init__` only makes the folder ship with the package)."""
