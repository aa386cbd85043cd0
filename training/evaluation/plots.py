"""Plots of a model's accuracy: against inference steps (``trm eval --plot``) and against training steps
(``training_curves.png`` beside a trained model, from its ``training_log.json``)."""

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


def plot_accuracy_vs_steps(results: dict, path: str | Path, title: str | None = None) -> Path:
    """PNG of exact and cell accuracy after each supervision step; steps past training are shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_step = results["accuracy_by_step"]
    trained_steps = results.get("trained_steps")
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    ax.plot(by_step["steps"], by_step["exact_accuracy"], marker="o", markersize=3, label="exact (puzzle) accuracy")
    ax.plot(by_step["steps"], by_step["cell_accuracy"], marker="s", markersize=3, label="cell accuracy")
    if trained_steps:
        ax.axvline(trained_steps, color="grey", linestyle="--", linewidth=1, label=f"trained with {trained_steps} steps")
        if by_step["steps"][-1] > trained_steps:
            ax.axvspan(trained_steps, by_step["steps"][-1], color="grey", alpha=0.12, label="test-time compute")
    ax.set_xlabel("supervision steps")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or f"{results.get('model', 'model')} on {results.get('dataset', 'dataset')} ({results.get('split', '')})",
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
