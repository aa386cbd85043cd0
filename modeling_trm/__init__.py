"""TRM and HRM as transformers models (filled in by the modeling work)."""
