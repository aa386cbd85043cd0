"""Laptop-scale reproduction of the TRM paper's comparisons and ablations (arXiv 2510.04871).

Every model is trained on the same generated puzzles, for the same number of optimizer steps, with the
same seeds and the same recipe (AdamATan2, deep supervision, EMA) through the package's public API
(``hub_datasets.build_dataset`` -> ``training.train.train(TrainingConfig)`` -> ``training.evaluation.evaluate``),
then evaluated on the test split:

* ``trm-mlp``      TRM with the MLP token mixer (the paper's best Sudoku model, the base of the ablations)
* ``trm-att``      TRM with self-attention (paper: "self-attention" row)
* ``hrm``          HRM: two networks of 2x the TRM depth each, 2x2 cycles, 1-step gradient
* ``single-pass``  no recursion, no deep supervision: HRM with ``high_cycles = low_cycles = 1`` and
                   ``max_supervision_steps = 1`` is one pass of its low- then high-level network, i.e. a
                   plain transformer with the layers of both modules (the paper's "direct prediction",
                   docs/numerics.md#ablations); trained with one supervision step per example
* ``trm-1step``    TRM-MLP with the HRM-style 1-step gradient (``gradient_mode="one_step"``)
* ``trm-no-ema``   TRM-MLP without EMA of the weights
* ``trm-4layers``  TRM-MLP with 4 layers and half the latent updates (paper: 4 layers n=3 vs 2 layers n=6;
                   effective depth T(n+1)L stays comparable)
* ``trm-single-z`` TRM-MLP with one latent feature instead of y and z (``single_latent=True``)

    python benchmarks/ablation.py --scale tiny --seeds 1                 # CI smoke run, ~30 s
    python benchmarks/ablation.py --scale cpu --seeds 3 --jobs 2         # the study, about 35 minutes on 2 cores
    python benchmarks/ablation.py --scale paper --paper-dataset DATA --dry-run   # the paper's GPU launch lines

Writes ``results.json``, ``results.md`` and PNGs (accuracy vs training step, accuracy vs inference steps
including more steps than trained with, one puzzle refined step by step) to ``--output``, and, for a folder
of ``benchmarks/results`` that docs/reproduction.md shows, the page's block of it (``doc_block``); the trained
models go to ``--work-dir`` (finished runs with the same settings are reused, so an interrupted study
resumes).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import numpy as np

REPO_ROOT = harness.REPO_ROOT
RESULTS_DIR = harness.RESULTS_ROOT / "ablation"
RUN_RESULT = "ablation_run.json"
DOC_PAGE = REPO_ROOT / "docs" / "reproduction.md"


def doc_block(output: Path) -> harness.GeneratedBlock | None:
    """The block of docs/reproduction.md that shows a committed results folder (``benchmarks/results/NAME``), named
    after it: the script rewrites it with the folder whenever the page has one (tests/benchmarks checks each against
    its results.json), so the page's study numbers are never typed by hand. None for a folder outside the results."""
    output = output.resolve()
    if output.parent != harness.RESULTS_ROOT.resolve():
        return None
    writer = "benchmarks/ablation.py" + ("" if output == RESULTS_DIR.resolve() else
                                         f" --output {output.relative_to(REPO_ROOT.resolve()).as_posix()}")
    return harness.GeneratedBlock(DOC_PAGE, f"{output.name.replace('_', '-')}-results", writer)


DOC_BLOCK = doc_block(RESULTS_DIR)  # the study at its own length, the page's "Results (cpu scale)"


# ---------------------------------------------------------------------------------------------
# Scales and models


