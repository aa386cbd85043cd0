"""Our models against the official TRM/HRM code, side by side: same weights, same inputs, one process.

    python benchmarks/side_by_side.py --official-repo /path/to/TinyRecursiveModels
    python benchmarks/side_by_side.py --official-repo ... --models TRM-MLP --batch-sizes 16 --trials 3

The official code is not part of this repository: ``--official-repo`` is a checkout of
``SamsungSAILMontreal/TinyRecursiveModels`` (its ``models/recursive_reasoning/hrm.py`` is the HRM).
Without it the script says so and exits. Both sides run eagerly on CPU in ``--dtype``: float32 (the
default), or bfloat16, the official models' own ``forward_dtype`` (float32 parameters, bfloat16
activations on both sides). Our model is converted from the official model's state dict
(`convert_official_state_dict`), so both compute the same function; the script checks that they do.
In bfloat16 our float32 model runs beside them (``solve fp32`` / ``ours fp32``), and the rows say how
far the bfloat16 rollout agrees with it, step by step (cells and whole puzzles predicted alike).

Measured, as interleaved best-of-N trials (each trial runs every contender once, in alternating
order, so a neighbour's load hits all of them alike; the best trial is the least disturbed):

* ``solve``: the official evaluation loop (``initial_carry``, then the ``ACTLossHead`` called once per
  supervision step, as ``pretrain.evaluate`` does) against ``model.solve(halting="fixed")`` and
  against our ``forward`` called in a loop carrying ``state``, for ``--steps`` supervision steps.
* ``train``: one supervision step of training. Official: ``pretrain.train_batch`` with the sparse
  sign-SGD and AdamATan2 (the ``adam_atan2`` package is CUDA-only; its reference rule is
  `training.optim.AdamATan2`). Ours: what `training.train.Trainer` does per step (forward with
  labels and the carried state, backward, `SparsePuzzleEmbeddingSignSGD`, `AdamATan2`).
* ``memory``: peak RSS of a fresh process running one ``solve`` step / one training step of each side.

Speed is reported as the ratio official seconds / our seconds (> 1: we are faster) and as the
fraction of this machine's fp32 matmul peak (`harness.matmul_peak_gflops`, measured before
and after); FLOPs are counted once per configuration by PyTorch's ``FlopCounterMode`` at batch 1.
Results: ``benchmarks/results/side_by_side.json``, rows replaced by (section, model, batch, dtype) so a long
run can be split into several invocations.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import torch
from harness import REPO_ROOT, matmul_peak_gflops

from modeling_trm.convert_original_checkpoint import (
    convert_official_state_dict,
    rename_official_state_dict,
    translate_official_config,
)
from training.optim import AdamATan2, SparsePuzzleEmbeddingSignSGD

RESULTS = harness.RESULTS_ROOT / "side_by_side.json"
SKIP_MESSAGE = (
    "side_by_side: skipped, no --official-repo given. Pass the path of a checkout of "
    "https://github.com/SamsungSAILMontreal/TinyRecursiveModels to compare against the official code."
)

# Official architecture kwargs (config/arch/*.yaml) for Sudoku-Extreme (vocab 11, 81 cells).
_SUDOKU = {"seq_len": 81, "vocab_size": 11, "num_puzzle_identifiers": 1, "halt_max_steps": 16,
           "halt_exploration_prob": 0.1, "hidden_size": 512, "num_heads": 8, "expansion": 4, "puzzle_emb_ndim": 512,
           "forward_dtype": "float32", "causal": False}
_TRM = dict(_SUDOKU, H_cycles=3, L_cycles=6, H_layers=0, L_layers=2, puzzle_emb_len=16, no_ACT_continue=True)
# The README's `trm train` model (preset sudoku6x6) in the official names: 6x6 Sudoku, no puzzle embedding.
_DEFAULT_SMALL = dict(_TRM, seq_len=36, vocab_size=8, halt_max_steps=8, hidden_size=64, num_heads=4, H_cycles=2,
                      L_cycles=2, puzzle_emb_ndim=0, puzzle_emb_len=0, pos_encodings="none", mlp_t=True)
MODELS = {
    "TRM-MLP": ("recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1", dict(_TRM, pos_encodings="none", mlp_t=True)),
    "TRM-Att": ("recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1", dict(_TRM, pos_encodings="rope", mlp_t=False)),
    "HRM": ("recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1",
            dict(_SUDOKU, H_cycles=2, L_cycles=2, H_layers=4, L_layers=4, pos_encodings="rope")),
    "TRM-MLP-6x6": ("recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1", _DEFAULT_SMALL),
}
# --tiny: the same architectures at toy size (for a quick check of the script itself).
_TINY = {"seq_len": 16, "vocab_size": 11, "hidden_size": 64, "num_heads": 4, "puzzle_emb_ndim": 64}
TINY = {name: (cls, dict(kwargs, **_TINY, **({"puzzle_emb_len": 2} if kwargs.get("puzzle_emb_len") else {})))
        for name, (cls, kwargs) in MODELS.items()}


def in_dtype(arch: tuple[str, dict], dtype: str) -> tuple[str, dict]:
    class_name, kwargs = arch
    return class_name, dict(kwargs, forward_dtype=dtype)
OPTIM = {"lr": 1e-4, "beta1": 0.9, "beta2": 0.95, "weight_decay": 0.1, "puzzle_emb_lr": 1e-2, "puzzle_emb_weight_decay": 0.1}


# ---------------------------------------------------------------------------------------------
# Timing and arithmetic (no official code needed)
# ---------------------------------------------------------------------------------------------


def interleaved_best_of(contenders: dict[str, Callable[[], object]], trials: int,
                        clock: Callable[[], float] = time.perf_counter) -> tuple[dict[str, list[float]], dict]:
    """Run every contender once per trial, in alternating order (forward, then reversed). Returns each
    one's list of timings (use ``min``: the trial least disturbed by other load) and last result."""
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    results = {}
    names = list(contenders)
    for trial in range(trials):
        for name in names if trial % 2 == 0 else names[::-1]:
            start = clock()
            results[name] = contenders[name]()
            timings[name].append(clock() - start)
        log(f"trial {trial + 1}/{trials}: " + ", ".join(f"{name} {timings[name][-1]:.2f}s" for name in names))
    return timings, results


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def summarise(timings: dict[str, list[float]], flops: dict[str, float], peak_gflops: float,
              reference: str) -> dict[str, dict[str, float]]:
    """Per contender: best seconds, achieved GFLOP/s, fraction of the matmul peak, and the speed-up
    over ``reference`` (reference seconds / these seconds: > 1 means faster than the reference)."""
    best = {name: min(values) for name, values in timings.items()}
    return {
        name: {
            "seconds": best[name],
            "trials": timings[name],
            "gflops": flops[name] / best[name] / 1e9,
            "fraction_of_matmul_peak": flops[name] / best[name] / 1e9 / peak_gflops,
            f"speedup_over_{reference}": best[reference] / best[name],
        }
        for name in timings
    }


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Rows of ``new`` replace those of ``old`` with the same (section, model, batch_size, dtype)."""
    def key(row):
        return row["section"], row["model"], row["batch_size"], row.get("dtype", "float32")

    replaced = {key(row) for row in new}
    return [row for row in old if key(row) not in replaced] + new


def counted_flops(run: Callable[[], object]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops())


def peak_rss_mib() -> float:
    """This process's peak resident memory. Linux's ``VmHWM`` starts afresh at ``exec``; ``ru_maxrss``
    would carry over the peak of the parent that forked us."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# ---------------------------------------------------------------------------------------------
