class PuzzleSolverMixin:
    """Filled in by solving work."""