@dataclasses.dataclass(frozen=True)
class Scale:
    """One size of the study. All models of a scale share everything here."""

    description: str
    recipe: str  # a hub_datasets recipe (generated locally: nothing is downloaded)
    dataset_options: dict[str, Any]
    hidden_size: int
    num_attention_heads: int
    num_recursions: int  # T of the 2-layer TRMs
    num_latent_updates: int  # n of the 2-layer TRMs (the 4-layer ablation uses n // 2)
    max_supervision_steps: int  # N_sup
    global_batch_size: int
    epochs: int  # passes over the training *groups*, one random variant each (official unit): steps = epochs x groups / batch
    evaluations: int  # evaluations during training (points of the accuracy-vs-step curve)
    lr: float
    lr_warmup_steps: int
    weight_decay: float
    ema_rate: float
    test_time_steps: int  # supervision steps of the accuracy-vs-inference-steps curve (> N_sup)
    eval_max_examples: int | None = None  # test examples evaluated *during* training (final eval: all)
    lr_min_ratio: float = 1.0  # cosine decay of the lr to this fraction of it (1.0: constant)
    forward_dtype: str = "float32"  # "auto": bfloat16 where the hardware computes it natively (the official dtype)
    # bf16 attention on a CPU is faster through the eager implementation than through PyTorch's SDPA
    # (docs/recipes.md#bfloat16-on-the-cpu); the two compute the same attention
    attn_implementation: str = "sdpa"


SCALES: dict[str, Scale] = {
    "tiny": Scale(
        description="CI smoke size: 4x4 sudoku, width 32, a few dozen steps",
        recipe="sudoku4x4-gen",
        dataset_options=dict(num_train=32, num_test=32, num_aug=3),
        hidden_size=32, num_attention_heads=2, num_recursions=2, num_latent_updates=2, max_supervision_steps=2,
        global_batch_size=32, epochs=8, evaluations=2, lr=3e-3, lr_warmup_steps=5, weight_decay=0.1,
        ema_rate=0.9, test_time_steps=4,
    ),
    "cpu": Scale(
        description="6x6 sudoku (generated, unique solutions, 15 symmetry augmentations per train puzzle), "
        "width 64, bfloat16 where the CPU computes it natively (the small presets' dtype; float32 elsewhere)",
        recipe="sudoku6x6-gen",
        dataset_options=dict(num_train=512, num_test=256, num_aug=15),
        hidden_size=64, num_attention_heads=4, num_recursions=2, num_latent_updates=4, max_supervision_steps=8,
        global_batch_size=64, epochs=160, evaluations=5, lr=1e-3, lr_warmup_steps=50, weight_decay=0.1,
        ema_rate=0.99, test_time_steps=16, eval_max_examples=128,
        lr_min_ratio=0.1, forward_dtype="auto", attn_implementation="eager",
    ),
}

MODELS = ("trm-mlp", "trm-att", "hrm", "single-pass", "trm-1step", "trm-no-ema", "trm-4layers", "trm-single-z")

DESCRIPTIONS = {
    "trm-mlp": "TRM, MLP token mixer, 2 layers, T recursions of n latent updates (paper's best Sudoku model)",
    "trm-att": "TRM, self-attention + RoPE, 2 layers",
    "hrm": "HRM: low- and high-level networks of 4 layers each, 2x2 cycles, 1-step gradient, Q-learning halting",
    "single-pass": "no recursion, no deep supervision: HRM with 1x1 cycles and 1 supervision step = one pass "
    "of an 8-layer attention transformer (paper's direct prediction, docs/numerics.md#ablations)",
    "trm-1step": "TRM-MLP, gradient only through the last latent and answer update (HRM's 1-step gradient)",
    "trm-no-ema": "TRM-MLP trained without EMA of the weights",
    "trm-4layers": "TRM-MLP with 4 layers and n/2 latent updates (comparable effective depth)",
    "trm-single-z": "TRM-MLP with one latent z instead of the pair (y, z)",
}

# The claims of the paper this study checks: (better, worse, claim).
CLAIMS = [
    ("trm-mlp", "hrm", "TRM (one tiny network) beats HRM (two larger networks)"),
    ("trm-att", "hrm", "TRM with attention beats HRM"),
    ("trm-mlp", "single-pass", "recursion beats a single pass of a deeper network"),
    ("hrm", "single-pass", "HRM's recursion beats a single pass"),
    ("trm-mlp", "trm-att", "on Sudoku the MLP mixer beats self-attention"),
    ("trm-mlp", "trm-1step", "full backpropagation through the last recursion beats the 1-step gradient"),
    ("trm-mlp", "trm-no-ema", "EMA helps"),
    ("trm-mlp", "trm-4layers", "2 layers with more recursion beat 4 layers with less"),
    ("trm-mlp", "trm-single-z", "two latent features (y, z) beat one"),
]


