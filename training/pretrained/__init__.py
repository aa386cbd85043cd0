"""Models shipped with the package: each subfolder holding a ``config.json`` is a complete model folder
(weights, processor, solve config, card) that `trm demo` offers without training or downloading."""

from __future__ import annotations

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent


def shipped_models(folder: Path = PRETRAINED_DIR) -> dict[str, Path]:
    """``{name: folder}`` of the shipped models, sorted by name; empty when none are shipped yet."""
    if not folder.is_dir():
        return {}
    return {child.name: child for child in sorted(folder.iterdir()) if (child / "config.json").is_file()}
