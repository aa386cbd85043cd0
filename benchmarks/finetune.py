"""Fine-tuning onto new tasks at CPU scale: does `init_from=` + new puzzle ids learn tasks the base never saw?

The tasks are ARC-like *recolourings*: task k maps every cell of a 4x4 grid through a fixed permutation
pi_k of the colours 1..C (0, the background, stays). The input alone does not say which permutation
applies: as in TRM's ARC setting, only the task's puzzle embedding does. So a new task with a fresh
embedding row starts near 0% exact accuracy, and what fine-tuning gains is real task knowledge.

Per seed:

1. **base**: a TRM trained from scratch on ``--base-tasks`` tasks (their own puzzle ids);
2. **new tasks**: ``--new-tasks`` other permutations, ``--demos`` training examples each (the
   "demonstrations"), scored on ``--test-examples`` held-out inputs each; their names are unknown to the
   base model, so their rows are initialised by the rule under test;
3. fine-tuned from the base (``training.train`` with ``init_from``), same steps, for each of
   full fine-tuning vs. ``freeze_weights`` (puzzle embeddings only) x new rows from the ``mean`` row vs.
   ``zeros``. "before" is the base model on the new tasks' test inputs with the new rows.
   With ``--lora``, also LoRA (``peft``, rank ``--lora-rank`` on ``LORA_TARGET_MODULES``) plus the puzzle
   embeddings by their sign-SGD, ``mean`` rows, the same steps, batches and schedule (no EMA: the
   adapters are the trained weights), to compare full > LoRA > embeddings only (arXiv:2511.02886).

    python benchmarks/finetune.py                       # the study: 3 seeds, ~15 min on 2 cores
    python benchmarks/finetune.py --lora                # ... with the LoRA condition (needs peft)
    python benchmarks/finetune.py --scale tiny --seeds 1  # CI smoke run (seconds)

Writes ``results.json`` and ``results.md`` to ``--output``; with the default output it also rewrites the
results block of ``docs/fine-tuning.md`` between its markers (a test checks the block against the JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import numpy as np

RESULTS_DIR = harness.RESULTS_ROOT / "finetune"
DOC_BLOCK = harness.GeneratedBlock(harness.REPO_ROOT / "docs" / "fine-tuning.md", "finetune-results",
                                   "benchmarks/finetune.py")
GRID, NUM_COLOURS = 4, 6  # 4x4 grids over colours 0..6
CONDITIONS = (("full", "mean"), ("full", "zeros"), ("embeddings", "mean"), ("embeddings", "zeros"))
SCALES = {
    # base tasks, new tasks, train examples per base task, demos per new task, test inputs per task,
    # base optimizer steps, fine-tuning optimizer steps
    "cpu": dict(base_tasks=24, new_tasks=8, base_examples=128, demos=32, test_examples=16, base_steps=1500,
                finetune_steps=300),
    "tiny": dict(base_tasks=4, new_tasks=2, base_examples=16, demos=8, test_examples=4, base_steps=6, finetune_steps=4),
}
MODEL = dict(hidden_size=64, num_attention_heads=4, expansion=2, num_layers=2, num_recursions=2, num_latent_updates=2,
             puzzle_embedding_dim=64, puzzle_prefix_len=1, max_supervision_steps=2, halt_exploration_prob=0.1,
             token_mixer="attention", position_encoding="rope", forward_dtype="float32")


def recolouring_tasks(count: int, rng: np.random.Generator, avoid: set[tuple] = frozenset()) -> list[np.ndarray]:
    """``count`` distinct colour maps (index c -> colour; 0 -> 0) that are not in ``avoid``."""
    maps, seen = [], set(avoid)
    while len(maps) < count:
        colour_map = np.concatenate([[0], rng.permutation(np.arange(1, NUM_COLOURS + 1))])
        if tuple(colour_map) not in seen:
            seen.add(tuple(colour_map))
            maps.append(colour_map)
    return maps


def task_split(names: list[str], maps: list[np.ndarray], per_task: int, rng: np.random.Generator, first_id: int):
    """``per_task`` random grids per task and their recolourings, as ARC canvas tokens (colour c -> c+2;
    a 4x4 grid filling its 4x4 canvas has no EOS row or column)."""
    from datasets import Dataset

    import hub_datasets
    from modeling_trm.processing_trm import arc_canvas

    inputs = rng.integers(0, NUM_COLOURS + 1, size=(len(maps) * per_task, GRID * GRID))
    task = np.repeat(np.arange(len(maps)), per_task)
    labels = np.stack(maps)[task[:, None], inputs]
    rows = len(inputs)
    return Dataset.from_dict(
        dict(inputs=arc_canvas(inputs.reshape(-1, GRID, GRID), size=GRID),
             labels=arc_canvas(labels.reshape(-1, GRID, GRID), size=GRID).astype(np.int8),
             puzzle_id=(task + first_id).astype(np.int32), group_id=np.arange(rows, dtype=np.int32),
             variant_id=np.arange(rows, dtype=np.int32), puzzle_name=[names[t] for t in task], augmentation=[""] * rows),
        features=hub_datasets.puzzle_features(GRID * GRID),
    )


def save_tasks(path: Path, names: list[str], maps: list[np.ndarray], train_per_task: int, test_per_task: int,
               rng: np.random.Generator) -> str:
    from datasets import DatasetDict

    import hub_datasets

    dd = DatasetDict(train=task_split(names, maps, train_per_task, rng, 1),
                     test=task_split(names, maps, test_per_task, rng, 1))
    stats = {split: hub_datasets.SplitStatistics(total_groups=len(ds), total_puzzles=len(ds), total_examples=len(ds),
                                                 mean_puzzle_examples=1.0) for split, ds in dd.items()}
    metadata = hub_datasets.PuzzleDatasetMetadata(
        task="arc", recipe="recolouring-tasks", seed=0, vocab_size=12, seq_len=GRID * GRID,
        num_puzzle_identifiers=len(names) + 1, puzzle_identifiers=["<blank>", *names], splits=stats,
        grid_shape=(GRID, GRID), parameters={"tasks": len(names), "colours": NUM_COLOURS})
    hub_datasets.save_puzzle_dataset(dd, metadata, path)
    return str(path)


def _train(**values) -> dict:
    from training.config import TrainingConfig
    from training.train import train

    common = dict(global_batch_size=64, epochs=1, eval_interval=1, lr=1e-3, lr_warmup_steps=50, weight_decay=0.1,
                  halt_calibration_puzzles=0,  # the study scores fixed halting on every training puzzle as measured
                  puzzle_emb_lr=1e-2, puzzle_emb_weight_decay=0.1, ema_rate=0.99, log_interval=50, log_with="none",
                  solve_sample=False)
    output_dir = train(TrainingConfig(**{**common, **values}))
    return json.loads((output_dir / "training_log.json").read_text())["eval"]  # evaluations, first to last


def _lora_finetune(rank: int, **values) -> tuple[dict, dict]:
    """(before, after) evaluations of LoRA fine-tuning: the trainer's own set-up (data, the base model with
    its rows matched by name, batches, schedule, sign-SGD), with the network frozen under LoRA adapters."""
    from peft import LoraConfig, get_peft_model

    from training.config import TrainingConfig
    from training.optim import LORA_TARGET_MODULES, AdamATan2, puzzle_embedding_optimizer
    from training.train import Trainer

    common = dict(global_batch_size=64, epochs=1, eval_interval=1, lr=1e-3, lr_warmup_steps=50, weight_decay=0.1,
                  halt_calibration_puzzles=0,  # the study scores fixed halting on every training puzzle as measured
                  puzzle_emb_lr=1e-2, puzzle_emb_weight_decay=0.1, log_interval=50, log_with="none",
                  solve_sample=False, ema=False)
    trainer = Trainer(TrainingConfig(**{**common, **values}))
    before = trainer.evaluate()
    model = get_peft_model(trainer.unwrapped, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=LORA_TARGET_MODULES,
                                                         modules_to_save=["puzzle_embedding"]))
    config = trainer.config
    trainer.model = trainer.unwrapped = model
    trainer.optimizer = AdamATan2([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  betas=(config.beta1, config.beta2), weight_decay=config.weight_decay)
    trainer.sign_sgd = puzzle_embedding_optimizer(model, lr=config.puzzle_emb_lr,
                                                  weight_decay=config.puzzle_emb_weight_decay)
    model.train()
    batches = iter(trainer.sampler)
    for step in range(1, trainer.total_steps + 1):
        trainer.training_step(step, next(batches))
    return before, trainer.evaluate()


def run_seed(seed: int, scale: dict, work_dir: Path, lora_rank: int | None = None) -> dict:
    rng = np.random.default_rng(seed)
    base_maps = recolouring_tasks(scale["base_tasks"], rng)
    new_maps = recolouring_tasks(scale["new_tasks"], rng, avoid={tuple(m) for m in base_maps})
    base_names = [f"base-{i}" for i in range(len(base_maps))]
    new_names = [f"new-{i}" for i in range(len(new_maps))]
    folder = work_dir / f"seed{seed}"
    base_data = save_tasks(folder / "base-data", base_names, base_maps, scale["base_examples"], scale["test_examples"], rng)
    new_data = save_tasks(folder / "new-data", new_names, new_maps, scale["demos"], scale["test_examples"], rng)

    started = time.perf_counter()
    # epochs are a ceiling here: max_steps sets the length (one optimizer step = one supervision step)
    base = _train(dataset=base_data, model=dict(MODEL), epochs=10_000, eval_interval=10_000,
                  max_steps=scale["base_steps"], seed=seed, output_dir=str(folder / "base"))
    record = {"seed": seed, "base": {"exact_accuracy": base[-1]["exact_accuracy"],
                                     "cell_accuracy": base[-1]["cell_accuracy"],
                                     "seconds": time.perf_counter() - started}, "finetuned": {}}
    for trained, init in CONDITIONS:
        started = time.perf_counter()
        result = _train(dataset=new_data, init_from=str(folder / "base"), freeze_weights=trained == "embeddings",
                        new_puzzle_embedding_init=init, epochs=10_000, eval_interval=10_000,
                        max_steps=scale["finetune_steps"], lr_warmup_steps=10, eval_at_start=True, seed=seed,
                        output_dir=str(folder / f"{trained}-{init}"))
        record["finetuned"][f"{trained}/{init}"] = {
            "before_exact_accuracy": result[0]["exact_accuracy"], "before_cell_accuracy": result[0]["cell_accuracy"],
            "exact_accuracy": result[-1]["exact_accuracy"], "cell_accuracy": result[-1]["cell_accuracy"],
            "seconds": time.perf_counter() - started,
        }
    if lora_rank is not None:
        started = time.perf_counter()
        before, after = _lora_finetune(lora_rank, dataset=new_data, init_from=str(folder / "base"),
                                       new_puzzle_embedding_init="mean", epochs=10_000, eval_interval=10_000,
                                       max_steps=scale["finetune_steps"], lr_warmup_steps=10, seed=seed,
                                       output_dir=str(folder / "lora-mean"))
        record["finetuned"]["lora/mean"] = {
            "before_exact_accuracy": before["exact_accuracy"], "before_cell_accuracy": before["cell_accuracy"],
            "exact_accuracy": after["exact_accuracy"], "cell_accuracy": after["cell_accuracy"],
            "seconds": time.perf_counter() - started, "lora_rank": lora_rank,
        }
    return record


def summarise(runs: list[dict]) -> dict:
    """Mean and sample standard deviation over seeds, per condition, of before/after exact and cell accuracy."""
    def stats(values):
        values = np.asarray(values, dtype=float)
        return {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
                "values": values.tolist()}

    summary = {"base": {k: stats([r["base"][k] for r in runs]) for k in ("exact_accuracy", "cell_accuracy")}}
    for condition in runs[0]["finetuned"]:
        rows = [r["finetuned"][condition] for r in runs]
        summary[condition] = {k: stats([row[k] for row in rows]) for k in
                              ("before_exact_accuracy", "before_cell_accuracy", "exact_accuracy", "cell_accuracy")}
        gains = [row["exact_accuracy"] - row["before_exact_accuracy"] for row in rows]
        summary[condition]["exact_gain"] = stats(gains)
    return summary


def _pct(entry: dict) -> str:
    sd = f" ± {100 * entry['sd']:.1f}" if entry["sd"] is not None else ""
    return f"{100 * entry['mean']:.1f}{sd}"


def results_table(results: dict) -> str:
    s, scale = results["summary"], results["scale"]
    lines = [
        "# Fine-tuning onto new tasks (CPU scale)", "",
        f"Base TRM ({results['parameters']:,} parameters) trained {scale['base_steps']} steps on {scale['base_tasks']} "
        f"recolouring tasks: {_pct(s['base']['exact_accuracy'])} % exact on their held-out inputs. Then "
        f"{scale['new_tasks']} new tasks (new puzzle names), {scale['demos']} demonstrations each, "
        f"{scale['finetune_steps']} fine-tuning steps; exact / cell accuracy (%) on {scale['test_examples']} held-out "
        f"inputs per new task, mean ± sd over {len(results['runs'])} seeds:", "",
        "| trained | new rows | before: exact | after: exact | gain (exact) | after: cell |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for condition in (f"{t}/{i}" for t, i in CONDITIONS + (("lora", "mean"),) if f"{t}/{i}" in s):
        row = s[condition]
        trained, init = condition.split("/")
        what = {"full": "whole network", "lora": "LoRA adapters + puzzle embeddings"}.get(trained, "puzzle embeddings only")
        lines.append(f"| {what} | {init} | "
                     f"{_pct(row['before_exact_accuracy'])} | {_pct(row['exact_accuracy'])} | "
                     f"{_pct(row['exact_gain'])} | {_pct(row['cell_accuracy'])} |")
    return "\n".join(lines) + "\n"


def doc_section(table: str) -> str:
    """The block of ``docs/fine-tuning.md`` for a ``results.md``."""
    return DOC_BLOCK.section(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/trm-finetune-study"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a model this small gains nothing from more)")
    parser.add_argument("--lora", action="store_true", help="add the LoRA condition (needs peft)")
    parser.add_argument("--lora-rank", type=int, default=8)
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.threads < 1:
        parser.error("--seeds and --threads must be at least 1")
    import torch

    torch.set_num_threads(args.threads)

    from modeling_trm import TRMConfig, TRMForPuzzleSolving

    scale = SCALES[args.scale]
    started = time.perf_counter()
    runs = []
    for seed in range(args.seeds):
        runs.append(run_seed(seed, scale, args.work_dir, args.lora_rank if args.lora else None))
        print(json.dumps(runs[-1]["finetuned"], indent=1))
    parameters = TRMForPuzzleSolving(TRMConfig(vocab_size=12, seq_len=GRID * GRID, num_puzzle_identifiers=1,
                                               **MODEL)).num_parameters()
    results = {"scale": {"name": args.scale, **scale}, "model": MODEL, "parameters": parameters, "runs": runs,
               "summary": summarise(runs), "seconds": time.perf_counter() - started,
               "machine": harness.machine("platform", "torch", "threads")}
    table = results_table(results)
    harness.write_results_folder(args.output, results, table)
    if args.output.resolve() == RESULTS_DIR.resolve():
        DOC_BLOCK.write(doc_section(table))
        print(f"Updated the fine-tuning block of {DOC_BLOCK.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