def model_settings(name: str, scale: Scale) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(model_type, model kwargs, TrainingConfig deltas)`` of one model of the study."""
    common = dict(hidden_size=scale.hidden_size, num_attention_heads=scale.num_attention_heads, expansion=4,
                  max_supervision_steps=scale.max_supervision_steps, halt_exploration_prob=0.1,
                  puzzle_embedding_dim=0, forward_dtype=scale.forward_dtype,
                  attn_implementation=scale.attn_implementation)
    trm = dict(common, num_layers=2, num_recursions=scale.num_recursions, num_latent_updates=scale.num_latent_updates,
               puzzle_prefix_len=0, act_continue=False)
    mlp = dict(trm, token_mixer="mlp", position_encoding="none")
    # Attention models use RoPE, as the paper's do. Without a puzzle prefix it gives relative offsets only, but
    # learned absolute positions (tried: seed 0, 640 steps) learn slower here: TRM-Att 43% vs 56% cell accuracy.
    hrm = dict(common, num_high_layers=4, num_low_layers=4, high_cycles=2, low_cycles=2, position_encoding="rope")
    if name == "trm-mlp":
        return "trm", mlp, {}
    if name == "trm-att":
        return "trm", dict(trm, token_mixer="attention", position_encoding="rope"), {}
    if name == "hrm":
        return "hrm", hrm, {}
    if name == "single-pass":
        return "hrm", dict(hrm, high_cycles=1, low_cycles=1, max_supervision_steps=1, halt_exploration_prob=0.0), {}
    if name == "trm-1step":
        return "trm", dict(mlp, gradient_mode="one_step"), {}
    if name == "trm-no-ema":
        return "trm", mlp, {"ema": False}
    if name == "trm-4layers":
        return "trm", dict(mlp, num_layers=4, num_latent_updates=max(1, scale.num_latent_updates // 2)), {}
    if name == "trm-single-z":
        return "trm", dict(mlp, single_latent=True), {}
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def training_config(name: str, scale: Scale, seed: int, dataset_dir: Path, output_dir: Path):
    from training.config import TrainingConfig

    model_type, model, deltas = model_settings(name, scale)
    values = dict(
        dataset=str(dataset_dir), model_type=model_type, model=model, seed=seed,
        global_batch_size=scale.global_batch_size, epochs=scale.epochs,
        eval_interval=scale.epochs // scale.evaluations, eval_at_start=True, eval_max_examples=scale.eval_max_examples,
        lr=scale.lr, lr_warmup_steps=scale.lr_warmup_steps, lr_min_ratio=scale.lr_min_ratio, weight_decay=scale.weight_decay,
        ema=True, ema_rate=scale.ema_rate, log_interval=10, log_with="none", keep_checkpoints=1,
        output_dir=str(output_dir), solve_sample=False,
        halt_calibration_puzzles=0,  # the study compares fixed halting, trained on every puzzle of its split
    )
    return TrainingConfig(**{**values, **deltas})


# ---------------------------------------------------------------------------------------------
# One run: train, then evaluate the saved (EMA) model


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (model, seed) and evaluate it. Runs in a worker process when ``--jobs > 1``."""
    import torch

    torch.set_num_threads(job["threads"])
    from transformers import AutoModel

    import modeling_trm  # noqa: F401  (registers TRM/HRM with the Auto classes)
    from hub_datasets import load_dataset_metadata, load_puzzle_dataset
    from training.evaluation import evaluate
    from training.train import train

    scale = Scale(**job["scale"])
    run_dir, dataset_dir = Path(job["run_dir"]), Path(job["dataset_dir"])
    config = training_config(job["model"], scale, job["seed"], dataset_dir, run_dir)
    cached = run_dir / RUN_RESULT
    if cached.is_file():
        previous = json.loads(cached.read_text())
        if previous.get("training_config") == config.to_dict():
            print(f"[{job['model']} seed {job['seed']}] reusing the finished run in {run_dir}", flush=True)
            return {**previous, "reused": True}

    print(f"[{job['model']} seed {job['seed']}] training ({job['threads']} thread(s)) -> {run_dir}", flush=True)
    started = time.perf_counter()
    train(config)
    train_seconds = time.perf_counter() - started

    log = json.loads((run_dir / "training_log.json").read_text())
    model = AutoModel.from_pretrained(run_dir).eval()
    test, metadata = load_puzzle_dataset(dataset_dir)["test"], load_dataset_metadata(dataset_dir)
    trained_steps = model.config.max_supervision_steps
    # The paper's evaluation (every puzzle runs all trained steps) extended past them: test-time compute.
    fixed = evaluate(model, test, metadata, halting="fixed", max_steps=max(scale.test_time_steps, trained_steps),
                     progress=False)
    adaptive = evaluate(model, test, metadata, halting="adaptive", max_steps=trained_steps, progress=False)
    by_step = fixed["accuracy_by_step"]
    result = {
        "model": job["model"],
        "seed": job["seed"],
        "model_type": config.model_type,
        "parameters": model.num_parameters(),
        "train_seconds": train_seconds,
        "optimizer_steps": log["train"][-1]["step"] if log["train"] else 0,
        "trained_supervision_steps": trained_steps,
        # Paper metric: exact accuracy after all trained supervision steps (fixed halting).
        "exact_accuracy": by_step["exact_accuracy"][trained_steps - 1],
        "cell_accuracy": by_step["cell_accuracy"][trained_steps - 1],
        "adaptive_exact_accuracy": adaptive["exact_accuracy"],
        "mean_halting_steps": adaptive["mean_steps"],
        "halting_accuracy": adaptive["halting_accuracy"],
        "sudoku_valid_rate": fixed.get("sudoku_valid_rate"),
        "num_test_puzzles": fixed["num_puzzles"],
        "accuracy_by_step": by_step,
        "training_curve": [{"step": e["step"], "exact_accuracy": e["exact_accuracy"], "cell_accuracy": e["cell_accuracy"]}
                           for e in log["eval"]],
        "run_dir": str(run_dir),
        "threads": job["threads"],
        "training_config": config.to_dict(),
    }
    harness.write_text_atomically(cached, json.dumps(result, indent=1))
    print(f"[{job['model']} seed {job['seed']}] exact {result['exact_accuracy']:.3f}  cell {result['cell_accuracy']:.3f}  "
          f"{train_seconds:.0f}s", flush=True)
    return result


