"""Training throughput of the paper's Sudoku models (TRM-MLP 5M, TRM-Att 7M), or of the small CPU presets'
models, on this machine, eager and under torch.compile.

One measured step = what the training loop does per optimizer step: ONE supervision step forward
(T recursions, only the last with gradient) + backward + AdamATan2, with the ACT state carried.
Reports supervision steps/s, examples/s and achieved GFLOP/s against this machine's fp32 matmul peak
measured in the same run. FLOPs are counted analytically (2 per multiply-add): the T-1 no-grad
recursions count forward only, the last recursion forward + backward (x3).

    python benchmarks/train_throughput.py [--batch-size 16] [--steps 3] [--no-compile]
    python benchmarks/train_throughput.py --presets --batch-size 64 --steps 40   # sudoku6x6, sudoku9x9, maze11x11

``--presets``: each small preset's model at its dataset's size, in the dtype the preset resolves to here
(``forward_dtype: auto``: bf16 where the CPU computes it natively), eager and compiled as ``trm train
compile=true`` compiles its training step (inductor). ``--dtypes float32 bfloat16`` measures each model in
both instead, the comparison that decides whether ``auto`` pays on this CPU; the results record the CPU.

    python benchmarks/train_throughput.py --presets --batch-size 64 --steps 40 --dtypes float32 bfloat16 \
        --output benchmarks/results/train_throughput_presets_epyc.json     # as run on a 2-core AMD EPYC
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from harness import (  # also the repository root on sys.path (benchmarks/harness.py)
    machine,
    matmul_peak_gflops,
    synchronize,
    write_text_atomically,
)

from modeling_trm.configuration_trm import TRMConfig, swiglu_intermediate_size
from modeling_trm.modeling_trm import TRMForPuzzleSolving
from training.config import PRESETS
from training.hardware import resolve_forward_dtype
from training.optim import AdamATan2

SUDOKU = dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1, hidden_size=512, num_attention_heads=8, expansion=4,
              num_layers=2, num_recursions=3, num_latent_updates=6, puzzle_embedding_dim=512, puzzle_prefix_len=16,
              max_supervision_steps=16, forward_dtype="float32")
CONFIGS = {
    "TRM-MLP (5M)": dict(SUDOKU, token_mixer="mlp", position_encoding="none"),
    "TRM-Att (7M)": dict(SUDOKU, token_mixer="attention", position_encoding="rope"),
}
# the small presets' datasets: vocabulary and cells (hub_datasets' sudoku-gen / maze-gen encodings)
PRESET_DATA = {"sudoku6x6": dict(vocab_size=8, seq_len=36), "sudoku9x9": dict(vocab_size=11, seq_len=81),
               "maze11x11": dict(vocab_size=6, seq_len=121)}


def preset_configs() -> dict[str, dict]:
    configs = {}
    for name, data in PRESET_DATA.items():
        model = {**PRESETS[name].model, **data, "num_puzzle_identifiers": 1}
        model["forward_dtype"] = resolve_forward_dtype(model["forward_dtype"], "cpu")[0]
        configs[name] = model
    return configs


def in_dtypes(configs: dict[str, dict], dtypes: list[str] | None) -> list[tuple[str, dict]]:
    """``(name, values)`` of each config in each of ``dtypes`` (None: in its own dtype)."""
    return [(name, values if dtype is None else {**values, "forward_dtype": dtype})
            for name, values in configs.items() for dtype in (dtypes or [None])]


def network_call_flops(config: TRMConfig, batch: int) -> float:
    """Forward FLOPs of one application of the shared network (num_layers blocks) to [batch, N, D]."""
    n, d = config.total_seq_len, config.hidden_size
    channel_mlp = 2 * 3 * d * config.intermediate_size  # gate+up (2 I x D) and down (D x I) per token
    if config.token_mixer == "attention":
        mixer = 2 * 4 * d * d + 2 * 2 * n * d  # qkv + o projections, scores + weighted sum per token
    else:
        # SwiGLU across positions, applied to each of the D channels: 3 N x I_t matrices per channel
        mixer = 2 * 3 * d * swiglu_intermediate_size(n, config.expansion)
    return config.num_layers * batch * n * (channel_mlp + mixer)


def step_flops(config: TRMConfig, batch: int) -> float:
    calls_per_recursion = config.num_latent_updates + 1
    call = network_call_flops(config, batch)
    no_grad = (config.num_recursions - 1) * calls_per_recursion * call
    with_grad = 3 * calls_per_recursion * call  # forward + backward (~2x forward)
    heads = 3 * 2 * batch * config.seq_len * config.hidden_size * config.vocab_size
    return no_grad + with_grad + heads


def time_training_steps(model, forward, inputs, labels, steps: int, puzzle_ids=None, after_step=()) -> list[float]:
    """Seconds of ``steps + 1`` training steps, the first being the warm-up (and compilation).

    One step is what the training loop does per optimizer step: one supervision-step forward with the
    carried ACT state, backward, AdamATan2, then each callable of ``after_step`` (sign-SGD, EMA)."""
    optimizer = AdamATan2([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=1.0)
    state, timings = None, []
    for _ in range(steps + 1):
        synchronize(inputs.device)
        start = time.perf_counter()
        output = forward(input_ids=inputs, puzzle_ids=puzzle_ids, labels=labels, state=state)
        output.loss.backward()
        optimizer.step()
        for callback in after_step:
            callback()
        optimizer.zero_grad(set_to_none=True)
        state = output.state
        synchronize(inputs.device)
        timings.append(time.perf_counter() - start)
    return timings


def measure(name: str, values: dict, compiled: bool, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    config = TRMConfig(**values)
    model = TRMForPuzzleSolving(config).train()
    torch._dynamo.reset()  # each model compiles afresh, within its own recompile limit
    forward = torch.compile(model) if compiled else model  # the training step's forward, as `trm train` compiles it
    inputs = torch.randint(1, config.vocab_size, (batch, config.seq_len))
    labels = torch.randint(2, config.vocab_size, (batch, config.seq_len))
    # warm-up: compiled, the first three steps each trace a graph (no state yet; then the labels carried in the
    # state are, and later are not, the tensor passed)
    warmup = 3 if compiled else 1
    timings = time_training_steps(model, forward, inputs, labels, steps + warmup - 1)
    seconds = sum(timings[warmup:]) / steps
    flops = step_flops(config, batch)
    return dict(model=name, mode="compiled" if compiled else "eager", forward_dtype=config.forward_dtype,
                batch_size=batch, parameters=model.num_parameters(),
                warmup_seconds=sum(timings[:warmup]), seconds_per_step=seconds, steps_per_second=1 / seconds,
                examples_per_second=batch / seconds, gflop_per_step=flops / 1e9, achieved_gflops=flops / seconds / 1e9)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--presets", action="store_true", help="the small CPU presets' models instead of the paper's")
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "bfloat16"],
                        help="forward dtypes to measure each model in (default: the model's own)")
    parser.add_argument("--output", default=None, help="default: results/train_throughput[_presets].json")
    args = parser.parse_args(argv)
    configs = preset_configs() if args.presets else CONFIGS
    output = args.output or str(Path(__file__).parent / "results" /
                                f"train_throughput{'_presets' if args.presets else ''}.json")

    peak_before = matmul_peak_gflops()
    rows = [measure(name, values, compiled, args.batch_size, args.steps)
            for name, values in in_dtypes(configs, args.dtypes)
            for compiled in ((False,) if args.no_compile else (False, True))]
    peak = max(peak_before, matmul_peak_gflops())  # measured again after: the best of both
    for row in rows:
        row["fraction_of_matmul_peak"] = row["achieved_gflops"] / peak
    result = dict(device="cpu", threads=torch.get_num_threads(), torch=torch.__version__,
                  machine=machine("cpu_model", "bf16", "load_average"), matmul_peak_gflops=peak, results=rows)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(Path(output), json.dumps(result, indent=2))

    print(f"fp32 matmul peak: {peak:.1f} GFLOP/s ({torch.get_num_threads()} threads)\n")
    print("| model | mode | dtype | batch | params | sup. steps/s | examples/s | GFLOP/step | GFLOP/s | % of fp32 peak |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['mode']} | {r['forward_dtype']} | {r['batch_size']} | {r['parameters']:,} | "
              f"{r['steps_per_second']:.3f} | "
              f"{r['examples_per_second']:.2f} | {r['gflop_per_step']:.3g} | {r['achieved_gflops']:.1f} | "
              f"{100 * r['fraction_of_matmul_peak']:.0f}% |")


if __name__ == "__main__":
    main()
