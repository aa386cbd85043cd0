"""Where a training step and a `solve` step spend their time, in float32 and in bfloat16 (`torch.profiler`).

For the 9×9 preset's small model and the paper's TRM-MLP at full size (fresh weights, 81 cells), one
training step (forward + backward of one supervision step, the ACT state carried, as `trm train` runs it)
and one no-grad `solve` rollout are profiled on the CPU. Every operator's *self* time (time in the operator
itself, not in what it calls) is put in one of four groups: matrix multiplies (the arithmetic bf16 speeds
up), dtype casts and copies (what bf16 adds: the official casts, docs/numerics.md), elementwise and
reduction kernels (norms, activations, RoPE, softmax, the loss), and the rest (views, allocation,
autograd bookkeeping). The share of each group says what is left to speed up once the matrix
multiplies run in bf16.

    python benchmarks/profile_bf16.py [--threads 2] [--steps 5] [--output benchmarks/results/profile_bf16.json]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import torch
from torch.profiler import ProfilerActivity, profile

from modeling_trm import TRMConfig, TRMForPuzzleSolving
from training.config import PRESETS

OUTPUT = harness.RESULTS_ROOT / "profile_bf16.json"
DOC_BLOCK = harness.GeneratedBlock(harness.REPO_ROOT / "docs" / "benchmarks.md", "profile-bf16",
                                   "benchmarks/profile_bf16.py")
# (preset whose model is profiled, batch size): the small preset at its training batch, the paper's model at
# the batch the side-by-side benchmark uses
MODELS = {"sudoku9x9": ("sudoku9x9", 64), "TRM-MLP (paper size)": ("sudoku-mlp", 16)}

MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_scaled_dot_product_flash_attention_for_cpu",
          "aten::_scaled_dot_product_flash_attention_for_cpu_backward", "mkldnn::_linear_pointwise"}
CASTS = {"aten::_to_copy", "aten::copy_", "aten::to", "aten::clone", "aten::contiguous"}
ELEMENTWISE = ("aten::mul", "aten::add", "aten::sub", "aten::div", "aten::neg", "aten::silu", "aten::sigmoid",
               "aten::rsqrt", "aten::pow", "aten::mean", "aten::sum", "aten::cat", "aten::where", "aten::exp",
               "aten::log", "aten::softmax", "aten::_softmax", "aten::_log_softmax", "aten::nll_loss", "aten::cos",
               "aten::sin", "aten::gather", "aten::scatter", "aten::eq", "aten::argmax", "aten::max", "aten::fill_",
               "aten::zero_", "aten::index", "aten::embedding", "aten::masked_fill", "aten::lerp", "aten::abs",
               "aten::clamp", "aten::atan2", "aten::sqrt", "aten::maximum", "aten::minimum", "aten::logical",
               "aten::bitwise", "aten::ne", "aten::gt", "aten::lt", "aten::ge", "aten::le", "aten::all", "aten::any")


def group_of(name: str) -> str:
    if name in MATMUL:
        return "matmul"
    if name in CASTS:
        return "casts"
    if name.startswith(ELEMENTWISE) or name.endswith("_backward"):
        return "elementwise"
    return "other"


def build(preset: str, dtype: str) -> TRMForPuzzleSolving:
    options = {**PRESETS[preset].model, "forward_dtype": dtype}
    torch.manual_seed(0)
    config = TRMConfig(vocab_size=11, seq_len=81, num_puzzle_identifiers=2, **options)
    return TRMForPuzzleSolving(config)


def run_training_step(model, inputs, labels, puzzle_ids, state):
    output = model(input_ids=inputs, puzzle_ids=puzzle_ids, labels=labels, state=state)
    output.loss.backward()
    model.zero_grad(set_to_none=True)
    return output.state


def profile_phase(model, phase: str, batch: int, steps: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    cells, vocab = model.config.seq_len, model.config.vocab_size
    inputs = torch.randint(1, vocab, (batch, cells), generator=generator)
    labels = torch.randint(2, vocab, (batch, cells), generator=generator)
    puzzle_ids = torch.ones(batch, dtype=torch.long)
    if phase == "training step":
        model.train()
        state = run_training_step(model, inputs, labels, puzzle_ids, None)  # warm-up
        state = run_training_step(model, inputs, labels, puzzle_ids, state)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                state = run_training_step(model, inputs, labels, puzzle_ids, state)
    else:
        model.eval()
        model.solve(inputs, puzzle_ids, max_steps=1)  # warm-up
        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
            model.solve(inputs, puzzle_ids, max_steps=steps, halting="fixed")
    events = [event for event in prof.key_averages() if event.self_cpu_time_total > 0]
    total = sum(event.self_cpu_time_total for event in events)
    groups = {name: 0.0 for name in ("matmul", "casts", "elementwise", "other")}
    for event in events:
        groups[group_of(event.key)] += event.self_cpu_time_total
    top = sorted(events, key=lambda event: -event.self_cpu_time_total)[:8]
    return {"ms_per_step": total / 1000 / steps,
            "share": {name: value / total for name, value in groups.items()},
            "top_ops": [{"op": event.key, "share": event.self_cpu_time_total / total, "calls_per_step": event.count / steps}
                        for event in top]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="training steps / solve steps profiled")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {"machine": harness.machine("cpu", "threads", load_average_before=os.getloadavg()[0]), "rows": []}
    for label, (preset, batch) in MODELS.items():
        for dtype in ("float32", "bfloat16"):
            model = build(preset, dtype)
            for phase in ("training step", "solve step"):
                row = {"model": label, "batch_size": batch, "dtype": dtype, "phase": phase,
                       **profile_phase(model, phase, batch, args.steps)}
                results["rows"].append(row)
                print(f"{label} {dtype} {phase}: {row['ms_per_step']:.1f} ms", flush=True)
    results["machine"]["load_average_after"] = os.getloadavg()[0]
    harness.write_results(results, args.output, markdown_table(results), DOC_BLOCK, committed=OUTPUT)
    return 0


def markdown_table(results: dict) -> str:
    lines = ["| model (batch) | phase | dtype | ms per step (profiled) | matmul | casts, copies | elementwise | other | largest operators |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for row in results["rows"]:
        share = row["share"]
        ops = ", ".join(f"`{op['op'].removeprefix('aten::')}` {100 * op['share']:.0f}%" for op in row["top_ops"][:3])
        lines.append(f"| {row['model']} ({row['batch_size']}) | {row['phase']} | {row['dtype']} | {row['ms_per_step']:.1f} | "
                     f"{100 * share['matmul']:.0f}% | {100 * share['casts']:.0f}% | {100 * share['elementwise']:.0f}% | "
                     f"{100 * share['other']:.0f}% | {ops} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