def run_study(models: list[str], scale: Scale, seeds: int, work_dir: Path, jobs: int, threads: int) -> list[dict]:
    """Build the dataset once, then train and evaluate every (model, seed), ``jobs`` at a time."""
    from hub_datasets import build_dataset, save_puzzle_dataset

    options = ",".join(f"{k}={v}" for k, v in sorted(scale.dataset_options.items()))
    dataset_dir = work_dir / f"data-{scale.recipe}-{options}"
    if not (dataset_dir / "puzzle_dataset.json").is_file():
        dataset, metadata = build_dataset(scale.recipe, seed=0, **scale.dataset_options)
        save_puzzle_dataset(dataset, metadata, dataset_dir)
    # The most expensive models first, so that parallel workers finish together.
    cost = {"hrm": 0, "trm-4layers": 1}
    ordered = sorted(models, key=lambda m: cost.get(m, 2))
    job_list = [dict(model=m, seed=s, threads=threads, scale=dataclasses.asdict(scale), dataset_dir=str(dataset_dir),
                     run_dir=str(work_dir / f"{m}-seed{s}")) for s in range(seeds) for m in ordered]
    if jobs == 1:
        return [run_one(job) for job in job_list]
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no shared torch / Accelerate state
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, max_tasks_per_child=1) as pool:
        return list(pool.map(run_one, job_list))


# ---------------------------------------------------------------------------------------------
# Summary: table, claims, pictures


def _stats(values: list[float]) -> dict[str, float]:
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max())}


def summarise(runs: list[dict], models: list[str]) -> dict[str, dict]:
    summary = {}
    for name in models:
        mine = sorted((r for r in runs if r["model"] == name), key=lambda r: r["seed"])
        summary[name] = {
            "description": DESCRIPTIONS[name],
            "parameters": mine[0]["parameters"],
            "seeds": [r["seed"] for r in mine],
            **{key: _stats([r[key] for r in mine]) for key in
               ("exact_accuracy", "cell_accuracy", "adaptive_exact_accuracy", "mean_halting_steps", "train_seconds")},
            "trained_supervision_steps": mine[0]["trained_supervision_steps"],
            "optimizer_steps": mine[0]["optimizer_steps"],
        }
    return summary


