"""Every GPU code path of the package, checked and timed in one call (under 8 minutes on one H200).

    python benchmarks/gpu_check.py --out benchmarks/results/gpu --sudoku-source data/sudoku-extreme
    python benchmarks/gpu_check.py --scale tiny --device cpu --out /tmp/gpu-check   # what the tests run

Sections (each writes ``<out>/<section>.json`` as soon as it is done, so a run cut short keeps what it
measured; a hard budget, ``--budget-s``, skips what no longer fits and a watchdog stops the rest):

* ``environment``: device, versions, the measured bf16 matmul peak (and the data-sheet dense peak).
* ``precision``: the paper's Sudoku-MLP, Sudoku-Att and ARC models, eval rollout (16 fixed supervision
  steps) in bf16 against the fp32 rollout of the same weights: cell agreement of the predictions per
  step, logit and halting-logit errors. Random official-init weights and random puzzles.
* ``attention``: every SDPA backend (flash, memory-efficient, cuDNN, math) against eager attention,
  one supervision step in bf16: logit error, seconds per forward, or why the backend cannot run.
* ``compile``: graph breaks of ``torch.compile`` (``torch._dynamo.explain``) for the reasoning network
  (the hot path), the training forward and the eval forward, and what compiling gains for a training
  step and for ``solve`` (whole model as ``compile=True`` in the trainer does, or the network alone).
* ``training``: supervision steps/s, examples/s, model FLOP utilisation (analytic FLOPs of
  ``train_throughput.step_flops`` over the measured bf16 peak) and peak memory of one training step
  (forward with the ACT carry, backward, AdamATan2, sign-SGD on the puzzle table, EMA) for
  ``sudoku-mlp``, ``sudoku-att``, ``maze-att`` and ``arc1`` (876,406-row puzzle table) at the paper's
  per-GPU batch (768 on 1 GPU for Sudoku, 768 / 4 for Maze and ARC), eager and compiled.
* ``solve``: ``solve`` throughput, fixed and adaptive halting (``solve_throughput.force_varied_halting``).
* ``sudoku_run``: the ``sudoku-mlp`` preset trained for a few minutes on a Sudoku-Extreme-format
  build (``--sudoku-source``: a folder with ``train.csv[.gz]`` and ``test.csv[.gz]``): the training
  loss/accuracy curve, evaluation before and after, and the projected time to the paper's step count.

``--scale tiny`` runs the same code on tiny models (seconds on a CPU) so the test suite keeps it working.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import platform
import signal
import tempfile
import time
import traceback
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import solve_throughput  # with train_throughput: the CPU measurements this check repeats on a GPU
import torch
import train_throughput

from modeling_trm.configuration_trm import TRMConfig
from modeling_trm.modeling_trm import TRMForPuzzleSolving
from training.config import PRESETS
from training.optim import EMA, SparsePuzzleEmbeddingSignSGD

# In order of priority: what no longer fits the budget is skipped, and compiling is the slowest part.
SECTIONS = ("environment", "precision", "attention", "training", "solve", "sudoku_run", "compile")
PRESET_NAMES = ("sudoku-mlp", "sudoku-att", "maze-att", "arc1")

# Task shapes of the paper's datasets (hub_datasets metadata) and the paper's runs: GPUs, optimizer steps
# (epochs x groups x mean examples / 768) and the published wall-clock time (paper / official README).
TASKS = {
    "sudoku-mlp": dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1),
    "sudoku-att": dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1),
    "maze-att": dict(vocab_size=6, seq_len=900, num_puzzle_identifiers=1),
    "arc1": dict(vocab_size=12, seq_len=900, num_puzzle_identifiers=876_406),
}
PAPER_RUNS = {
    "sudoku-mlp": dict(gpus=1, gpu="L40S", steps=65_104, hours=36.0, hours_note="< 36 h"),
    "sudoku-att": dict(gpus=1, gpu="L40S", steps=65_104, hours=36.0, hours_note="< 36 h"),
    "maze-att": dict(gpus=4, gpu="L40S", steps=65_104, hours=24.0, hours_note="< 24 h"),
    "arc1": dict(gpus=4, gpu="H100", steps=518_226, hours=72.0, hours_note="~3 days"),
}
# Data-sheet dense bf16 tensor-core peaks (no sparsity), TFLOP/s.
DATASHEET_BF16_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.05, "A10G": 70.0, "L4": 121.0}
MFU_GOAL = 0.40

# (what, preset, how) in order of priority; "network" compiles the recursive network (the hot path),
# "model" the whole model as the trainer's `compile=True` does.
COMPILE_JOBS = [("training_step", "sudoku-att", "network"), ("training_step", "sudoku-mlp", "network"),
                ("solve", "sudoku-att", "network"), ("training_step", "sudoku-att", "model"),
                ("training_step", "arc1", "network"), ("solve", "sudoku-mlp", "network"),
                ("training_step", "sudoku-mlp", "model"), ("solve", "sudoku-att", "model"),
                ("training_step", "maze-att", "network")]

SCALES = {
    "paper": dict(model={}, tasks=TASKS, train_steps=5, solve_batch=1024, solve_steps=16, precision_batch=64,
                  attention_batch=64, compile_steps=5, run_seconds=180, matmul_sizes=(4096, 8192),
                  sudoku_recipe="sudoku-extreme-1k-aug-1000", eval_examples=2048, log_interval=25,
                  run_dtype="bfloat16", compile_presets=("sudoku-att", "sudoku-mlp"), compile_jobs=COMPILE_JOBS),
    # Seconds on a CPU: the same code paths on models of 4 blocks per supervision step.
    "tiny": dict(model=dict(hidden_size=16, num_attention_heads=2, num_layers=1, puzzle_embedding_dim=16,
                            puzzle_prefix_len=1, num_recursions=2, num_latent_updates=1, max_supervision_steps=3),
                 tasks={"sudoku-mlp": dict(vocab_size=6, seq_len=16, num_puzzle_identifiers=1),
                        "sudoku-att": dict(vocab_size=6, seq_len=16, num_puzzle_identifiers=1),
                        "maze-att": dict(vocab_size=6, seq_len=36, num_puzzle_identifiers=1),
                        "arc1": dict(vocab_size=12, seq_len=36, num_puzzle_identifiers=1000)},
                 train_steps=2, solve_batch=8, solve_steps=4, precision_batch=4, attention_batch=4, compile_steps=2,
                 run_seconds=None, run_steps=4, matmul_sizes=(128, 256), sudoku_recipe="sudoku4x4-gen",
                 eval_examples=8, log_interval=1, run_dtype="float32", compile_presets=("sudoku-att",),
                 compile_jobs=[("training_step", "sudoku-att", "network")]),
}


class OutOfTime(BaseException):
    """The hard budget: a BaseException, so that no per-measurement ``except Exception`` swallows it."""


class Budget:
    """Wall-clock budget of the whole run; sections ask before each measurement."""

    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, time.perf_counter()

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def allows(self, seconds: float) -> bool:
        return self.left() > seconds


def paper_config(name: str, scale: dict, forward_dtype: str = "bfloat16", **overrides) -> TRMConfig:
    """The preset's model on its task's shapes (``scale`` shrinks it for the tiny CPU mode)."""
    fields = {**PRESETS[name].model, **scale["model"], **scale["tasks"][name], "forward_dtype": forward_dtype}
    return TRMConfig(**{**fields, **overrides})


def paper_batch(name: str, scale: dict) -> int:
    """The paper's per-GPU batch: global batch 768 over the run's GPUs (tiny: 8)."""
    return 768 // PAPER_RUNS[name]["gpus"] if not scale["model"] else 8


def build_model(config: TRMConfig, device, seed: int = 0) -> TRMForPuzzleSolving:
    torch.manual_seed(seed)
    model = TRMForPuzzleSolving(config).to(device)
    table = getattr(model.puzzle_embedding, "weight", None)
    if table is not None:  # trained tables are not zero: give the prefix some content
        with torch.no_grad():
            table.normal_(0, config.puzzle_embedding_dim**-0.5)
    return model


def random_batch(config: TRMConfig, batch: int, device, seed: int = 1) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(1, config.vocab_size, (batch, config.seq_len), generator=generator).to(device),
        "puzzle_ids": torch.randint(0, config.num_puzzle_identifiers, (batch,), generator=generator).to(device),
        "labels": torch.randint(1, config.vocab_size, (batch, config.seq_len), generator=generator).to(device),
    }


def peak_memory_gib(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if torch.device(device).type == "cuda" else None


def reset_peak_memory(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]


# ---------------------------------------------------------------------------------------------- sections


def environment(ctx) -> dict:
    device = torch.device(ctx.device)
    info = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "scale": ctx.scale_name, "compile_backend": ctx.compile_backend}
    with contextlib.suppress(ImportError):
        import accelerate
        import transformers

        info.update(transformers=transformers.__version__, accelerate=accelerate.__version__)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, capability=f"{props.major}.{props.minor}", memory_gib=props.total_memory / 2**30,
                    multiprocessors=props.multi_processor_count, cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    else:
        info.update(name=harness.cpu_name(), threads=torch.get_num_threads())
    sizes = ctx.scale["matmul_sizes"]
    info["bf16_matmul_peak_tflops"] = harness.matmul_peak_gflops(
        sizes, repeats=10 if device.type == "cuda" else 2, trials=3, dtype=torch.bfloat16, device=device) / 1e3
    datasheet = [v for k, v in DATASHEET_BF16_TFLOPS.items() if k in info.get("name", "")]
    info["datasheet_bf16_dense_tflops"] = datasheet[0] if datasheet and device.type == "cuda" else None
    ctx.peak_tflops = info["bf16_matmul_peak_tflops"]
    return info


@torch.no_grad()
def precision(ctx) -> dict:
    """bf16 vs fp32 eval rollout of the same weights."""
    rows = {}
    for name in ("sudoku-mlp", "sudoku-att", "arc1"):
        if not ctx.budget.allows(30):
            rows[name] = {"skipped": "time budget"}
            continue
        ids = 1000 if name == "arc1" else 1  # a table slice: precision does not depend on its length
        config32 = paper_config(name, ctx.scale, "float32", num_puzzle_identifiers=ids)
        config16 = paper_config(name, ctx.scale, "bfloat16", num_puzzle_identifiers=ids)
        model32 = build_model(config32, ctx.device).eval()
        model16 = TRMForPuzzleSolving(config16).to(ctx.device).eval()
        model16.load_state_dict(model32.state_dict())
        batch = random_batch(config32, ctx.scale["precision_batch"], ctx.device)
        steps = config32.max_supervision_steps
        runs = [m.solve(batch["input_ids"], puzzle_ids=batch["puzzle_ids"], max_steps=steps, halting="fixed",
                        output_logits=True, return_intermediate=True) for m in (model32, model16)]
        logits32, logits16 = runs[0].logits.float(), runs[1].logits.float()
        agreement = (runs[0].intermediate_predictions == runs[1].intermediate_predictions).float().mean(dim=(1, 2))
        error = (logits16 - logits32).abs()
        scale = logits32.abs().amax(dim=(1, 2, 3))
        rows[name] = {
            "batch": batch["input_ids"].shape[0], "steps": steps,
            "cell_agreement_per_step": agreement.tolist(),
            "final_cell_agreement": float(agreement[-1]),
            "puzzle_agreement": float((runs[0].predictions == runs[1].predictions).all(dim=1).float().mean()),
            "max_abs_logit_error_per_step": error.amax(dim=(1, 2, 3)).tolist(),
            "relative_logit_error_per_step": (error.amax(dim=(1, 2, 3)) / scale).tolist(),
            "mean_abs_logit_error": float(error.mean()),
            "max_abs_halt_logit_error": float((runs[1].halt_logits - runs[0].halt_logits).abs().max()),
        }
        del model32, model16, runs
    return rows


@torch.no_grad()
def attention(ctx) -> dict:
    """Each SDPA backend against eager attention, same bf16 weights and inputs, one supervision step."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}
    rows = {}
    for name in ("sudoku-att", "arc1"):
        if not ctx.budget.allows(20):
            rows[name] = {"skipped": "time budget"}
            continue
        config = paper_config(name, ctx.scale, num_puzzle_identifiers=1000 if name == "arc1" else 1)
        model = build_model(config, ctx.device).eval()
        batch = random_batch(config, ctx.scale["attention_batch"], ctx.device)
        inputs = {"input_ids": batch["input_ids"], "puzzle_ids": batch["puzzle_ids"]}
        model.config._attn_implementation = "eager"
        reference, eager_seconds = _forward_seconds(model, inputs)
        row = {"eager": {"seconds_per_forward": eager_seconds}, "logit_scale": float(reference.abs().max())}
        model.config._attn_implementation = "sdpa"
        for backend_name, backend in [("default", None), *backends.items()]:
            try:
                with sdpa_kernel([backend]) if backend is not None else contextlib.nullcontext():
                    logits, seconds = _forward_seconds(model, inputs)
                row[backend_name] = {"ran": True, "seconds_per_forward": seconds,
                                     "max_abs_logit_error": float((logits - reference).abs().max()),
                                     "prediction_agreement": float((logits.argmax(-1) == reference.argmax(-1)).float().mean())}
            except Exception as exc:  # noqa: BLE001 ("No available kernel" for this device, dtype or shape)
                row[backend_name] = {"ran": False, "error": _error(exc)}
        rows[name] = row
        del model
    return rows


