"""Throughput of `model.solve` for the paper's Sudoku models on this machine's CPU (float32).

    python benchmarks/solve_throughput.py                      # full table (several minutes on 2 cores)
    python benchmarks/solve_throughput.py --batch-sizes 16 --max-steps 2 --no-compile

Models (random weights; speed does not depend on them), Sudoku-Extreme shapes (S = 81, prefix 16, N = 97):
  TRM-MLP 5M: token_mixer "mlp", no position encoding, T = 3, n = 6, hidden 512, 2 layers
  TRM-Att 7M: attention + RoPE, otherwise the same

Modes:
  fixed     every puzzle runs `max_steps` supervision steps (the paper's evaluation)
  adaptive  puzzles stop when their halt logit turns positive and leave the batch. A freshly
            initialised model never halts (Q head weight 0, bias -5), so the Q head is given random
            weights N(0, 9/D) and its halt bias is set to minus the median step-1 halt logit of the
            benchmark batch: about half the puzzles stop after step 1, the rest run to `max_steps`.
  compiled  `torch.compile` of the reasoning network (`model.network`), the part that runs
            T * (n + 1) * layers = 42 blocks per step; the ACT bookkeeping stays eager.

Reported: puzzles/s (puzzles fully solved per second), achieved GFLOP/s counting the matmul FLOPs
of every supervision step actually run (analytic count, see `matmul_flops_per_step`), and that as a
fraction of this machine's float32 matmul peak measured in the same run (best of a few 2048^3
`torch.mm`s, same thread count), probed right before each row because a shared machine's load drifts. Results go to `benchmarks/results/solve_throughput.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import torch

from modeling_trm import TRMConfig, TRMForPuzzleSolving
from modeling_trm.configuration_trm import swiglu_intermediate_size

RESULTS = harness.RESULTS_ROOT / "solve_throughput.json"

PAPER_SUDOKU = {"vocab_size": 11, "seq_len": 81, "hidden_size": 512, "num_attention_heads": 8, "expansion": 4.0, "num_layers": 2,
                    "num_recursions": 3, "num_latent_updates": 6, "max_supervision_steps": 16, "puzzle_embedding_dim": 512,
                    "puzzle_prefix_len": 16, "forward_dtype": "float32"}
MODELS = {
    "TRM-MLP 5M": dict(PAPER_SUDOKU, token_mixer="mlp", position_encoding="none"),
    "TRM-Att 7M": dict(PAPER_SUDOKU, token_mixer="attention", position_encoding="rope"),
}


def matmul_flops_per_step(config: TRMConfig) -> int:
    """Multiply-add FLOPs (2 per MAC) of one supervision step for one puzzle.

    Per block: channel SwiGLU (gate+up, down) plus either attention (qkv, o, QK^T and AV) or the
    token-mixing SwiGLU over the N positions of each channel. A step runs T * (n + 1) network calls
    of `num_layers` blocks, then the heads (lm_head on S positions, q_head on one)."""
    N, D, S = config.total_seq_len, config.hidden_size, config.seq_len
    inter = swiglu_intermediate_size(D, config.expansion)
    channel_mlp = 2 * N * D * 2 * inter + 2 * N * inter * D
    if config.token_mixer == "mlp":
        inter_t = swiglu_intermediate_size(N, config.expansion)
        mixer = 2 * D * N * 2 * inter_t + 2 * D * inter_t * N
    else:
        width = config.num_attention_heads * config.head_dim
        mixer = 2 * N * D * 3 * width + 2 * N * width * D + 2 * 2 * N * N * width
    calls = config.num_recursions * (config.num_latent_updates + 1)
    heads = 2 * S * D * config.vocab_size + 2 * D * 2
    return calls * config.num_layers * (mixer + channel_mlp) + heads


def matmul_peak_gflops(repeats: int = 5) -> float:
    """The fp32 matmul rate of one 2048^3 ``torch.mm``, best of ``repeats`` timings."""
    return harness.matmul_peak_gflops(sizes=(2048,), repeats=1, trials=repeats)


def force_varied_halting(model: TRMForPuzzleSolving, puzzles: torch.Tensor) -> None:
    """Random Q-head weights, halt bias at the median step-1 halt logit: ~half the puzzles halt at step 1."""
    with torch.no_grad():
        model.q_head.weight.normal_(0, 3 / model.config.hidden_size**0.5)
        model.q_head.bias.zero_()
        model.q_head.bias[0] = -model.solve(puzzles, max_steps=1).halt_logits[0].median() - 1e-4


def time_solve(model, puzzles, max_steps: int, halting: str) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = model.solve(puzzles, max_steps=max_steps, halting=halting)
    return time.perf_counter() - start, out.steps


def run(batch_sizes, max_steps: int, compile_network: bool, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    peak = matmul_peak_gflops()
    rows = []
    for name, fields in MODELS.items():
        config = TRMConfig(**fields)
        model = TRMForPuzzleSolving(config).eval()
        flops_per_step = matmul_flops_per_step(config)
        runs = [("eager", "fixed"), ("eager", "adaptive")] + ([("compiled", "fixed")] if compile_network else [])
        for backend, halting in runs:
            if backend == "compiled":
                model.network.compile(dynamic=False)  # one graph per batch size: no adaptive rows
            for batch_size in batch_sizes:
                puzzles = torch.randint(1, config.vocab_size, (batch_size, config.seq_len))
                if halting == "adaptive":
                    force_varied_halting(model, puzzles)
                else:  # the official init (never halts); irrelevant for fixed halting anyway
                    with torch.no_grad():
                        model.q_head.weight.zero_()
                        model.q_head.bias.fill_(-5.0)
                time_solve(model, puzzles, 1, halting)  # warm-up (and compilation) at this batch size
                row_peak = matmul_peak_gflops(repeats=3)  # the load of a shared machine drifts: probe next to each row
                seconds, steps = time_solve(model, puzzles, max_steps, halting)
                flops = flops_per_step * int(steps.sum())
                row = {
                    "model": name, "batch_size": batch_size, "halting": halting, "backend": backend,
                    "max_steps": max_steps, "mean_steps": float(steps.float().mean()), "seconds": seconds,
                    "puzzles_per_s": batch_size / seconds, "gflop_per_step_per_puzzle": flops_per_step / 1e9,
                    "gflops": flops / seconds / 1e9,
                }
                row["matmul_peak_gflops"] = row_peak
                row["fraction_of_peak"] = row["gflops"] / row_peak
                rows.append(row)
                print(f"  {name} B={batch_size} {halting:8s} {backend:8s} {row['puzzles_per_s']:7.2f} puzzles/s "
                      f"{row['gflops']:6.1f} GFLOP/s ({row['fraction_of_peak']:.0%} of peak)", flush=True)
    return {
        "machine": harness.machine("cpu", "threads", "torch", load_average=os.getloadavg()),
        "matmul_peak_gflops": peak,
        "results": rows,
    }


def markdown_table(report: dict) -> str:
    lines = [
        (f"fp32 CPU, {report['machine']['threads']} threads, matmul peak {report['matmul_peak_gflops']:.1f} GFLOP/s "
         f"at the start (load average {report['machine']['load_average'][0]:.1f})"),
        "",
        "| model | batch | halting | backend | mean steps | puzzles/s | GFLOP/s | matmul peak GFLOP/s | % of peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['model']} | {r['batch_size']} | {r['halting']} | {r['backend']} | {r['mean_steps']:.2f} | "
              f"{r['puzzles_per_s']:.2f} | {r['gflops']:.1f} | {r['matmul_peak_gflops']:.1f} | "
              f"{100 * r['fraction_of_peak']:.0f}% |" for r in report["results"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--max-steps", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = run(args.batch_sizes, args.max_steps, compile_network=not args.no_compile)
    print(markdown_table(report))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    harness.write_text_atomically(args.output, json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