def check_claims(summary: dict[str, dict]) -> list[dict]:
    """Each paper claim, on exact accuracy (the paper's metric) and on cell accuracy (more sensitive at
    laptop scale, where few puzzles may be solved outright): the gap of the means, whether it points the
    paper's way, and whether it is larger than the two seed standard deviations together."""
    checks = []
    for better, worse, claim in CLAIMS:
        if better not in summary or worse not in summary:
            continue
        check = {"claim": claim, "better": better, "worse": worse}
        for metric in ("exact_accuracy", "cell_accuracy"):
            a, b = summary[better][metric], summary[worse][metric]
            gap = a["mean"] - b["mean"]
            # With one seed there is no spread to compare with: `separated` is None.
            one_seed = len(summary[better]["seeds"]) < 2 or len(summary[worse]["seeds"]) < 2
            check[metric] = {"gap": gap, "agrees": bool(gap > 0),
                             "separated": None if one_seed else bool(abs(gap) > a["std"] + b["std"])}
        checks.append(check)
    return checks


def _verdict(check: dict) -> str:
    direction = "as in the paper" if check["agrees"] else "tie" if check["gap"] == 0 else "opposite"
    spread = {True: ", beyond seed spread", False: ", within seed spread", None: ""}[check["separated"]]
    return f"{100 * check['gap']:+.1f} ({direction}{spread})"


def _pm(stats: dict[str, float], percent: bool = True) -> str:
    factor = 100 if percent else 1
    return f"{factor * stats['mean']:.1f} ± {factor * stats['std']:.1f}"


