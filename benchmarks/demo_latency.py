"""Latency of `trm demo` on this machine's CPU: is one refinement step interactive (well under a second)?

    python benchmarks/demo_latency.py                       # the default small model (random weights)
    python benchmarks/demo_latency.py --model trm-sudoku6x6 # a trained model folder

Model: the architecture of the README's default `trm train` (preset `sudoku6x6`: 6x6 Sudoku, hidden 64,
2 layers, T = 2, n = 2, 134k parameters); weights do not change the time of a step, so without
``--model`` it is freshly initialised. One puzzle (batch 1), as the app solves it, float32.

Measured, each as the median of ``--repeats`` runs after a warm-up:
  solve step     `refine` (the app's solve: `model.solve` keeping every step, the halting rule, the
                 rule check of every step) with ``max_steps`` steps, divided by the steps
  forward step   one bare supervision step (`model(...)`), for comparison
  frame          drawing one step as the app shows it (`draw_step`: the grid with changed cells)
  plot           the halting-confidence plot of the app
Results go to `benchmarks/results/demo_latency.json`, with the load average: on a shared machine the
numbers are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import torch

from modeling_trm import PuzzleProcessor, TRMConfig, TRMForPuzzleSolving
from training.demo import halting_figure, load_demo_model, parse_puzzle, random_puzzle
from training.refinement import draw_step, refine

RESULTS = harness.RESULTS_ROOT / "demo_latency.json"


def default_small_model():
    """The README default run's architecture (training preset `sudoku6x6`), freshly initialised."""
    from training.config import PRESETS

    processor = PuzzleProcessor("sudoku", grid_size=6)
    config = TRMConfig(vocab_size=processor.vocab_size, seq_len=processor.seq_len, **PRESETS["sudoku6x6"].model)
    torch.manual_seed(0)
    return TRMForPuzzleSolving(config).eval(), processor


def median_seconds(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model, processor, max_steps: int, repeats: int) -> dict:
    puzzle = parse_puzzle(processor.task, random_puzzle(processor, difficulty=0, seed=0))
    refinement = refine(model, processor, puzzle, max_steps=max_steps, halting="fixed")
    inputs = processor([puzzle])

    def forward_step():
        with torch.inference_mode():
            model(**inputs)

    solve = median_seconds(lambda: refine(model, processor, puzzle, max_steps=max_steps, halting="fixed"), repeats)
    return {
        "max_steps": max_steps,
        "solve_per_step_ms": 1000 * solve / max_steps,
        "solve_total_ms": 1000 * solve,
        "forward_step_ms": 1000 * median_seconds(forward_step, repeats),
        "frame_ms": 1000 * median_seconds(lambda: draw_step(processor, refinement, max_steps), repeats),
        "plot_ms": 1000 * median_seconds(lambda: halting_figure(refinement, max_steps), repeats),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model folder or Hub repo id (default: the default small model, random weights)")
    parser.add_argument("--max-steps", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.model:
        demo_model = load_demo_model(args.model)
        model, processor, name = demo_model.model.eval(), demo_model.processor, args.model
    else:
        (model, processor), name = default_small_model(), "default small model (preset sudoku6x6, random weights)"
    results = {
        "model": name,
        "parameters": model.num_parameters(),
        "machine": harness.machine("cpu", "threads", load_average_before=os.getloadavg()[0], cores=os.cpu_count()),
        "rows": [measure(model, processor, steps, args.repeats) for steps in args.max_steps],
    }
    results["machine"]["load_average_after"] = os.getloadavg()[0]
    for row in results["rows"]:
        print(f"max_steps {row['max_steps']:>3}: {row['solve_per_step_ms']:.1f} ms per step "
              f"({row['solve_total_ms']:.0f} ms in all; bare forward {row['forward_step_ms']:.1f} ms), "
              f"frame {row['frame_ms']:.0f} ms, plot {row['plot_ms']:.0f} ms")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    harness.write_text_atomically(args.output, json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
