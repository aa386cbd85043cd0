"""`solve` in a fresh process, with and without `training.hardware.keep_freed_memory`.

glibc returns a freed buffer of a few MB to the OS and faults it back in, page by page, when the next step
asks for one; its thresholds adapt only after a large enough free, which a backward pass happens to do. A
process that only solves, as `trm eval`, `trm solve` and `trm demo` do, may therefore pay page faults at
every step. Each measurement here runs in a fresh interpreter: build the model (fresh weights), optionally
call `keep_freed_memory()`, one warm-up `solve`, then the best of ``--trials`` `solve` calls of ``--steps``
fixed steps, with the minor page faults they took.

    python benchmarks/freed_memory.py [--threads 2] [--steps 4] [--trials 3]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import resource
import time
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import torch
from profile_bf16 import MODELS, build  # the same models, built the same way, as the bf16 profile

from training.hardware import keep_freed_memory

OUTPUT = harness.RESULTS_ROOT / "freed_memory.json"
DOC_BLOCK = harness.GeneratedBlock(harness.REPO_ROOT / "docs" / "benchmarks.md", "freed-memory",
                                   "benchmarks/freed_memory.py")


def measure(preset: str, batch: int, dtype: str, keep: bool, threads: int, steps: int, trials: int) -> dict:
    """One fresh process's numbers (run through `fresh_process`)."""
    torch.set_num_threads(threads)
    kept = keep_freed_memory() if keep else False
    model = build(preset, dtype).eval()
    config = model.config
    inputs = torch.randint(1, config.vocab_size, (batch, config.seq_len), generator=torch.Generator().manual_seed(0))
    puzzle_ids = torch.ones(batch, dtype=torch.long)
    model.solve(inputs, puzzle_ids, max_steps=1)  # warm-up
    best_seconds, best_faults = float("inf"), None
    for _ in range(trials):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        model.solve(inputs, puzzle_ids, max_steps=steps, halting="fixed")
        seconds = time.perf_counter() - start
        if seconds < best_seconds:
            best_seconds, best_faults = seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"ms_per_step": 1000 * best_seconds / steps, "page_faults_per_step": best_faults / steps,
            "kept": kept}


def fresh_process(**arguments) -> dict:
    context = multiprocessing.get_context("spawn")  # a new interpreter: the malloc settings are process-wide
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(measure, **arguments).result()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="fixed supervision steps per timed solve")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    results = {"machine": harness.machine("cpu", "threads", load_average_before=os.getloadavg()[0]),
               "steps": args.steps, "trials": args.trials, "rows": []}
    for label, (preset, batch) in MODELS.items():
        for dtype in ("float32", "bfloat16"):
            for keep in (False, True):
                row = {"model": label, "batch_size": batch, "dtype": dtype, "keep_freed_memory": keep,
                       **fresh_process(preset=preset, batch=batch, dtype=dtype, keep=keep, threads=args.threads,
                                       steps=args.steps, trials=args.trials)}
                results["rows"].append(row)
                print(f"{label} {dtype} keep={keep}: {row['ms_per_step']:.1f} ms, "
                      f"{row['page_faults_per_step']:.0f} page faults a step", flush=True)
    results["machine"]["load_average_after"] = os.getloadavg()[0]
    harness.write_results(results, args.output, markdown_table(results), DOC_BLOCK, committed=OUTPUT)
    return 0


def markdown_table(results: dict) -> str:
    header = ("| model (batch) | dtype | ms per `solve` step, glibc default | with `keep_freed_memory()` | speed-up "
              "| page faults per step, default | with it |")
    lines = [header, "|---|---|---:|---:|---:|---:|---:|"]
    rows = {(row["model"], row["dtype"], row["keep_freed_memory"]): row for row in results["rows"]}
    for (model, dtype, keep), default in rows.items():
        if keep:
            continue
        kept = rows[model, dtype, True]
        lines.append(f"| {model} ({default['batch_size']}) | {dtype} | {default['ms_per_step']:.1f} | "
                     f"{kept['ms_per_step']:.1f} | {default['ms_per_step'] / kept['ms_per_step']:.2f}× | "
                     f"{default['page_faults_per_step']:.0f} | {kept['page_faults_per_step']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
