"""What the in-place inference twins buy: `solve` with `modeling_trm.modeling_trm.IN_PLACE_INFERENCE` on
and off, in float32 and bfloat16, same weights and inputs.

    python benchmarks/in_place_inference.py                    # writes results/in_place_inference.json
    python benchmarks/in_place_inference.py --trials 5 --threads 1

Without autograd (evaluation, and the no-grad recursions of training) the residual adds, RMSNorm, SwiGLU
and RoPE overwrite tensors nobody reads again instead of allocating fresh ones; the twins are pinned bit
for bit to the autograd path by a test, so the two settings give the same answers and only the time can
differ. Models: the paper's TRM-MLP, TRM-Att and HRM Sudoku configurations (fresh weights, batch 16) and
the README's default 6x6 model (batch 256), two supervision steps per `solve`; interleaved best of
``--trials`` (each trial runs every setting once, alternating the order).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import torch

import modeling_trm.modeling_trm as modeling
from modeling_trm import HRMConfig, TRMConfig, TRMForPuzzleSolving
from modeling_trm.modeling_hrm import HRMForPuzzleSolving

RESULTS = harness.RESULTS_ROOT / "in_place_inference.json"
_SUDOKU = dict(vocab_size=11, seq_len=81, hidden_size=512, num_attention_heads=8, expansion=4,
               max_supervision_steps=16, puzzle_embedding_dim=512, num_puzzle_identifiers=1)
MODELS = {
    "TRM-MLP": (TRMConfig, dict(_SUDOKU, num_layers=2, num_recursions=3, num_latent_updates=6, puzzle_prefix_len=16,
                                token_mixer="mlp", position_encoding="none"), 16),
    "TRM-Att": (TRMConfig, dict(_SUDOKU, num_layers=2, num_recursions=3, num_latent_updates=6, puzzle_prefix_len=16,
                                token_mixer="attention", position_encoding="rope"), 16),
    "HRM": (HRMConfig, dict(_SUDOKU, num_high_layers=4, num_low_layers=4, high_cycles=2, low_cycles=2), 16),
    "TRM-MLP-6x6": (TRMConfig, dict(vocab_size=8, seq_len=36, hidden_size=64, num_attention_heads=4, expansion=4,
                                    num_layers=2, num_recursions=2, num_latent_updates=2, max_supervision_steps=8,
                                    token_mixer="mlp", position_encoding="none"), 256),
}


def build(name: str, dtype: str):
    config_class, kwargs, batch_size = MODELS[name]
    torch.manual_seed(0)
    model_class = HRMForPuzzleSolving if config_class is HRMConfig else TRMForPuzzleSolving
    model = model_class(config_class(**kwargs, forward_dtype=dtype)).eval()
    inputs = torch.randint(1, kwargs["vocab_size"], (batch_size, kwargs["seq_len"]),
                           generator=torch.Generator().manual_seed(1))
    return model, inputs


def timed_solve(model, inputs, in_place: bool, steps: int) -> tuple[float, torch.Tensor]:
    modeling.IN_PLACE_INFERENCE = in_place
    try:
        start = time.perf_counter()
        predictions = model.solve(inputs, max_steps=steps, halting="fixed").predictions
        return time.perf_counter() - start, predictions
    finally:
        modeling.IN_PLACE_INFERENCE = True


def measure(name: str, dtype: str, trials: int, steps: int) -> dict:
    model, inputs = build(name, dtype)
    timed_solve(model, inputs, True, 1)  # warm-up: allocator, kernels
    seconds = {"in_place": [], "autograd_path": []}
    answers = {}
    for trial in range(trials):
        for setting in ("in_place", "autograd_path")[:: 1 if trial % 2 == 0 else -1]:
            elapsed, answers[setting] = timed_solve(model, inputs, setting == "in_place", steps)
            seconds[setting].append(elapsed)
    best = {setting: min(values) for setting, values in seconds.items()}
    return {"model": name, "dtype": dtype, "batch_size": len(inputs), "supervision_steps": steps, "trials": seconds,
            "best_seconds": best, "speedup": best["autograd_path"] / best["in_place"],
            "same_predictions": bool(torch.equal(answers["in_place"], answers["autograd_path"]))}


def markdown(report: dict) -> str:
    lines = [f"`solve`, {report['machine']['threads']} threads, load average "
             f"{report['machine']['load_average'][0]:.1f} at the start", "",
             "| model | batch | dtype | in place s | autograd path s | speed-up | same predictions |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['batch_size']} | {r['dtype']} | {r['best_seconds']['in_place']:.3f} | "
              f"{r['best_seconds']['autograd_path']:.3f} | {r['speedup']:.2f} | {r['same_predictions']} |"
              for r in report["rows"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "bfloat16"], default=["float32", "bfloat16"])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine = harness.machine("cpu", "threads", "torch", "load_average")
    rows = [measure(name, dtype, args.trials, args.steps) for name in args.models for dtype in args.dtypes]
    report = {"machine": machine, "rows": rows}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staged = output.with_suffix(".tmp")
    staged.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(staged, output)  # a kill mid-write leaves the previous results whole
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