def markdown_table(summary: dict[str, dict], claims: list[dict], scale_name: str, scale: Scale, seeds: int) -> str:
    lines = [
        f"# TRM ablation study, scale `{scale_name}`",
        "",
        f"{scale.description}. Task `{scale.recipe}` {scale.dataset_options}; every model: "
        f"{next(iter(summary.values()))['optimizer_steps']} optimizer steps of batch {scale.global_batch_size}, "
        f"lr {scale.lr}{' with cosine decay to ' + str(scale.lr_min_ratio) + 'x' if scale.lr_min_ratio < 1 else ''}, "
        f"EMA {scale.ema_rate} (every model but trm-no-ema, HRM included, although the HRM repo "
        f"trains without), {seeds} seed(s). "
        f"Accuracy in %, mean ± standard deviation over seeds, on the whole test split after all trained "
        f"supervision steps (the paper's metric); adaptive = stopping each puzzle when its halting head says so.",
        "",
        "| model | params | exact acc. | cell acc. | adaptive exact | mean halting steps | train time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in summary.items():
        lines.append(
            f"| {name} | {row['parameters']:,} | {_pm(row['exact_accuracy'])} | {_pm(row['cell_accuracy'])} | "
            f"{_pm(row['adaptive_exact_accuracy'])} | {_pm(row['mean_halting_steps'], percent=False)} "
            f"/ {row['trained_supervision_steps']} | {row['train_seconds']['mean']:.0f} |"
        )
    lines += ["", "## The paper's claims", "",
              "Gap of the means in points; *beyond seed spread*: larger than the two standard deviations together.", "",
              "| claim | exact accuracy gap | cell accuracy gap |", "|---|---|---|"]
    for check in claims:
        lines.append(f"| {check['claim']} ({check['better']} vs {check['worse']}) | "
                     f"{_verdict(check['exact_accuracy'])} | {_verdict(check['cell_accuracy'])} |")
    lines += ["", "## Models", ""] + [f"* `{name}`: {row['description']}" for name, row in summary.items()]
    return "\n".join(lines) + "\n"


def learning_curves_table(runs: list[dict], models: list[str], evaluated_puzzles: int | None) -> str:
    """Every run's exact accuracy at each evaluation during training, then on the whole test split."""
    runs = sorted(runs, key=lambda r: (models.index(r["model"]), r["seed"]))
    steps = [point["step"] for point in runs[0]["training_curve"][1:]]  # the first point is the untrained model
    during = f"the first {evaluated_puzzles}" if evaluated_puzzles else "all"
    lines = ["## Learning curves", "",
             f"Exact % of {during} test puzzles during training (the final column: all "
             f"{runs[0]['num_test_puzzles']}):", "",
             "| model, seed | " + " | ".join(map(str, steps)) + f" | final, {runs[0]['num_test_puzzles']} puzzles "
             "| train time |",
             "|---|" + "---|" * (len(steps) + 2)]
    for run in runs:
        points = " | ".join(f"{100 * point['exact_accuracy']:.1f}" for point in run["training_curve"][1:])
        lines.append(f"| {run['model']}, {run['seed']} | {points} | {100 * run['exact_accuracy']:.1f} | "
                     f"{run['train_seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


def results_table(results: dict) -> str:
    """``results.md`` of a ``results.json``."""
    study = markdown_table(results["models"], results["claims"], results["scale"], Scale(**results["settings"]),
                           results["seeds"])
    curves = learning_curves_table(results["runs"], list(results["models"]), results["settings"]["eval_max_examples"])
    return study + "\n" + curves


def doc_section(block: harness.GeneratedBlock, table: str) -> str:
    """What ``block`` of docs/reproduction.md holds for a ``results.md`` table: headings demoted under the page's own."""
    return block.section(table, demote_headings=True)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(runs: list[dict], models: list[str], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for index, name in enumerate(models):
        curves = [r["training_curve"] for r in runs if r["model"] == name]
        steps = [p["step"] for p in curves[0]]
        values = np.array([[p["exact_accuracy"] for p in c] for c in curves])
        colour = f"C{index}"
        ax.plot(steps, values.mean(0), marker="o", markersize=3, color=colour, label=name)
        if len(values) > 1:
            ax.fill_between(steps, values.min(0), values.max(0), color=colour, alpha=0.15)
    return _save_accuracy_plot(plt, fig, ax, path, "optimizer step", "exact accuracy (test, EMA weights)",
                               "Accuracy during training (mean over seeds, band = min..max)")


def _save_accuracy_plot(plt, fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    """Label an accuracy-vs-steps plot (accuracy axis 0..1), save it to ``path`` and close it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_inference_steps(runs: list[dict], models: list[str], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    trained = set()
    for index, name in enumerate(models):
        mine = [r for r in runs if r["model"] == name]
        steps = mine[0]["accuracy_by_step"]["steps"]
        values = np.array([r["accuracy_by_step"]["exact_accuracy"] for r in mine])
        ax.plot(steps, values.mean(0), marker="o", markersize=3, color=f"C{index}", label=name)
        trained.add(mine[0]["trained_supervision_steps"])
    for steps in sorted(trained):
        ax.axvline(steps, color="grey", linestyle="--", linewidth=1)
    ax.axvspan(max(trained), max(len(r["accuracy_by_step"]["steps"]) for r in runs), color="grey", alpha=0.1,
               label="beyond training (test-time compute)")
    return _save_accuracy_plot(plt, fig, ax, path, "supervision steps at inference (dashed: steps used in training)",
                               "exact accuracy (test)", "Accuracy vs inference steps (mean over seeds)")


def plot_refinement(runs: list[dict], models: list[str], dataset_dir: Path, path: Path, columns: int = 6) -> Path:
    """One test puzzle refined step by step, one row per model (seed 0): the question, the answer after
    selected supervision steps (title: correct cells), the solution."""
    import torch
    from matplotlib.patches import Rectangle
    from transformers import AutoModel

    import modeling_trm  # noqa: F401  (registers TRM/HRM with the Auto classes)
    from hub_datasets import load_dataset_metadata, load_puzzle_dataset
    from hub_datasets.builders import decode_tokens
    from hub_datasets.pictures import draw_grid

    test, metadata = load_puzzle_dataset(dataset_dir)["test"], load_dataset_metadata(dataset_dir)
    seed0 = {r["model"]: r for r in runs if r["seed"] == min(x["seed"] for x in runs)}
    models = [m for m in models if m in seed0]
    inputs = torch.tensor(np.asarray(test["inputs"], dtype=np.int64))
    labels = np.asarray(test["labels"], dtype=np.int64)

    def rollout(name):
        run = seed0[name]
        model = AutoModel.from_pretrained(run["run_dir"]).eval()
        max_steps = len(run["accuracy_by_step"]["steps"])
        return model.solve(inputs, halting="fixed", max_steps=max_steps, return_intermediate=True).intermediate_predictions.numpy()

    rollouts = {name: rollout(name) for name in models}
    # A puzzle the first model gets right only after refining (wrong at step 1), else the first puzzle.
    first = rollouts[models[0]]
    solved = (first == labels[None]).all(-1)
    candidates = np.flatnonzero(solved[-1] & ~solved[0])
    index = int(candidates[0]) if len(candidates) else 0

    max_steps = max(len(r) for r in rollouts.values())
    shown = sorted(set(np.unique(np.geomspace(1, max_steps, columns).round().astype(int)).tolist()))
    question, solution = decode_tokens(inputs[index].numpy(), metadata), decode_tokens(labels[index], metadata)
    plt = _plt()
    width = len(shown) + 2
    fig, axes = plt.subplots(len(models), width, figsize=(1.7 * width, 1.9 * len(models)), squeeze=False)
    for row, name in enumerate(models):
        draw_grid(axes[row, 0], question, metadata.task, title=f"{name}\npuzzle")
        trajectory = rollouts[name]
        for column, step in enumerate(shown, start=1):
            if step <= len(trajectory):
                tokens = trajectory[step - 1, index]
                correct = int((tokens == labels[index]).sum())
                answer = decode_tokens(tokens, metadata)
                draw_grid(axes[row, column], answer, metadata.task, given=question,
                          title=f"step {step}: {correct}/{labels.shape[1]}")
                for r, c in zip(*np.nonzero(answer != solution)):  # wrong cells in red
                    axes[row, column].add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, color="red", alpha=0.25, lw=0))
            else:
                axes[row, column].axis("off")
        draw_grid(axes[row, -1], solution, metadata.task, given=question, title="solution")
    fig.suptitle(f"Test puzzle {index} refined step by step (bold: given; red: wrong; title: correct cells)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# --scale paper: the paper's recipes, unchanged, through `accelerate launch`

PAPER_RUNS = {  # model -> (preset, overrides): the ablation is the only change to the recipe
    "trm-mlp": ("sudoku-mlp", []),
    "trm-att": ("sudoku-att", []),
    "hrm": ("hrm-sudoku", []),
    "single-pass": ("hrm-sudoku", ["model.high_cycles=1", "model.low_cycles=1", "model.max_supervision_steps=1"]),
    "trm-1step": ("sudoku-mlp", ["model.gradient_mode=one_step"]),
    "trm-no-ema": ("sudoku-mlp", ["ema=false"]),
    "trm-4layers": ("sudoku-mlp", ["model.num_layers=4", "model.num_latent_updates=3"]),
    "trm-single-z": ("sudoku-mlp", ["model.single_latent=true"]),
}


def paper_commands(models: list[str], seeds: int, dataset: str, work_dir: Path, num_processes: int = 1,
                   test_time_steps: int = 32) -> list[list[str]]:
    """``accelerate launch`` lines of the paper's Sudoku-Extreme recipes (then ``trm eval`` of each)."""
    commands = []
    for seed in range(seeds):
        for name in models:
            preset, overrides = PAPER_RUNS[name]
            output = work_dir / f"{name}-seed{seed}"
            launch = ["accelerate", "launch", "--num_processes", str(num_processes)]
            if num_processes > 1:
                launch.append("--multi_gpu")
            commands.append(launch + ["-m", "training.train", "--preset", preset, "--output-dir", str(output),
                                      f"dataset={dataset}", f"seed={seed}", *overrides])
            commands.append(["trm", "eval", str(output), "--dataset", dataset, "--max-steps", str(test_time_steps),
                             "--output", str(output / "eval_test_time_compute.json"),
                             "--plot", str(output / "accuracy_vs_steps.png")])
    return commands


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--scale", choices=[*SCALES, "paper"], default="cpu")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per model (default 3)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), metavar="MODEL",
                        help=f"subset of {', '.join(MODELS)} (default: all)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where results.json, results.md and the PNGs go (default: benchmarks/results/ablation "
                        "for --scale cpu, benchmarks/results/ablation/SCALE otherwise)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="trained models and the dataset (default: ~/.cache/trm-hf/ablation/SCALE)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the scale's training length (passes over the train puzzles; cpu: 160 = 1280 steps)")
    parser.add_argument("--lr", type=float, default=None, help="override the scale's learning rate")
    parser.add_argument("--num-train", type=int, default=None,
                        help="override the scale's number of generated training puzzles (mind --epochs: steps = "
                        "epochs x puzzles / batch)")
    parser.add_argument("--jobs", type=int, default=2, help="trainings in parallel (worker processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training")
    parser.add_argument("--paper-dataset", default=None,
                        help="--scale paper: the built sudoku-extreme-1k-aug-1000 dataset (folder or Hub repo)")
    parser.add_argument("--num-processes", type=int, default=1, help="--scale paper: GPUs per training")
    parser.add_argument("--dry-run", action="store_true", help="--scale paper: print the launch lines only")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.jobs < 1 or args.threads < 1:
        parser.error("--seeds, --jobs and --threads must be >= 1")
    if args.scale == "paper" and not args.paper_dataset:
        parser.error("--scale paper needs --paper-dataset (build it with `trm data sudoku-extreme-1k-aug-1000 ...`)")
    if args.output is None:
        args.output = RESULTS_DIR if args.scale == "cpu" else RESULTS_DIR / args.scale
    if args.work_dir is None:
        args.work_dir = Path(os.environ.get("TRM_ABLATION_DIR", "~/.cache/trm-hf/ablation")).expanduser() / args.scale
    return args


def chosen_scale(args: argparse.Namespace) -> Scale:
    """The scale of ``--scale`` with ``--epochs``, ``--lr`` and ``--num-train`` applied."""
    scale = SCALES[args.scale]
    if args.epochs is not None:
        if args.epochs % scale.evaluations:
            raise SystemExit(f"--epochs must be a multiple of the {scale.evaluations} evaluations of scale {args.scale!r}")
        scale = dataclasses.replace(scale, epochs=args.epochs)
    if args.lr is not None:
        scale = dataclasses.replace(scale, lr=args.lr)
    if args.num_train is not None:
        scale = dataclasses.replace(scale, dataset_options={**scale.dataset_options, "num_train": args.num_train})
    return scale


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models = [m for m in MODELS if m in args.models]
    if args.scale == "paper":
        commands = paper_commands(models, args.seeds, args.paper_dataset, args.work_dir, args.num_processes)
        for command in commands:
            print(shlex.join(command), flush=True)
            if not args.dry_run:
                subprocess.run(command, check=True, cwd=REPO_ROOT)
        return 0

    scale = chosen_scale(args)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runs = run_study(models, scale, args.seeds, args.work_dir, args.jobs, args.threads)
    wall_seconds = time.perf_counter() - started

    summary = summarise(runs, models)
    claims = check_claims(summary)
    dataset_dir = Path(runs[0]["training_config"]["dataset"])
    pictures = {
        "training_curves": plot_training_curves(runs, models, args.output / "accuracy_vs_training_step.png"),
        "inference_steps": plot_inference_steps(runs, models, args.output / "accuracy_vs_inference_steps.png"),
        "refinement": plot_refinement(runs, models, dataset_dir, args.output / "refinement.png"),
    }
    results = {
        "scale": args.scale,
        "settings": dataclasses.asdict(scale),
        "seeds": args.seeds,
        "models": summary,
        "claims": claims,
        "runs": [{k: v for k, v in r.items() if k not in ("training_config", "reused")} for r in runs],
        "training_configs": {f"{r['model']}-seed{r['seed']}": r["training_config"] for r in runs},
        "pictures": {key: path.name for key, path in pictures.items()},
        "wall_seconds": wall_seconds,  # of this invocation: finished runs found in --work-dir are reused
        "reused_runs": sum(bool(r.get("reused")) for r in runs),
        "jobs": args.jobs,
        "threads_per_job": args.threads,
        "machine": harness.machine("platform", "cpus", "load_average"),
        "command": shlex.join([sys.executable, *sys.argv]),
    }
    table = results_table(results)
    harness.write_results_folder(args.output, results, table)
    block = doc_block(args.output)
    if block is not None and block.begin in block.path.read_text():
        block.write(doc_section(block, table))
        print(f"Updated the block '{block.name}' of {block.path}")
    print(f"Study finished in {wall_seconds / 60:.1f} min; results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
