"""The training curves PNG saved beside a trained model (from its ``training_log.json``)."""

from __future__ import annotations

import json
from pathlib import Path


def plot_training_curves(log_path: str | Path, png_path: str | Path) -> Path:
    """Training loss and eval exact accuracy against the optimizer step, from ``training_log.json``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = json.loads(Path(log_path).read_text())
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    loss_ax.plot([r["step"] for r in log["train"]], [r["loss"] for r in log["train"]])
    loss_ax.set(xlabel="optimizer step (= supervision step)", ylabel="training loss", title="loss")
    for key, label in (("exact_accuracy", "exact"), ("cell_accuracy", "cell")):
        acc_ax.plot([r["step"] for r in log["eval"]], [r[key] for r in log["eval"]], marker="o", label=label)
    acc_ax.set(xlabel="optimizer step", ylabel="test accuracy (EMA weights)", ylim=(0, 1), title="evaluation")
    acc_ax.legend()
    fig.suptitle(f"{log['config'].get('dataset_recipe') or log['config'].get('dataset')}")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return Path(png_path)
