"""Training, evaluation and publishing of recursive reasoning models with Accelerate."""