def _forward_seconds(model, inputs: dict, repeats: int = 3) -> tuple[torch.Tensor, float]:
    """The logits of one supervision step and its mean time after a warm-up call."""
    logits = model(**inputs).logits.float()
    harness.synchronize(model.device)
    start = time.perf_counter()
    for _ in range(repeats):
        model(**inputs)
    harness.synchronize(model.device)
    return logits, (time.perf_counter() - start) / repeats


def _explain(fn, *args, **kwargs) -> dict:
    torch._dynamo.reset()
    try:
        explanation = torch._dynamo.explain(fn)(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 (a tracing failure is a result too)
        return {"error": _error(exc)}
    reasons = []
    for reason in explanation.break_reasons:
        frame = reason.user_stack[-1] if reason.user_stack else None
        where = f"{Path(frame.filename).name}:{frame.lineno}" if frame is not None else "?"
        reasons.append(f"{where}: {reason.reason.splitlines()[0][:160]}")
    return {"graphs": explanation.graph_count, "graph_breaks": explanation.graph_break_count,
            "break_reasons": sorted(set(reasons))}


def _compiled(model, how: str, backend: str):
    if how == "model":
        model.compile(backend=backend)
    elif how == "network":
        model.network.compile(backend=backend)
    return model


def _time_training(ctx, name: str, how: str, batch_size: int, steps: int) -> dict:
    """One training step of preset ``name`` (eager, whole model compiled, or the network compiled)."""
    config = paper_config(name, ctx.scale)
    reset_peak_memory(ctx.device)
    model = build_model(config, ctx.device).train()
    after_step = []
    if model.puzzle_embedding is not None:  # as the trainer: even a 1-row table is trained
        sign_sgd = SparsePuzzleEmbeddingSignSGD(model.puzzle_embedding, lr=1e-2, weight_decay=0.1)
        after_step += [sign_sgd.collect, sign_sgd.step]
    ema = EMA(model, 0.999)
    after_step.append(lambda: ema.update(model))
    torch._dynamo.reset()
    _compiled(model, how, ctx.compile_backend)
    batch = random_batch(config, batch_size, ctx.device)
    timings = train_throughput.time_training_steps(model, model, batch["input_ids"], batch["labels"], steps,
                                                   puzzle_ids=batch["puzzle_ids"], after_step=after_step)
    seconds = sum(timings[1:]) / steps
    flops = train_throughput.step_flops(config, batch_size)
    row = {"preset": name, "mode": how, "batch_size": batch_size, "parameters": model.num_parameters(),
           "puzzle_table_rows": config.num_puzzle_identifiers, "first_step_seconds": timings[0],
           "seconds_per_step": seconds, "supervision_steps_per_second": 1 / seconds,
           "examples_per_second": batch_size / seconds, "tflop_per_step": flops / 1e12,
           "achieved_tflops": flops / seconds / 1e12, "mfu": flops / seconds / 1e12 / ctx.peak_tflops,
           "peak_memory_gib": peak_memory_gib(ctx.device)}
    return row


def _time_solve(ctx, name: str, how: str, halting: str, batch_size: int) -> dict:
    config = paper_config(name, ctx.scale)
    model = build_model(config, ctx.device).eval()
    puzzles = random_batch(config, batch_size, ctx.device)["input_ids"]
    if halting == "adaptive":
        solve_throughput.force_varied_halting(model, puzzles)
    torch._dynamo.reset()
    _compiled(model, how, ctx.compile_backend)
    reset_peak_memory(ctx.device)
    max_steps = ctx.scale["solve_steps"]
    start = time.perf_counter()
    model.solve(puzzles, max_steps=1, halting=halting)  # warm-up (and compilation)
    harness.synchronize(ctx.device)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    output = model.solve(puzzles, max_steps=max_steps, halting=halting)
    harness.synchronize(ctx.device)
    seconds = time.perf_counter() - start
    flops = solve_throughput.matmul_flops_per_step(config) * int(output.steps.sum())
    row = {"preset": name, "mode": how, "halting": halting, "batch_size": batch_size, "max_steps": max_steps,
           "mean_steps": float(output.steps.float().mean()), "first_call_seconds": warmup, "seconds": seconds,
           "puzzles_per_second": batch_size / seconds, "achieved_tflops": flops / seconds / 1e12,
           "mfu": flops / seconds / 1e12 / ctx.peak_tflops, "peak_memory_gib": peak_memory_gib(ctx.device)}
    return row


def compile_check(ctx) -> dict:
    """Graph breaks, and what torch.compile gains against the eager rows of the same batch."""
    result = {"backend": ctx.compile_backend, "graph_breaks": {}, "training_step": [], "solve": []}
    for name in ctx.scale["compile_presets"]:
        if not ctx.budget.allows(30):
            result["graph_breaks"][name] = {"skipped": "time budget"}
            continue
        config = paper_config(name, ctx.scale)
        model = build_model(config, ctx.device)
        batch = random_batch(config, 8, ctx.device)
        hidden = torch.randn(8, config.total_seq_len, config.hidden_size, device=ctx.device, dtype=torch.bfloat16)
        rope = None if model.rotary_emb is None else model.rotary_emb()
        state = model.train()(**batch).state

        def eval_forward(input_ids, puzzle_ids, model=model):
            with torch.no_grad():
                return model.eval()(input_ids=input_ids, puzzle_ids=puzzle_ids)

        parts = {"network": _explain(model.network, hidden, hidden, rope)}
        if not result["graph_breaks"]:  # the ACT step around the network is the same code for every mixer
            parts["training_forward"] = _explain(model.train(), **batch, state=state)
            parts["eval_forward"] = _explain(eval_forward, batch["input_ids"], batch["puzzle_ids"])
        result["graph_breaks"][name] = parts
        del model
    torch._dynamo.reset()
    eager_train = {r["preset"]: r for r in ctx.training_rows if r.get("mode") == "eager" and "seconds_per_step" in r}
    eager_solve = {r["preset"]: r for r in ctx.solve_rows if r.get("halting") == "fixed" and "seconds" in r}
    for kind, name, how in ctx.scale["compile_jobs"]:
        row = {"preset": name, "mode": how}
        if not ctx.budget.allows(75 if name in ("maze-att", "arc1") else 50):
            result[kind].append({**row, "skipped": "time budget"})
            continue
        try:
            if kind == "training_step":
                row = _time_training(ctx, name, how, paper_batch(name, ctx.scale), ctx.scale["compile_steps"])
                eager = eager_train.get(name)
                if eager is not None:
                    row["speedup_vs_eager"] = eager["seconds_per_step"] / row["seconds_per_step"]
            else:
                row = _time_solve(ctx, name, how, "fixed", ctx.scale["solve_batch"])
                eager = eager_solve.get(name)
                if eager is not None:
                    row["speedup_vs_eager"] = eager["seconds"] / row["seconds"]
        except Exception as exc:  # noqa: BLE001 (recorded in the results)
            row["error"] = _error(exc)
            traceback.print_exc()
        result[kind].append(row)
    return result


def training(ctx) -> dict:
    """Eager training throughput of the four paper presets at the paper's per-GPU batch (compiled: ``compile``)."""
    rows = []
    for name in PRESET_NAMES:
        row = {"preset": name, "mode": "eager"}
        if not ctx.budget.allows(30):
            rows.append({**row, "skipped": "time budget"})
            continue
        try:
            row = _time_training(ctx, name, "eager", paper_batch(name, ctx.scale), ctx.scale["train_steps"])
        except Exception as exc:  # noqa: BLE001 (out of memory, say: the other presets still run)
            row["error"] = _error(exc)
            traceback.print_exc()
        if "seconds_per_step" in row:
            paper = PAPER_RUNS[name]
            # the paper's run does one step of this per-GPU batch on each of its GPUs at once
            row["projected_hours_for_paper_steps"] = paper["steps"] * row["seconds_per_step"] / 3600
            row["paper_hours"] = f"{paper['hours_note']} on {paper['gpus']}x {paper['gpu']}"
            row["paper_seconds_per_step_at_most"] = paper["hours"] * 3600 / paper["steps"]
        rows.append(row)
    ctx.training_rows = rows
    return {"mfu_goal": MFU_GOAL, "peak_tflops": ctx.peak_tflops, "rows": rows}


def solve(ctx) -> dict:
    rows = []
    for name in ("sudoku-mlp", "sudoku-att"):
        for halting in ("fixed", "adaptive"):
            if not ctx.budget.allows(15):
                rows.append({"preset": name, "halting": halting, "skipped": "time budget"})
                continue
            rows.append(_time_solve(ctx, name, "eager", halting, ctx.scale["solve_batch"]))
    ctx.solve_rows = rows
    return {"rows": rows}


def sudoku_run(ctx) -> dict:
    """The sudoku-mlp preset on a Sudoku-Extreme-format build for a few minutes."""
    import hub_datasets
    from training.train import Trainer

    scale = ctx.scale
    if not ctx.budget.allows(30):
        return {"skipped": "time budget"}
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    start = time.perf_counter()
    source = None if scale["sudoku_recipe"] == "sudoku4x4-gen" else ctx.sudoku_source
    if scale["sudoku_recipe"] != "sudoku4x4-gen" and source is None:
        return {"skipped": "no --sudoku-source (a folder with train.csv[.gz] and test.csv[.gz])"}
    dataset, metadata = hub_datasets.build_dataset(scale["sudoku_recipe"], source=source)
    hub_datasets.save_puzzle_dataset(dataset, metadata, work / "data")
    build_seconds = time.perf_counter() - start

    preset = PRESETS["sudoku-mlp"]
    groups = metadata.splits["train"].total_groups * metadata.splits["train"].mean_puzzle_examples
    paper_steps = int(preset.epochs * groups / preset.global_batch_size)
    rate = [r["supervision_steps_per_second"] for r in ctx.training_rows
            if r.get("preset") == "sudoku-mlp" and r.get("mode") == "eager" and "supervision_steps_per_second" in r]
    run_seconds = min(scale["run_seconds"] or 0, ctx.budget.left() - 60) if scale["run_seconds"] else None
    if run_seconds is not None:
        if run_seconds < 30 or not rate:
            return {"skipped": f"time budget ({ctx.budget.left():.0f} s left) or no sudoku-mlp throughput measured"}
        max_steps = max(10, int(run_seconds * rate[0] * 0.85))  # evaluation and logging cost a little
    else:
        max_steps = scale["run_steps"]
    overrides = {"dataset": str(work / "data"), "dataset_recipe": None, "output_dir": str(work / "run"),
                 "max_steps": max_steps, "log_interval": scale["log_interval"], "eval_at_start": True,
                 "eval_max_examples": scale["eval_examples"], "log_with": "none", "solve_sample": False,
                 "keep_checkpoints": 1}
    if scale["model"]:
        overrides["model"] = {**preset.model, **scale["model"], "forward_dtype": scale["run_dtype"]}
        overrides["global_batch_size"] = 16
    config = dataclasses.replace(preset, **overrides)  # validated by TrainingConfig.__post_init__
    start = time.perf_counter()
    Trainer(config).run()
    wall = time.perf_counter() - start
    log = json.loads((work / "run" / "training_log.json").read_text())
    train = log["train"]
    rates = [r["steps_per_second"] for r in train[1:]] or [r["steps_per_second"] for r in train]
    steps_per_second = sorted(rates)[len(rates) // 2]
    return {
        "recipe": metadata.recipe, "source": str(source) if source else None, "build_seconds": build_seconds,
        "train_examples": len(dataset["train"]), "optimizer_steps": max_steps, "wall_seconds": wall,
        "global_batch_size": config.global_batch_size, "median_steps_per_second": steps_per_second,
        "paper_steps": paper_steps, "projected_hours_for_paper_steps": paper_steps / steps_per_second / 3600,
        "paper_hours": "< 36 h on 1x L40S",
        "curve": [{k: r[k] for k in ("step", "loss", "lm_loss", "cell_accuracy", "exact_accuracy", "lr")} for r in train],
        "eval": log["eval"],
    }


FUNCTIONS = {"environment": environment, "precision": precision, "attention": attention, "training": training,
             "solve": solve, "sudoku_run": sudoku_run, "compile": compile_check}


# ---------------------------------------------------------------------------------------------- driver


class Context:
    def __init__(self, args):
        self.device = torch.device(args.device)
        self.scale_name, self.scale = args.scale, SCALES[args.scale]
        self.compile_backend = args.compile_backend
        self.sudoku_source = args.sudoku_source
        self.budget = Budget(args.budget_s)
        self.peak_tflops = float("nan")
        self.training_rows: list[dict] = []
        self.solve_rows: list[dict] = []


def run(args) -> dict:
    ctx = Context(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    status = {}

    def on_alarm(signum, frame):
        raise OutOfTime(f"hard budget of {args.budget_s + args.grace_s:.0f} s reached")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, math.ceil(args.budget_s + args.grace_s)))
    results = {}
    try:
        for section in args.sections:
            start = time.perf_counter()
            try:
                result = FUNCTIONS[section](ctx)
                status[section] = {"ok": True}
            except OutOfTime as exc:
                result, status[section] = {"error": str(exc)}, {"ok": False, "error": str(exc)}
            except Exception as exc:  # noqa: BLE001 (recorded in the results)
                traceback.print_exc()
                result, status[section] = {"error": _error(exc)}, {"ok": False, "error": _error(exc)}
            status[section]["seconds"] = time.perf_counter() - start
            results[section] = result
            write_json(out / f"{section}.json", {"status": status[section], "result": result})
            print(f"[gpu_check] {section}: {status[section]} ({ctx.budget.left():.0f} s of budget left)", flush=True)
            if isinstance(result, dict) and result.get("error", "").startswith("hard budget"):
                break
    finally:
        signal.alarm(0)
    if "environment" in results:
        results["environment"]["sections"] = status
        write_json(out / "environment.json", {"status": status["environment"], "result": results["environment"]})
    return results


def write_json(path: Path, value) -> None:
    harness.write_text_atomically(path, json.dumps(value, indent=1, default=str) + "\n")


def summary(results: dict) -> str:
    lines = []
    env = results.get("environment", {})
    if "bf16_matmul_peak_tflops" in env:
        lines.append(f"{env.get('name')} ({env.get('device')}), torch {env.get('torch')}: bf16 matmul peak "
                     f"{env['bf16_matmul_peak_tflops']:.3g} TFLOP/s measured"
                     + (f", {env['datasheet_bf16_dense_tflops']} data sheet" if env.get("datasheet_bf16_dense_tflops") else ""))
    for name, row in results.get("precision", {}).items():
        if isinstance(row, dict) and "final_cell_agreement" in row:
            lines.append(f"bf16 vs fp32 {name}: cells agree {100 * row['final_cell_agreement']:.2f}% after "
                         f"{row['steps']} steps, puzzles {100 * row['puzzle_agreement']:.1f}%, max logit error "
                         f"{row['max_abs_logit_error_per_step'][-1]:.3g} ({100 * row['relative_logit_error_per_step'][-1]:.2f}%)")
    for name, row in results.get("attention", {}).items():
        if isinstance(row, dict) and "eager" in row:
            parts = [f"{b}: {v['max_abs_logit_error']:.2g} err, {1e3 * v['seconds_per_forward']:.1f} ms" if v.get("ran")
                     else f"{b}: n/a" for b, v in row.items() if isinstance(v, dict) and b != "eager"]
            lines.append(f"attention {name} vs eager ({1e3 * row['eager']['seconds_per_forward']:.1f} ms): " + "; ".join(parts))
    comp = results.get("compile", {})
    for name, parts in comp.get("graph_breaks", {}).items():
        counts = [f"{k} {v.get('graph_breaks', v.get('error'))}" if isinstance(v, dict) else f"{k}: {v}"
                  for k, v in parts.items()]
        lines.append(f"graph breaks {name}: " + ", ".join(counts))
    rows = results.get("training", {}).get("rows", [])
    if rows:
        lines += ["", "| preset | mode | batch | sup. steps/s | examples/s | MFU | peak GiB | paper steps at this rate |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if "seconds_per_step" in r:
                memory = f"{r['peak_memory_gib']:.1f}" if r["peak_memory_gib"] is not None else "-"
                lines.append(f"| {r['preset']} | {r['mode']} | {r['batch_size']} | {r['supervision_steps_per_second']:.2f} | "
                             f"{r['examples_per_second']:.0f} | {100 * r['mfu']:.0f}% | {memory} | "
                             f"{r['projected_hours_for_paper_steps']:.1f} h (paper {r['paper_hours']}) |")
            else:
                lines.append(f"| {r['preset']} | {r['mode']} | {r.get('skipped') or r.get('error')} |||||")
    for r in comp.get("training_step", []):
        if "seconds_per_step" in r:
            lines.append(f"compiled ({r['mode']}) training step {r['preset']}: {r['supervision_steps_per_second']:.2f} "
                         f"steps/s, MFU {100 * r['mfu']:.0f}%, x{r.get('speedup_vs_eager', float('nan')):.2f} vs eager, "
                         f"first step {r['first_step_seconds']:.0f} s")
        elif "error" in r or "skipped" in r:
            lines.append(f"compiled ({r['mode']}) training step {r['preset']}: {r.get('skipped') or r.get('error')}")
    for r in results.get("solve", {}).get("rows", []) + comp.get("solve", []):
        if "puzzles_per_second" in r:
            lines.append(f"solve {r['preset']} {r['mode']} {r['halting']}: {r['puzzles_per_second']:.0f} puzzles/s "
                         f"(B={r['batch_size']}, mean {r['mean_steps']:.1f} steps, MFU {100 * r['mfu']:.0f}%)")
    run_result = results.get("sudoku_run", {})
    if "curve" in run_result:
        first, last = run_result["curve"][0], run_result["curve"][-1]
        lines.append(f"sudoku-mlp run: {run_result['optimizer_steps']} steps in {run_result['wall_seconds']:.0f} s, loss "
                     f"{first['loss']:.3f} -> {last['loss']:.3f}, train cell acc {first['cell_accuracy']:.3f} -> "
                     f"{last['cell_accuracy']:.3f}; {run_result['median_steps_per_second']:.2f} steps/s -> paper's "
                     f"{run_result['paper_steps']:,} steps in {run_result['projected_hours_for_paper_steps']:.1f} h "
                     f"(paper {run_result['paper_hours']})")
    elif run_result:
        lines.append(f"sudoku-mlp run: {run_result.get('skipped') or run_result.get('error')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(harness.RESULTS_ROOT / "gpu"))
    parser.add_argument("--scale", choices=sorted(SCALES), default="paper")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sudoku-source", default=None, help="folder with Sudoku-Extreme-format train/test CSVs")
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--budget-s", type=float, default=420.0, help="measurements that no longer fit are skipped")
    parser.add_argument("--grace-s", type=float, default=25.0, help="hard stop this long after the budget")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args(argv)
    if args.sections[0] != "environment":
        args.sections = ["environment", *[s for s in args.sections if s != "environment"]]  # the peak is needed
    results = run(args)
    print(summary(results), flush=True)
    return 0 if all(results.get(s, {}).get("error") is None for s in args.sections if isinstance(results.get(s), dict)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
