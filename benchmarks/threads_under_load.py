"""A training step of the default 6×6 model with every core against the free cores, idle and beside a busy program.

PyTorch's CPU kernels synchronise their OpenMP threads at every operation, so when another program keeps
a core busy, the thread that shares it stalls the others. This script times one training step
(forward + backward of one supervision step, the ACT state carried, as the training loop runs it) of the
`trm train` default model in float32 and bfloat16 with 1..all threads, first on idle cores, then while
``--busy`` processes spin (bounded: they stop after ``--burn-seconds`` or when the script ends). `trm train`
uses only the cores that are free when it starts (`training.hardware.choose_num_threads`).

    python benchmarks/threads_under_load.py [--busy 1] [--steps 10] [--output benchmarks/results/threads_under_load.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import torch

from modeling_trm import TRMConfig, TRMForPuzzleSolving
from training.config import PRESETS


def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


def default_model(dtype: str) -> TRMForPuzzleSolving:
    model = {**PRESETS["sudoku6x6"].model, "forward_dtype": dtype}
    config = TRMConfig(vocab_size=8, seq_len=36, num_puzzle_identifiers=1, **model)
    torch.manual_seed(0)
    return TRMForPuzzleSolving(config).train()


def step_ms(model, threads: int, steps: int, batch: int = 64) -> float:
    """Median milliseconds of one training step at ``threads`` intra-op threads."""
    torch.set_num_threads(threads)
    inputs = torch.randint(1, 8, (batch, 36))
    labels = torch.randint(2, 8, (batch, 36))
    state, times = None, []
    for i in range(steps + 2):  # two warm-up steps
        start = time.perf_counter()
        output = model(input_ids=inputs, labels=labels, state=state)
        output.loss.backward()
        model.zero_grad(set_to_none=True)
        state = output.state
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def measure(cores: int, steps: int) -> list[dict]:
    rows = []
    for dtype in ("float32", "bfloat16"):
        model = default_model(dtype)
        for threads in range(1, cores + 1):
            rows.append({"dtype": dtype, "threads": threads, "step_ms": round(step_ms(model, threads, steps), 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=1, help="busy processes for the loaded measurement")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--burn-seconds", type=float, default=300.0, help="upper bound on the busy processes' life")
    parser.add_argument("--output", default=str(harness.RESULTS_ROOT / "threads_under_load.json"))
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    results = {"machine": harness.machine("cpu", "cpu_model", "bf16", cores=cores, load_average_before=os.getloadavg()[0],
                                          torch=torch.__version__),
               "idle": measure(cores, args.steps)}
    burners = [multiprocessing.Process(target=spin, args=(args.burn_seconds,), daemon=True) for _ in range(args.busy)]
    for burner in burners:
        burner.start()
    try:
        time.sleep(1.0)
        results[f"{args.busy} busy"] = measure(cores, args.steps)
    finally:
        for burner in burners:
            burner.terminate()
            burner.join()

    harness.write_text_atomically(Path(args.output), json.dumps(results, indent=1) + "\n")
    print(markdown_table(results))
    return 0


def markdown_table(results: dict) -> str:
    conditions = [key for key in results if key != "machine"]
    lines = ["| dtype | threads | " + " | ".join(f"{c} (ms/step)" for c in conditions) + " |",
             "|---|---|" + "---|" * len(conditions)]
    for i, row in enumerate(results[conditions[0]]):
        cells = [f"{results[c][i]['step_ms']:.0f}" for c in conditions]
        lines.append(f"| {row['dtype']} | {row['threads']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
