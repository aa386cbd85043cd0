"""The paper's weight average (EMA) against the raw weights of the same training run, puzzle by puzzle.

A run with EMA on publishes the averaged weights (what it evaluated); its last checkpoint holds the raw weights of
the same step (``checkpoints/checkpoint-N/model.safetensors``, N the step its ``eval_results.json`` names). The
average never feeds back into training, so the two are one run with and without EMA: a paired comparison that no
seed spread blurs. Both solve the same held-out puzzles (the run's generated recipe rebuilt with ``--num-test``
puzzles, as `more_held_out.py` does: the recipe's own test split first, then fresh puzzles) with fixed halting at
the trained supervision steps (the paper's evaluation). The script counts the puzzles that only one of the two
solves and gives McNemar's exact two-sided p-value on them: the chance of a split at least that uneven if either
set of weights were as likely as the other to be the one that solves a puzzle.

    python benchmarks/ema_weights.py --run seed0=RUN0 --run seed1=RUN1 --num-test 2304 --output OUT
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
from more_held_out import shared_rebuilt_split


def published_raw_weights(run_dir: Path) -> tuple[int, Path]:
    """The step whose EMA weights the run published, and the raw (not averaged) weights of that step."""
    from training.checkpointing import list_checkpoints
    from training.evaluation import load_eval_results

    results = load_eval_results(run_dir / "eval_results.json")
    if not all(result.get("weights") == "ema" for result in results):
        raise SystemExit(f"{run_dir}: its eval_results.json names no EMA weights: a run with ema=true is needed")
    step = results[0]["step"]
    for checkpoint in list_checkpoints(run_dir / "checkpoints"):
        if checkpoint.name == f"checkpoint-{step}":
            return step, checkpoint / "model.safetensors"
    raise SystemExit(f"{run_dir}: no complete checkpoint of step {step}, the step of its published weights")


def solved_puzzles(model, test, batch_size: int = 256):
    """Per puzzle of ``test``: whether fixed halting at the trained steps gives exactly the label."""
    import numpy as np
    import torch

    from training.metrics import puzzle_correctness

    solved = []
    columns = test.select_columns(["inputs", "labels", "puzzle_id"]).with_format("numpy")
    for batch in columns.iter(batch_size=batch_size):
        output = model.solve(torch.from_numpy(batch["inputs"].astype(np.int64)),
                             torch.from_numpy(batch["puzzle_id"].astype(np.int64)),
                             halting="fixed", max_steps=model.config.max_supervision_steps)
        exact, _, _ = puzzle_correctness(output.predictions.cpu().numpy(), batch["labels"].astype(np.int64))
        solved.append(exact)
    return np.concatenate(solved)


def mcnemar_p_value(only_first: int, only_second: int) -> float:
    """Exact two-sided McNemar test: under "either is as likely to be the one that solves", the discordant
    puzzles split as a fair coin would."""
    discordant, fewer = only_first + only_second, min(only_first, only_second)
    tail = sum(math.comb(discordant, k) for k in range(fewer + 1)) / 2**discordant
    return min(1.0, 2 * tail)


def measure(ema_model, raw_model, test) -> dict:
    ema, raw = solved_puzzles(ema_model, test), solved_puzzles(raw_model, test)
    only_ema, only_raw = int((ema & ~raw).sum()), int((raw & ~ema).sum())
    return {"num_puzzles": len(test), "trained_steps": ema_model.config.max_supervision_steps,
            "ema_exact_accuracy": float(ema.mean()), "raw_exact_accuracy": float(raw.mean()),
            "both": int((ema & raw).sum()), "only_ema": only_ema, "only_raw": only_raw,
            "neither": int((~ema & ~raw).sum()), "p_value": mcnemar_p_value(only_ema, only_raw)}


def results_table(results: dict) -> str:
    lines = ["# EMA against the raw weights of the same runs", "",
             "Fixed halting at the trained supervision steps, the same held-out puzzles for both; p = McNemar's exact "
             "two-sided test on the puzzles only one of the two solves.", "",
             "| run | EMA rate | step | puzzles | EMA: exact % | raw: exact % | only EMA solves | only raw solves | p |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in results["runs"].items():
        lines.append(f"| `{name}` | {e['ema_rate']} | {e['step']} | {e['num_puzzles']} | "
                     f"{harness.percent(e['ema_exact_accuracy'])} | {harness.percent(e['raw_exact_accuracy'])} | "
                     f"{e['only_ema']} | {e['only_raw']} | {e['p_value']:.2g} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", default=[], metavar="NAME=DIR", required=True,
                        help="the output folder of a `trm train` run with EMA on, on a generated recipe")
    parser.add_argument("--num-test", type=int, default=2304, help="test puzzles in all (default: 9 x 256)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(args.threads)
    results = {"machine": harness.machine("cpu_model", "bf16", "threads", "torch"), "num_test": args.num_test,
               "runs": {}}
    rebuilt = {}
    for name, run_dir, ema_model in harness.trained_models(parser, args.run, flag="--run"):
        run_dir = Path(run_dir)
        recipe_test, _, config = harness.load_test_split(run_dir)
        step, raw_path = published_raw_weights(run_dir)
        raw_model = copy.deepcopy(ema_model)
        raw_model.load_state_dict(load_file(raw_path))  # strict: the same tensors, other values
        test, _ = shared_rebuilt_split(parser, run_dir, config, recipe_test, args.num_test, rebuilt)
        results["runs"][name] = {"run_dir": str(run_dir), "raw_weights": str(raw_path.relative_to(run_dir)),
                                 "ema_rate": config.ema_rate, "step": step,
                                 **measure(ema_model, raw_model, test)}
    harness.write_results_folder(args.output, results, results_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