# The official code
# ---------------------------------------------------------------------------------------------


def import_official(repo: Path) -> types.SimpleNamespace:
    """Import the official model, loss head and ``pretrain`` from a checkout, on CPU.

    ``pretrain.py`` imports training-only packages at module level (wandb, hydra, coolname, omegaconf,
    argdantic and the CUDA-only adam_atan2); absent ones are replaced by empty modules (adam_atan2 by the
    reference rule in `training.optim`), none of them is used by ``train_batch``."""
    if not (repo / "models" / "recursive_reasoning" / "trm.py").is_file():
        raise FileNotFoundError(f"--official-repo {repo} is not a TinyRecursiveModels checkout "
                                "(no models/recursive_reasoning/trm.py)")
    sys.path.insert(0, str(repo))
    for name in ("wandb", "coolname", "hydra", "omegaconf", "adam_atan2", "argdantic"):
        try:
            importlib.import_module(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.main = lambda **kwargs: (lambda fn: fn)  # hydra.main
            stub.DictConfig = dict  # omegaconf.DictConfig
            stub.AdamATan2 = AdamATan2  # adam_atan2.AdamATan2
            stub.ArgParser = object  # argdantic.ArgParser (dataset builders only)
            sys.modules[name] = stub
    pretrain = importlib.import_module("pretrain")
    from utils.functions import load_model_class

    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    return types.SimpleNamespace(pretrain=pretrain, load_model_class=load_model_class, repo=str(repo),
                                 commit=commit or None)


@contextlib.contextmanager
def cuda_calls_stay_on_cpu():
    """``train_batch`` moves the batch with ``.cuda()``: make that a no-op while it runs."""
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = original


def build_pair(official, name: str, arch: tuple[str, dict], batch_size: int, seed: int = 0, float32_twin: bool = False):
    """The official ACTLossHead(model) with fresh official init, and our model converted from it (and, with
    ``float32_twin``, the same weights as our model in float32, third)."""
    class_name, kwargs = arch
    torch.manual_seed(seed)
    model_class = official.load_model_class(class_name)
    loss_class = official.load_model_class("losses@ACTLossHead")
    official_model = loss_class(model_class(dict(kwargs, batch_size=batch_size)), loss_type="stablemax_cross_entropy")
    with torch.no_grad():  # a halting head that is not constant, so outputs exercise every path
        official_model.model.inner.q_head.weight.normal_(0, kwargs["hidden_size"] ** -0.5)
    ours = convert_official_state_dict(official_model.state_dict(), kwargs).eval()
    if not float32_twin:
        return official_model.eval(), ours
    twin = convert_official_state_dict(official_model.state_dict(), dict(kwargs, forward_dtype="float32")).eval()
    return official_model.eval(), ours, twin


def make_batch(kwargs: dict, batch_size: int, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch_size, kwargs["seq_len"])
    return {
        "inputs": torch.randint(1, kwargs["vocab_size"], shape, generator=generator, dtype=torch.int32),
        "labels": torch.randint(1, kwargs["vocab_size"], shape, generator=generator, dtype=torch.int32),
        "puzzle_identifiers": torch.randint(0, kwargs["num_puzzle_identifiers"], (batch_size,), generator=generator,
                                            dtype=torch.int32),
    }


# ---------------------------------------------------------------------------------------------
# The contenders
# ---------------------------------------------------------------------------------------------


def official_eval_loop(official_model, batch, steps: int):
    """``pretrain.evaluate``: initial carry, then the loss head once per step (``steps`` of them)."""
    with torch.inference_mode():
        carry = official_model.initial_carry(batch)
        for _ in range(steps):
            carry, _, _, outputs, _ = official_model(carry=carry, batch=batch, return_keys=["logits"])
    return outputs["logits"]


def our_solve(model, batch, steps: int):
    return model.solve(batch["inputs"].long(), batch["puzzle_identifiers"].long(), max_steps=steps, halting="fixed")


def our_forward_loop(model, batch, steps: int, every_step: bool = False):
    """Our ``forward`` carrying ``state``: the last logits, or with ``every_step`` each step's predictions."""
    input_ids, puzzle_ids = batch["inputs"].long(), batch["puzzle_identifiers"].long()
    state, predictions = None, []
    with torch.inference_mode():
        for _ in range(steps):
            output = model(input_ids, puzzle_ids, state=state)
            state = output.state
            predictions.append(output.logits.argmax(-1))
    return predictions if every_step else output.logits


def agreement_per_step(model, reference, batch, steps: int) -> list[dict[str, float]]:
    """Per supervision step: the fraction of cells, and of whole puzzles, ``model`` predicts as ``reference``."""
    ours, theirs = our_forward_loop(model, batch, steps, True), our_forward_loop(reference, batch, steps, True)
    return [{"step": step + 1, "cells": float((a == b).float().mean()), "puzzles": float((a == b).all(-1).float().mean())}
            for step, (a, b) in enumerate(zip(ours, theirs))]


class OfficialTrainer:
    """``pretrain.train_batch`` on CPU with the optimizers ``pretrain.create_model`` builds."""

    def __init__(self, official, official_model, arch: tuple[str, dict], batch_size: int):
        pretrain = official.pretrain
        class_name, kwargs = arch
        arch_config = pretrain.ArchConfig(name=class_name, loss=pretrain.LossConfig(
            name="losses@ACTLossHead", loss_type="stablemax_cross_entropy"), **kwargs)
        self.config = pretrain.PretrainConfig(arch=arch_config, data_paths=[], global_batch_size=batch_size, epochs=1,
                                              lr_min_ratio=1.0, lr_warmup_steps=0, **OPTIM)
        model = official_model.train()
        optimizers = [AdamATan2(model.parameters(), lr=0, weight_decay=OPTIM["weight_decay"],
                                betas=(OPTIM["beta1"], OPTIM["beta2"]))]
        lrs = [OPTIM["lr"]]
        if kwargs["puzzle_emb_ndim"] > 0:  # as pretrain.create_model: sign-SGD only for a puzzle embedding
            optimizers.insert(0, official.pretrain.CastedSparseEmbeddingSignSGD_Distributed(
                model.model.puzzle_emb.buffers(), lr=0, weight_decay=OPTIM["puzzle_emb_weight_decay"], world_size=1))
            lrs.insert(0, OPTIM["puzzle_emb_lr"])
        self.state = pretrain.TrainState(model=model, optimizers=optimizers, optimizer_lrs=lrs,
                                         carry=None, step=0, total_steps=10**9)
        self.batch_size, self.train_batch = batch_size, pretrain.train_batch

    def step(self, batch):
        if self.state.carry is None:  # train_batch would create it under torch.device("cuda")
            self.state.carry = self.state.model.initial_carry(batch)
        with cuda_calls_stay_on_cpu():
            return self.train_batch(self.config, self.state, batch, global_batch_size=self.batch_size, rank=0,
                                    world_size=1)


class OurTrainer:
    """What `training.train.Trainer.training_step` does per optimizer step (one micro-batch)."""

    def __init__(self, model):
        self.model = model.train()
        self.optimizer = AdamATan2([p for p in model.parameters() if p.requires_grad], lr=OPTIM["lr"],
                                   betas=(OPTIM["beta1"], OPTIM["beta2"]), weight_decay=OPTIM["weight_decay"])
        self.sign_sgd = SparsePuzzleEmbeddingSignSGD(model.puzzle_embedding, lr=OPTIM["puzzle_emb_lr"],
                                                     weight_decay=OPTIM["puzzle_emb_weight_decay"]) \
            if model.puzzle_embedding is not None else None
        self.state = None

    def step(self, batch):
        output = self.model(batch["inputs"].long(), batch["puzzle_identifiers"].long(), batch["labels"].long(),
                            state=self.state)
        output.loss.backward()
        self.state = output.state
        if self.sign_sgd:
            self.sign_sgd.collect()
        self.optimizer.step()
        if self.sign_sgd:
            self.sign_sgd.step()
        self.optimizer.zero_grad(set_to_none=True)
        return output.metrics


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def solve_section(official, name, arch, batch_size, steps, trials, peak) -> dict:
    bfloat16 = arch[1]["forward_dtype"] == "bfloat16"
    official_model, ours, *twin = build_pair(official, name, arch, batch_size, float32_twin=bfloat16)
    batch = make_batch(arch[1], batch_size, seed=1)
    one = {k: v[:1] for k, v in batch.items()}
    contenders = {
        "official": lambda batch: official_eval_loop(official_model, batch, steps),
        "solve": lambda batch: our_solve(ours, batch, steps),
        "forward": lambda batch: our_forward_loop(ours, batch, steps),
    }
    if bfloat16:
        contenders["solve fp32"] = lambda batch: our_solve(twin[0], batch, steps)
    flops_per_puzzle = {key: counted_flops(lambda: run(one)) for key, run in contenders.items()}
    log(f"solve {name} batch {batch_size} {arch[1]['forward_dtype']}")
    timings, last = interleaved_best_of({key: lambda run=run: run(batch) for key, run in contenders.items()}, trials)
    # Same function: the official logits after `steps` steps against ours.
    official_logits, our_logits, predictions = last["official"], last["forward"], last["solve"].predictions
    flops = {key: value * batch_size for key, value in flops_per_puzzle.items()}
    row = {
        "section": "solve", "model": name, "batch_size": batch_size, "dtype": arch[1]["forward_dtype"],
        "supervision_steps": steps, "gflop_per_puzzle": flops_per_puzzle["official"] / 1e9,
        "max_abs_logit_difference": float((official_logits.float() - our_logits.float()).abs().max()),
        "same_predictions": bool(torch.equal(official_logits.argmax(-1), predictions)),
        "results": summarise(timings, flops, peak, reference="official"),
    }
    if bfloat16:
        add_speedup_over(row["results"], "solve fp32")
        row["agreement_with_float32"] = agreement_per_step(ours, twin[0], batch, steps)
    return row


def add_speedup_over(results: dict, reference: str) -> None:
    """Each contender's speed-up over our float32 ``reference`` (its seconds / these seconds)."""
    for r in results.values():
        r["speedup_over_our_float32"] = results[reference]["seconds"] / r["seconds"]


def train_section(official, name, arch, batch_size, trials, peak) -> dict:
    bfloat16 = arch[1]["forward_dtype"] == "bfloat16"
    official_model, ours, *twin = build_pair(official, name, arch, batch_size, float32_twin=bfloat16)
    trainers = {"official": OfficialTrainer(official, official_model, arch, batch_size), "ours": OurTrainer(ours)}
    if bfloat16:
        trainers["ours fp32"] = OurTrainer(twin[0])
    batches = [make_batch(arch[1], batch_size, seed=10 + i) for i in range(trials + 1)]
    # FLOPs of one step at batch 1, on throwaway copies (the steps change weights and carries).
    one = {k: v[:1] for k, v in batches[0].items()}
    small_official, small_ours = build_pair(official, name, arch, 1)
    flops_per_example = {
        "official": counted_flops(lambda: OfficialTrainer(official, small_official, arch, 1).step(one)),
        "ours": counted_flops(lambda: OurTrainer(small_ours).step(one)),
    }
    flops_per_example["ours fp32"] = flops_per_example["ours"]
    # Warm-up step each (the first step allocates optimizer state), then interleaved timed steps on
    # the same batches: trial i gives every side batch i.
    for trainer in trainers.values():
        trainer.step(batches[0])
    queues = {key: iter(batches[1:]) for key in trainers}
    log(f"train {name} batch {batch_size} {arch[1]['forward_dtype']}")
    timings, _ = interleaved_best_of({key: lambda key=key: trainers[key].step(next(queues[key])) for key in trainers},
                                     trials)
    flops = {key: flops_per_example[key] * batch_size for key in trainers}
    row = {
        "section": "train", "model": name, "batch_size": batch_size, "dtype": arch[1]["forward_dtype"],
        "gflop_per_example": flops_per_example["official"] / 1e9,
        "results": summarise(timings, flops, peak, reference="official"),
    }
    if bfloat16:
        add_speedup_over(row["results"], "ours fp32")
    return row


def official_with_our_weights(official, model, batch_size: int):
    """The official ``ACTLossHead`` holding a trained model of ours (the converter's renames, inverted)."""
    arch = model.config.model_type
    class_name = ("recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1" if arch == "hrm"
                  else "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1")
    kwargs = dict(translate_official_config(model.config, arch, to_official=True), batch_size=batch_size)
    loss_class = official.load_model_class("losses@ACTLossHead")
    official_model = loss_class(official.load_model_class(class_name)(kwargs), loss_type="stablemax_cross_entropy")
    official_model.load_state_dict(official_state_dict(model, official_model.state_dict()), strict=True)
    return official_model.eval()


def official_state_dict(model, official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``official`` (an official state dict: its names and dtypes) filled with ``model``'s weights."""
    ours, arch = model.state_dict(), model.config.model_type
    filled = dict(official)
    for key, tensor in official.items():
        for our_key in rename_official_state_dict({key: tensor}, arch):  # one key, or none for scratch buffers
            filled[key] = ours[our_key].to(tensor.dtype)
    return filled


def adaptive_section(official, model_dir: Path, batch_size: int, trials: int, limit: int | None,
                     halt_confidence: float | None = None) -> dict:
    """A trained model's held-out puzzles: the official evaluation (always every supervision step) against
    our ``solve`` with fixed and with adaptive halting (the training rule, and with ``halt_confidence`` also
    at that confidence, e.g. the one `benchmarks/inference_steps.py` calibrated): time, exact accuracy,
    mean steps."""
    from transformers import AutoModel

    import modeling_trm  # noqa: F401  (registers the Auto classes)
    from training import metrics

    model = AutoModel.from_pretrained(model_dir).eval()
    test, _, _ = harness.load_test_split(model_dir, limit)
    columns = test.select_columns(["inputs", "labels", "puzzle_id"]).with_format("torch")[:]
    inputs, labels, puzzle_ids = columns["inputs"].long(), columns["labels"].long(), columns["puzzle_id"].long()
    steps = model.config.max_supervision_steps
    official_model = official_with_our_weights(official, model, batch_size)
    chunks = [slice(start, start + batch_size) for start in range(0, len(inputs), batch_size)]

    def official_all():
        return torch.cat([official_eval_loop(official_model, {
            "inputs": inputs[c].int(), "labels": labels[c].int(), "puzzle_identifiers": puzzle_ids[c].int()}, steps)
            for c in chunks]).argmax(-1)

    def ours(halting, confidence=0.5):
        confidence = {"halt_confidence": confidence} if halting == "adaptive" else {}  # fixed refuses one
        return lambda: model.solve(inputs, puzzle_ids, max_steps=steps, halting=halting, **confidence,
                                   batch_size=batch_size)

    log(f"adaptive {model_dir} ({len(inputs)} puzzles, {steps} steps)")
    contenders = {"official": official_all, "fixed": ours("fixed"), "adaptive": ours("adaptive")}
    if halt_confidence is not None:
        contenders[f"adaptive, confidence {halt_confidence:g}"] = ours("adaptive", halt_confidence)
    timings, last = interleaved_best_of(contenders, trials)
    labels_np = labels.numpy()
    predictions = {name: result if name == "official" else result.predictions for name, result in last.items()}
    results = {}
    for name, seconds in timings.items():
        best = min(seconds)
        results[name] = {
            "seconds": best, "puzzles_per_second": len(inputs) / best,
            "speedup_over_official": min(timings["official"]) / best,
            "exact_accuracy": float(metrics.puzzle_correctness(predictions[name].numpy(), labels_np)[0].mean()),
            "mean_steps": float(last[name].steps.float().mean()) if name != "official" else float(steps),
        }
    return {
        "section": "adaptive", "model": str(model_dir), "batch_size": batch_size, "num_puzzles": len(inputs),
        "supervision_steps": steps, "same_predictions_fixed_vs_official": bool(torch.equal(
            predictions["official"], predictions["fixed"])), "results": results,
    }


def memory_child(official_repo: str, side: str, kind: str, name: str, batch_size: int, tiny: bool) -> None:
    """In a fresh process: one solve step or one training step of one side, then print peak RSS (MiB)."""
    official = import_official(Path(official_repo))
    arch = (TINY if tiny else MODELS)[name]
    official_model, ours = build_pair(official, name, arch, batch_size)
    official_model, ours = (official_model, None) if side == "official" else (None, ours)  # keep one side
    batch = make_batch(arch[1], batch_size, seed=1)
    before = peak_rss_mib()
    if kind == "solve":
        official_eval_loop(official_model, batch, 1) if side == "official" else our_solve(ours, batch, 1)
    else:
        trainer = OfficialTrainer(official, official_model, arch, batch_size) if side == "official" else OurTrainer(ours)
        trainer.step(batch)
    print(json.dumps({"peak_rss_mib": peak_rss_mib(), "peak_rss_before_mib": before}))


def memory_section(args, name, kind, batch_size) -> dict:
    row = {"section": f"memory_{kind}", "model": name, "batch_size": batch_size, "results": {}}
    for side in ("official", "ours"):
        command = [sys.executable, __file__, "--official-repo", str(args.official_repo), "--memory-child",
                   f"{side},{kind},{name},{batch_size}"] + (["--tiny"] if args.tiny else [])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        row["results"][side] = json.loads(done.stdout.strip().splitlines()[-1])
    row["ratio_ours_over_official"] = (row["results"]["ours"]["peak_rss_mib"]
                                       / row["results"]["official"]["peak_rss_mib"])
    return row


# ---------------------------------------------------------------------------------------------


def bfloat16_table(report: dict) -> str:
    """The bf16 rows as docs/benchmarks.md shows them: seconds of each side, and our bf16 against our fp32 and
    against the official bf16 (bold where it reaches the 2x our fp32 asked of bf16)."""
    lines = ["| | model | batch | official bf16 s | ours bf16 s | ours fp32 s | bf16 × our fp32 | bf16 × official bf16 |",
             "|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        if row.get("dtype") != "bfloat16" or row["section"] not in ("solve", "train"):
            continue
        ours, fp32 = ("solve", "solve fp32") if row["section"] == "solve" else ("ours", "ours fp32")
        seconds = [row["results"][name]["seconds"] for name in ("official", ours, fp32)]
        over_fp32 = row["results"][ours]["speedup_over_our_float32"]
        lines.append(f"| {'`solve`' if row['section'] == 'solve' else 'train step'} | {row['model']} | "
                     f"{row['batch_size']} | " + " | ".join(f"{t:.2f}" if t >= 0.1 else f"{t:.3f}" for t in seconds)
                     + f" | {'**' if over_fp32 >= 2 else ''}{over_fp32:.2f}{'**' if over_fp32 >= 2 else ''} | "
                     f"{row['results'][ours]['speedup_over_official']:.2f} |")
    return "\n".join(lines) + "\n"


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [(f"CPU, {machine['threads']} threads, fp32 matmul peak {report['matmul_peak_gflops']:.0f} GFLOP/s, "
              f"load average {machine['load_average_before'][0]:.1f} -> {machine['load_average_after'][0]:.1f}; "
              f"official commit {report['official_commit']}"), "",
             "| section | model | batch | dtype | contender | best s | x official | x our fp32 | % of fp32 matmul peak |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        if row["section"].startswith("memory") or row["section"] == "adaptive":
            continue
        for contender, r in row["results"].items():
            over_fp32 = f"{r['speedup_over_our_float32']:.2f}" if "speedup_over_our_float32" in r else ""
            lines.append(f"| {row['section']} | {row['model']} | {row['batch_size']} | {row.get('dtype', 'float32')} | "
                         f"{contender} | {r['seconds']:.2f} | {r['speedup_over_official']:.2f} | {over_fp32} | "
                         f"{100 * r['fraction_of_matmul_peak']:.0f}% |")
    agreement = [row for row in report["rows"] if "agreement_with_float32" in row]
    if agreement:
        lines += ["", "| bf16 rollout vs fp32 | model | batch | cells alike per step % | puzzles alike per step % |",
                  "|---|---|---|---|---|"]
        for row in agreement:
            per_step = row["agreement_with_float32"]
            lines.append(f"| solve | {row['model']} | {row['batch_size']} | "
                         + " / ".join(f"{100 * a['cells']:.1f}" for a in per_step) + " | "
                         + " / ".join(f"{100 * a['puzzles']:.1f}" for a in per_step) + " |")
    memory = [row for row in report["rows"] if row["section"].startswith("memory")]
    if memory:
        lines += ["", "| peak RSS | model | batch | official MiB | ours MiB |", "|---|---|---|---|---|"]
        for row in memory:
            lines.append(f"| {row['section'][7:]} | {row['model']} | {row['batch_size']} | "
                         f"{row['results']['official']['peak_rss_mib']:.0f} | {row['results']['ours']['peak_rss_mib']:.0f} |")
    adaptive = [row for row in report["rows"] if row["section"] == "adaptive"]
    if adaptive:
        lines += ["", "| trained model | puzzles | contender | exact % | mean steps | puzzles/s | x official |",
                  "|---|---|---|---|---|---|---|"]
        for row in adaptive:
            for contender, r in row["results"].items():
                lines.append(f"| {Path(row['model']).name} | {row['num_puzzles']} | {contender} | "
                             f"{100 * r['exact_accuracy']:.1f} | {r['mean_steps']:.2f} | {r['puzzles_per_second']:.1f} | "
                             f"{r['speedup_over_official']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-repo", type=Path, help="checkout of SamsungSAILMontreal/TinyRecursiveModels")
    parser.add_argument("--official-commit", help="commit of --official-repo when it is not a git checkout")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--sections", nargs="+", choices=["solve", "train", "memory", "adaptive"],
                        default=["solve", "train", "memory"])
    parser.add_argument("--trained-model", type=Path, action="append", default=[],
                        help="adaptive section: a model folder saved by `trm train` (repeatable)")
    parser.add_argument("--adaptive-batch-size", type=int, default=64)
    parser.add_argument("--test-limit", type=int, help="adaptive section: first N held-out puzzles only")
    parser.add_argument("--halt-confidence", type=float,
                        help="adaptive section: also adaptive halting at this confidence (SolveConfig.halt_confidence)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64], help="solve batch sizes")
    parser.add_argument("--train-batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2, help="supervision steps per solve")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="toy-size models (checks the script, not speed)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                        help="forward_dtype of both sides (solve and train sections)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.official_repo is None:
        print(SKIP_MESSAGE)
        return 0
    torch.set_num_threads(args.threads)
    if args.memory_child:
        side, kind, name, batch = args.memory_child.split(",")
        memory_child(str(args.official_repo), side, kind, name, int(batch), args.tiny)
        return 0

    official = import_official(args.official_repo.resolve())
    models = {name: in_dtype(arch, args.dtype) for name, arch in (TINY if args.tiny else MODELS).items()}
    load_before = os.getloadavg()
    peak = matmul_peak_gflops(sizes=(256, 512)) if args.tiny else matmul_peak_gflops()
    log(f"fp32 matmul peak {peak:.0f} GFLOP/s")
    rows = []
    for name in args.models:
        if "solve" in args.sections:
            for batch_size in args.batch_sizes:
                rows.append(solve_section(official, name, models[name], batch_size, args.steps, args.trials, peak))
                print(json.dumps(rows[-1]["results"], indent=1), flush=True)
        if "train" in args.sections:
            rows.append(train_section(official, name, models[name], args.train_batch_size, args.trials, peak))
            print(json.dumps(rows[-1]["results"], indent=1), flush=True)
        if "memory" in args.sections:
            rows.append(memory_section(args, name, "solve", max(args.batch_sizes)))
            rows.append(memory_section(args, name, "train", args.train_batch_size))
    if "adaptive" in args.sections:
        if not args.trained_model:
            parser.error("--sections adaptive needs --trained-model DIR")
        for model_dir in args.trained_model:
            rows.append(adaptive_section(official, model_dir, args.adaptive_batch_size, args.trials, args.test_limit,
                                         args.halt_confidence))
            print(json.dumps(rows[-1]["results"], indent=1), flush=True)
    peak_after = matmul_peak_gflops(sizes=(256, 512)) if args.tiny else matmul_peak_gflops()
    if peak_after > peak:  # the best of both probes; recompute the fractions with it
        for row in rows:
            for r in row["results"].values():
                if "gflops" in r:
                    r["fraction_of_matmul_peak"] = r["gflops"] / peak_after
        peak = peak_after

    machine = harness.machine("cpu", "cpu_model", "bf16", "threads", "torch", load_average_before=load_before,
                              load_average_after=os.getloadavg())
    for row in rows:
        if row["section"] == "adaptive":  # no peak fraction: the machine's state goes with the row itself
            row["machine"] = machine
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    report = {
        "official_repo": "SamsungSAILMontreal/TinyRecursiveModels",
        "official_commit": official.commit or args.official_commit,
        "tiny": args.tiny,
        "machine": machine,
        "matmul_peak_gflops": peak,
        "rows": merge_rows(previous.get("rows", []) if previous.get("tiny") == args.tiny else [], rows),
    }
    if previous.get("tiny") == args.tiny and {row["section"] for row in rows} == {"adaptive"}:
        # an adaptive-only run: the header keeps the machine and peak of the runs the other rows came from
        report.update(machine=previous["machine"], matmul_peak_gflops=previous["matmul_peak_gflops"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    harness.write_text_atomically(args.output, json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
