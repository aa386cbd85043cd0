"""Train a TRM/HRM with Accelerate: ``trm train``, ``python -m training.train`` or ``accelerate launch``.

One optimizer step = one supervision step (spec §2.2, pitfall 6): every step feeds the next global
batch to ONE model forward together with the carried ACT state; slots that halted at the previous
step take the same-index row of the new batch and restart, the others keep refining their puzzle and
ignore it. The state starts "all halted", persists across steps and batches, and is checkpointed
with everything else, so ``--resume`` continues bit-exactly.

    trm train                                    # default preset: small generated Sudoku, CPU, ~10 min
    trm train --preset sudoku-att dataset=PATH   # a paper recipe on a built dataset
    accelerate launch --multi_gpu --num_processes 4 -m training.train --preset arc1 dataset=PATH
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, set_seed
from tqdm.auto import tqdm

from training import checkpointing
from training.checkpointing import COMPLETE_MARKER
from training.config import (
    DEFAULT_PRESET,
    FINE_TUNING_PRESETS,
    PRESETS,
    TrainingConfig,
    apply_overrides,
    parse_overrides,
)
from training.data import PuzzleIndex, TrainBatchSampler, collate
from training.optim import EMA, AdamATan2, SparsePuzzleEmbeddingSignSGD, copy_tensors_, lr_lambda

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
DATASET_CACHE = Path(os.environ.get("TRM_DATASETS_CACHE", "~/.cache/trm-hf/datasets")).expanduser()


# ---------------------------------------------------------------------------------------------
# Data


def load_training_data(config: TrainingConfig, accelerator: Accelerator):
    """The ``DatasetDict`` and ``PuzzleDatasetMetadata`` to train on.

    A recipe is built once (by the main process) into a cache folder keyed by recipe, seed and
    options, then every process loads the same saved copy.
    """
    import hub_datasets

    if config.dataset is not None:
        source = config.dataset
    else:
        options = ",".join(f"{k}={v}" for k, v in sorted(config.dataset_options.items()))
        key = f"{config.dataset_recipe}-seed{config.dataset_seed}" + (f"-{options}" if options else "")
        source = DATASET_CACHE / re.sub(r"[^A-Za-z0-9_.=,-]", "_", key)
        with accelerator.main_process_first():
            if accelerator.is_main_process and not (source / "puzzle_dataset.json").exists():
                dataset, metadata = hub_datasets.build_dataset(config.dataset_recipe, seed=config.dataset_seed,
                                                               **config.dataset_options)
                tmp = source.with_name(source.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                hub_datasets.save_puzzle_dataset(dataset, metadata, tmp)
                os.replace(tmp, source)
        source = str(source)
    return hub_datasets.load_puzzle_dataset(source), hub_datasets.load_dataset_metadata(source)


def check_dataset_fits(model_config, metadata) -> None:
    """Reject a dataset the model cannot consume, naming the mismatched field."""
    for field in ("vocab_size", "seq_len", "num_puzzle_identifiers"):
        model_value, data_value = getattr(model_config, field), getattr(metadata, field)
        if model_value != data_value:
            raise ValueError(
                f"dataset does not fit the model: {field} is {data_value} in the dataset metadata "
                f"({metadata.recipe!r}) but {model_value} in the model config"
            )


# ---------------------------------------------------------------------------------------------
# Model


def _model_classes(model_type: str):
    if model_type == "hrm":
        from modeling_trm.configuration_trm import HRMConfig
        from modeling_trm.modeling_hrm import HRMForPuzzleSolving

        return HRMConfig, HRMForPuzzleSolving
    from modeling_trm.configuration_trm import TRMConfig
    from modeling_trm.modeling_trm import TRMForPuzzleSolving

    return TRMConfig, TRMForPuzzleSolving


def build_model(config: TrainingConfig, metadata):
    """A fresh model sized by the dataset, or ``init_from`` a pretrained one (fine-tuning).

    Fine-tuning matches puzzle-embedding rows by puzzle name (see `transfer_puzzle_table`) and
    returns the model in training mode: ``from_pretrained`` gives an eval-mode model, in which the
    Q head never halts a slot and the puzzle table receives no gradient.
    """
    if config.init_from is None:
        config_class, model_class = _model_classes(config.model_type)
        dataset_fields = dict(vocab_size=metadata.vocab_size, seq_len=metadata.seq_len,
                              num_puzzle_identifiers=metadata.num_puzzle_identifiers)
        return model_class(config_class(**{**dataset_fields, **config.model}))

    from transformers import AutoModel

    import modeling_trm  # noqa: F401  (registers TRM/HRM with the Auto classes)

    model = AutoModel.from_pretrained(config.init_from, **config.model)
    if model.puzzle_embedding is not None:
        table, matched = transfer_puzzle_table(
            model.puzzle_embedding.weight, _puzzle_names(config.init_from), list(metadata.puzzle_identifiers),
            config.new_puzzle_embedding_init, source=config.init_from,
        )
        model.puzzle_embedding.register_buffer("weight", table)
        model.config.num_puzzle_identifiers = table.shape[0]
        print(f"init_from: {matched:,} of {table.shape[0]:,} puzzle-embedding rows matched by name; "
              f"{table.shape[0] - matched:,} new rows ({config.new_puzzle_embedding_init})")
    return model.train()


def _puzzle_names(model_dir: str) -> list[str] | None:
    """The puzzle-name map (row -> name) of a saved model's processor, or None without one."""
    from modeling_trm.processing_trm import PuzzleProcessor

    try:
        return PuzzleProcessor.from_pretrained(model_dir).puzzle_identifiers
    except OSError:  # no processor_config.json in the folder / repo
        return None


def transfer_puzzle_table(table: torch.Tensor, base_names: list[str] | None, names: list[str], init: str = "mean",
                          source: str = "the pretrained model") -> tuple[torch.Tensor, int]:
    """The puzzle table for a dataset whose rows are ``names``, from a pretrained ``table`` whose rows
    are ``base_names``: a row is copied where the name is known, so a task never inherits another
    task's embedding; unknown names start from the mean row of ``table`` (what the official
    ``load_checkpoint`` gives every row of a mismatched table) or from zeros (a fresh table's init).
    Returns the new table and the number of rows matched by name.

    Without a name map only the trivial case passes: a one-row table (Sudoku, maze: the blank row).
    """
    if base_names is None:
        if table.shape[0] == 1 and len(names) == 1:
            return table.clone(), 1
        raise ValueError(
            f"{source} has a puzzle-embedding table of {table.shape[0]:,} rows but no puzzle-name map "
            f"(processor_config.json 'puzzle_identifiers'), so its rows cannot be matched to the dataset's "
            f"{len(names):,} puzzle names. Convert official checkpoints with `trm convert --identifiers "
            "identifiers.json` (or the dataset folder they were trained on)."
        )
    if len(base_names) != table.shape[0]:
        raise ValueError(f"{source}: its processor names {len(base_names):,} puzzles but its puzzle-embedding table "
                         f"has {table.shape[0]:,} rows")
    row_of = {name: row for row, name in enumerate(base_names)}
    known = torch.tensor([row_of.get(name, -1) for name in names], dtype=torch.long)
    fill = table.mean(dim=0) if init == "mean" else torch.zeros_like(table[0])
    new_table = fill.expand(len(names), -1).clone()
    found = known >= 0
    new_table[found] = table[known[found]]
    return new_table, int(found.sum())


# ---------------------------------------------------------------------------------------------
# Checkpoints: accelerate.save_state into `checkpoint-N.tmp`, then a COMPLETE marker and a rename.


def list_checkpoints(checkpoint_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first. Partial saves (``*.tmp``, no marker) are not listed."""
    if not checkpoint_dir.is_dir():
        return []
    found = [
        (int(match.group(1)), path)
        for path in checkpoint_dir.iterdir()
        if (match := CHECKPOINT_PATTERN.match(path.name)) and (path / COMPLETE_MARKER).is_file()
    ]
    return [path for _, path in sorted(found)]


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem allows fsync on a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclasses.dataclass
class TrainingProgress:
    """Counters and history saved with every checkpoint (as JSON, see `training.checkpointing`)."""

    step: int = 0
    best_exact_accuracy: float = -1.0
    best_step: int | None = None
    history: dict[str, list[dict[str, float]]] = dataclasses.field(default_factory=lambda: {"train": [], "eval": []})

    def state_dict(self) -> dict:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class InterruptFlag:
    """First Ctrl-C asks the loop to checkpoint and stop at the end of the current step; a second
    one interrupts immediately (the default handler is restored)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading_is_main():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
        print("\nInterrupted: saving a checkpoint after this step (Ctrl-C again to abort).", file=sys.stderr)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class Trainer:
    """Holds what a checkpoint must capture; ``run()`` is the training loop."""

    def __init__(self, config: TrainingConfig):
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.checkpoint_dir = self.output_dir / "checkpoints"
        self.accelerator = Accelerator(
            log_with=_trackers(config.log_with),
            project_config=ProjectConfiguration(project_dir=str(self.output_dir), logging_dir=str(self.output_dir / "logs")),
            # The puzzle table is a buffer that every rank updates identically (sign-SGD on gathered
            # gradients): broadcasting it each step would only cost bandwidth.
            kwargs_handlers=[DistributedDataParallelKwargs(broadcast_buffers=False)],
        )
        accelerator = self.accelerator
        checkpointing.claim_output_dir(config, accelerator.is_main_process, accelerator.wait_for_everyone)
        self.dataset, self.metadata = load_training_data(config, accelerator)
        set_seed(config.seed)  # identical initial weights on every rank
        model = build_model(config, self.metadata)
        check_dataset_fits(model.config, self.metadata)
        set_seed(config.seed + accelerator.process_index)  # halting exploration differs per rank (official)

        world, accumulation = accelerator.num_processes, config.gradient_accumulation_steps
        if config.global_batch_size % (world * accumulation):
            raise ValueError(
                f"global_batch_size={config.global_batch_size} is not divisible by processes ({world}) x "
                f"gradient_accumulation_steps ({accumulation})"
            )
        self.rank_batch_size = config.global_batch_size // world
        self.micro_batch_size = self.rank_batch_size // accumulation

        # freeze_weights (the official option): the network still back-propagates - the puzzle
        # embeddings need its gradients - but only the sign-SGD step updates anything.
        optimizer = None if config.freeze_weights else AdamATan2(
            [p for p in model.parameters() if p.requires_grad], lr=config.lr,
            betas=(config.beta1, config.beta2), weight_decay=config.weight_decay)
        if config.compile:
            model = torch.compile(model)
        if optimizer is None:
            self.model, self.optimizer = accelerator.prepare(model), None
        else:
            self.model, self.optimizer = accelerator.prepare(model, optimizer)
        self.unwrapped = accelerator.unwrap_model(self.model)
        table = getattr(getattr(self.unwrapped, "puzzle_embedding", None), "weight", None)
        self.sign_sgd = (
            SparsePuzzleEmbeddingSignSGD(self.unwrapped.puzzle_embedding, lr=config.puzzle_emb_lr,
                                         weight_decay=config.puzzle_emb_weight_decay)
            if table is not None and table.numel() else None
        )
        if config.freeze_weights and self.sign_sgd is None:
            raise ValueError(f"freeze_weights: {config.init_from} has no puzzle embeddings, so nothing would train")
        self.ema = EMA(self.unwrapped, config.ema_rate) if config.ema and not config.freeze_weights else None

        train_stats = self.metadata.splits["train"]
        self.sampler = TrainBatchSampler(PuzzleIndex.from_dataset(self.dataset["train"]), config.global_batch_size,
                                         epochs_per_chunk=config.eval_interval, seed=config.seed)
        steps_per_epoch = train_stats.total_groups * train_stats.mean_puzzle_examples / config.global_batch_size
        self.total_steps = int(config.epochs * steps_per_epoch)
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)
        self.eval_every = max(1, int(config.eval_interval * steps_per_epoch))
        self.progress = TrainingProgress()
        self.act_states: list[Any] = [None] * accumulation  # one carry per micro-batch slice
        # Sampler, progress and EMA are saved by `training.checkpointing` as JSON/safetensors, not
        # registered with Accelerate, which would pickle them (and unpickle them on resume).
        if config.resume_from:
            self.resume(config.resume_from)

    # ----------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> Path:
        accelerator, step = self.accelerator, self.progress.step
        final = self.checkpoint_dir / f"checkpoint-{step}"
        tmp = final.with_name(final.name + ".tmp")
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        # Accelerate pickles the RNG states; each rank keeps them as safetensors instead. The ACT carry
        # differs per rank too (each holds its own slots), so every rank writes its own.
        rank = accelerator.process_index
        (tmp / f"random_states_{rank}.pkl").unlink(missing_ok=True)
        checkpointing.save_rng_state(tmp / checkpointing.rng_state_name(rank))
        checkpointing.save_act_states(self.act_states, tmp / checkpointing.act_state_name(rank))
        ema_state = self.ema.state_dict() if self.ema is not None else None  # every rank: gathers FSDP shards
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            checkpointing.save_trainer_state(self.progress, self.sampler, tmp / checkpointing.TRAINER_STATE_NAME)
            if ema_state is not None:
                checkpointing.save_ema(ema_state, tmp / checkpointing.EMA_NAME)
            (tmp / checkpointing.CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2))
            (tmp / COMPLETE_MARKER).write_text(json.dumps({"step": step, "processes": accelerator.num_processes}))
            _fsync_tree(tmp)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)  # the commit point
            _fsync_dir(self.checkpoint_dir)
            self._prune_checkpoints(final)
        accelerator.wait_for_everyone()
        return final

    def _prune_checkpoints(self, just_saved: Path) -> None:
        keep = set(list_checkpoints(self.checkpoint_dir)[-self.config.keep_checkpoints :]) | {just_saved}
        if self.progress.best_step is not None:
            keep.add(self.checkpoint_dir / f"checkpoint-{self.progress.best_step}")
        for path in list_checkpoints(self.checkpoint_dir):
            if path not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def resume(self, which: str) -> None:
        if which == "latest":
            checkpoints = list_checkpoints(self.checkpoint_dir)
            if not checkpoints:
                raise FileNotFoundError(f"--resume: no complete checkpoint under {self.checkpoint_dir}")
            path = checkpoints[-1]
        else:
            path = Path(which)
            if not (path / COMPLETE_MARKER).is_file():
                raise FileNotFoundError(f"--resume: {path} is not a complete checkpoint (no {COMPLETE_MARKER} marker)")
        checkpointing.refuse_pickles(path)
        checkpointing.check_resume_config(path, self.config)
        rank = self.accelerator.process_index
        checkpointing.load_accelerate_state(self.accelerator, path)
        checkpointing.load_trainer_state(self.progress, self.sampler, path / checkpointing.TRAINER_STATE_NAME)
        if self.ema is not None:
            checkpointing.load_ema(self.ema, path / checkpointing.EMA_NAME)
        saved_processes = json.loads((path / COMPLETE_MARKER).read_text())["processes"]
        if (path / checkpointing.rng_state_name(rank)).is_file():
            checkpointing.load_rng_state(path / checkpointing.rng_state_name(rank))
        if saved_processes == self.accelerator.num_processes:
            saved = checkpointing.load_act_states(path / checkpointing.act_state_name(rank), self.accelerator.device)
            if len(saved) == len(self.act_states):
                self.act_states = saved
        else:
            print(f"resume: checkpoint written by {saved_processes} processes; restarting the ACT carry")
        self.accelerator.print(f"Resumed from {path} at step {self.progress.step}")

    # ----------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Paper metrics on the test split with the EMA weights: the eval rollout (fresh state, all
        ``max_supervision_steps`` steps), metrics of the final step summed over all processes."""
        accelerator, config = self.accelerator, self.config
        test = self.dataset["test"]
        num_examples = len(test) if config.eval_max_examples is None else min(len(test), config.eval_max_examples)
        batch_size = config.eval_batch_size or self.rank_batch_size
        global_batch = batch_size * accelerator.num_processes
        sums: dict[str, torch.Tensor] = {}
        model = self.unwrapped
        with self._ema_weights():
            model.eval()
            for start in range(0, num_examples, global_batch):
                first = start + accelerator.process_index * batch_size
                rows = np.arange(first, min(first + batch_size, num_examples))
                batch = collate(test, rows, accelerator.device, pad_to=batch_size)
                state = None
                for _ in range(model.config.max_supervision_steps):
                    output = model(**batch, state=state)
                    state = output.state
                for key, value in output.metrics.items():
                    sums[key] = sums.get(key, 0) + value.detach().double()
            model.train()
        keys = sorted(sums)
        totals = accelerator.reduce(torch.stack([sums[k] for k in keys]).to(accelerator.device), "sum")
        totals = dict(zip(keys, totals.tolist()))
        count = max(totals["count"], 1.0)
        return {
            "exact_accuracy": totals["exact_accuracy"] / count,
            "cell_accuracy": totals["accuracy"] / count,
            "halting_accuracy": totals["q_halt_accuracy"] / count,
            "mean_steps": totals["steps"] / count,
            "lm_loss": totals["lm_loss"] / count,
            "num_puzzles": totals["count"],
        }

    @contextlib.contextmanager
    def _ema_weights(self):
        if self.ema is None:
            yield
            return
        params = self.ema._params(self.unwrapped)
        raw = [p.detach().clone() for p in params]
        self.ema.copy_to(self.unwrapped)
        try:
            yield
        finally:
            copy_tensors_(params, raw)

    def _log_eval(self, step: int) -> dict[str, float]:
        metrics = self.evaluate()
        self.progress.history["eval"].append({"step": step, **metrics})
        self.accelerator.log({f"eval/{k}": v for k, v in metrics.items()}, step=step)
        if metrics["exact_accuracy"] > self.progress.best_exact_accuracy:
            self.progress.best_exact_accuracy, self.progress.best_step = metrics["exact_accuracy"], step
        self.accelerator.print(
            f"step {step}: eval exact {metrics['exact_accuracy']:.4f}  cell {metrics['cell_accuracy']:.4f}  "
            f"halting {metrics['halting_accuracy']:.4f}  steps {metrics['mean_steps']:.2f}"
        )
        return metrics

    # ----------------------------------------------------------------------------- training
    def train_step(self, step: int, global_rows: np.ndarray) -> dict[str, torch.Tensor]:
        """One optimizer step: ONE forward per micro-batch slice with its carried ACT state."""
        accelerator, config = self.accelerator, self.config
        scale = lr_lambda(step, config.lr_warmup_steps, self.total_steps, config.lr_min_ratio)
        for group in self.optimizer.param_groups if self.optimizer is not None else ():
            group["lr"] = config.lr * scale
        if self.sign_sgd is not None:
            self.sign_sgd.param_groups[0]["lr"] = config.puzzle_emb_lr * scale

        first = accelerator.process_index * self.rank_batch_size
        rank_rows = global_rows[first : first + self.rank_batch_size]
        accumulation = len(self.act_states)
        sums: dict[str, torch.Tensor] = {}
        loss_sum = torch.zeros((), dtype=torch.float64, device=accelerator.device)
        for micro in range(accumulation):
            rows = rank_rows[micro * self.micro_batch_size : (micro + 1) * self.micro_batch_size]
            batch = collate(self.dataset["train"], rows, accelerator.device)
            # Gradients are all-reduced only on the last micro-batch.
            sync = contextlib.nullcontext() if micro == accumulation - 1 else accelerator.no_sync(self.model)
            with sync:
                output = self.model(**batch, state=self.act_states[micro])
                # output.loss = total / micro batch; DDP averages over ranks -> total / global batch.
                accelerator.backward(output.loss / accumulation)
            self.act_states[micro] = output.state
            if self.sign_sgd is not None:
                self.sign_sgd.collect()
            loss_sum += output.loss.detach().double() / accumulation
            for key, value in output.metrics.items():
                sums[key] = sums.get(key, 0) + value.detach().double()
        return {"loss": loss_sum, **sums}

    def run(self) -> Path:
        accelerator, config, progress = self.accelerator, self.config, self.progress
        if accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            for stale in self.checkpoint_dir.glob("checkpoint-*.tmp"):  # left by a crash mid-save
                shutil.rmtree(stale, ignore_errors=True)
        accelerator.init_trackers("trm", config=_flat_hparams(config))
        n_params = self.unwrapped.num_parameters()
        accelerator.print(
            f"{type(self.unwrapped).__name__}: {n_params:,} parameters; data {self.metadata.recipe!r} "
            f"(train {len(self.dataset['train']):,}, test {len(self.dataset['test']):,} examples); "
            f"{self.total_steps:,} steps of global batch {config.global_batch_size} on {accelerator.num_processes} process(es)"
        )
        if config.eval_at_start and progress.step == 0 and not progress.history["eval"]:
            self._log_eval(0)

        # Every step trains: halting by the Q head, exploration and the puzzle table's gradients exist
        # only in training mode (a model from `from_pretrained` or an evaluation arrives in eval mode).
        self.model.train()
        window: dict[str, torch.Tensor] = {}
        window_steps, started = 0, time.perf_counter()
        batches = iter(self.sampler)
        bar = tqdm(total=self.total_steps, initial=progress.step, disable=not accelerator.is_local_main_process,
                   desc="train", dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30)
        last_exact = progress.history["eval"][-1]["exact_accuracy"] if progress.history["eval"] else float("nan")
        with InterruptFlag() as interrupt:
            while progress.step < self.total_steps:
                step = progress.step + 1
                stats = self.train_step(step, next(batches))
                # One small all-reduce: the global loss (for the NaN guard) and the Ctrl-C flag.
                flags = accelerator.reduce(
                    torch.stack([stats["loss"], torch.tensor(float(interrupt.requested), dtype=torch.float64,
                                                             device=accelerator.device)]), "sum")
                global_loss = flags[0].item() / accelerator.num_processes
                if not math.isfinite(global_loss):
                    saved = list_checkpoints(self.checkpoint_dir)
                    raise FloatingPointError(
                        f"non-finite loss ({global_loss}) at step {step}; stopping without saving. Last good "
                        f"checkpoint: {saved[-1] if saved else 'none'}"
                    )
                if self.optimizer is not None:
                    self.optimizer.step()
                if self.sign_sgd is not None:
                    self.sign_sgd.step()
                self.model.zero_grad(set_to_none=True)
                if self.ema is not None:
                    self.ema.update(self.unwrapped)
                progress.step = step

                for key, value in stats.items():
                    window[key] = window.get(key, 0) + value
                window_steps += 1
                lr = (self.optimizer or self.sign_sgd).param_groups[0]["lr"]
                bar.update(1)
                bar.set_postfix(loss=f"{global_loss:.4f}", lr=f"{lr:.2e}", exact=f"{last_exact:.3f}")
                if step % config.log_interval == 0 or step == self.total_steps:
                    record = self._train_record(window, window_steps, lr, time.perf_counter() - started)
                    progress.history["train"].append({"step": step, **record})
                    accelerator.log({f"train/{k}": v for k, v in record.items()}, step=step)
                    window, window_steps, started = {}, 0, time.perf_counter()

                evaluate_now = step % self.eval_every == 0 or step == self.total_steps
                if evaluate_now:
                    last_exact = self._log_eval(step)["exact_accuracy"]
                checkpoint_now = evaluate_now or (config.checkpoint_interval and step % config.checkpoint_interval == 0)
                stop = flags[1].item() > 0
                if checkpoint_now or stop:
                    self.save_checkpoint()
                    self._write_log()
                if stop:
                    accelerator.print(f"Stopped at step {step}; resume with --resume")
                    break
        bar.close()
        self.interrupted = interrupted = progress.step < self.total_steps
        if not interrupted:
            self.finish()
        accelerator.end_training()
        return self.output_dir

    def _train_record(self, window, steps, lr, seconds) -> dict[str, float]:
        keys = sorted(window)
        totals = dict(zip(keys, self.accelerator.reduce(torch.stack([window[k] for k in keys]), "sum").tolist()))
        count = max(totals["count"], 1.0)
        examples = steps * self.config.global_batch_size
        record = {
            "loss": totals["loss"] / (steps * self.accelerator.num_processes),
            "lm_loss": totals["lm_loss"] / examples,
            "q_halt_loss": totals["q_halt_loss"] / examples,
            "exact_accuracy": totals["exact_accuracy"] / count,
            "accuracy": totals["accuracy"] / count,
            "q_halt_accuracy": totals["q_halt_accuracy"] / count,
            "steps": totals["steps"] / count,
            "lr": lr,
            "steps_per_second": steps / max(seconds, 1e-9),
        }
        if "q_continue_loss" in totals:
            record["q_continue_loss"] = totals["q_continue_loss"] / examples
        return record

    def _write_log(self) -> None:
        if self.accelerator.is_main_process:
            log = {"config": self.config.to_dict(), "best_step": self.progress.best_step, **self.progress.history}
            (self.output_dir / "training_log.json").write_text(json.dumps(log, indent=1))

    # ----------------------------------------------------------------------------- final model
    def finish(self) -> None:
        """EMA weights -> ``save_pretrained`` folder with processor, eval results, card; sample solve."""
        accelerator = self.accelerator
        self._write_log()
        final_eval = self.progress.history["eval"][-1] if self.progress.history["eval"] else self._log_eval(self.progress.step)
        if self.ema is not None:
            self.ema.copy_to(self.unwrapped)  # what is evaluated is what is published
        # Under FSDP the parameters are sharded: every rank takes part in gathering the full weights.
        state_dict = accelerator.get_state_dict(self.model)
        if not accelerator.is_main_process:
            return
        model, metadata = self.unwrapped, self.metadata
        stage = checkpointing.new_stage(self.output_dir)  # the files move into output_dir once all are whole
        model.save_pretrained(stage, state_dict=state_dict)
        processor = _make_processor(metadata)
        processor.save_pretrained(stage)
        results = {
            "dataset": self.config.dataset or metadata.recipe,
            "recipe": metadata.recipe,
            "split": "test",
            "step": final_eval["step"],
            "halting": "fixed",
            "max_steps": model.config.max_supervision_steps,
            "weights": "ema" if self.ema is not None else "raw",
            "metrics": {k: v for k, v in final_eval.items() if k != "step"},
            "before_training": self.progress.history["eval"][0] if self.config.eval_at_start else None,
        }
        (stage / "eval_results.json").write_text(json.dumps(results, indent=2))
        self.config.save_yaml(stage / "training_config.yaml")
        plot_training_curves(self.output_dir / "training_log.json", stage / "training_curves.png")
        checkpointing.commit_stage(stage, self.output_dir)
        _render_card(self.output_dir, results)
        if self.config.solve_sample:
            # a sharded model cannot run on the main process alone: solve with the saved full weights
            solver = model
            if accelerator.is_fsdp2:
                solver = type(model).from_pretrained(self.output_dir).to(accelerator.device)
            print_sample_solution(solver, self.dataset["test"], processor, accelerator.device,
                                  final_eval.get("exact_accuracy"))
        if self.config.push_to_hub:
            from training.publish import push_model_folder

            push_model_folder(self.output_dir, self.config.push_to_hub)
        print(f"Saved the trained model (EMA weights) to {self.output_dir}")


def _make_processor(metadata):
    """The processor saved with the model: the task's vocabulary, grid size and puzzle-name map."""
    from modeling_trm.processing_trm import PuzzleProcessor

    grid_size = (metadata.grid_shape or (math.isqrt(metadata.seq_len),))[0]  # ARC: the canvas side
    return PuzzleProcessor(task=metadata.task, grid_size=grid_size, puzzle_identifiers=list(metadata.puzzle_identifiers))


def _render_card(output_dir: Path, results: dict) -> None:
    try:
        from model_cards.render import render_model_card
    except ImportError:
        print("model_cards.render is not available: no model card written")
        return
    render_model_card(output_dir)


def print_sample_solution(model, test_dataset, processor, device, exact_accuracy: float | None = None) -> None:
    """Print a held-out puzzle the model solves (or its failure), with a computed verdict (training/sample.py)."""
    from training.sample import sample_solution_text

    print(sample_solution_text(model, test_dataset, processor, device, exact_accuracy))


def plot_training_curves(log_path: str | Path, png_path: str | Path) -> Path:
    """Training loss and eval exact accuracy against the optimizer step, from ``training_log.json``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = json.loads(Path(log_path).read_text())
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    loss_ax.plot([r["step"] for r in log["train"]], [r["loss"] for r in log["train"]])
    loss_ax.set(xlabel="optimizer step (= supervision step)", ylabel="training loss", title="loss")
    for key, label in (("exact_accuracy", "exact"), ("cell_accuracy", "cell")):
        acc_ax.plot([r["step"] for r in log["eval"]], [r[key] for r in log["eval"]], marker="o", label=label)
    acc_ax.set(xlabel="optimizer step", ylabel="test accuracy (EMA weights)", ylim=(0, 1), title="evaluation")
    acc_ax.legend()
    fig.suptitle(f"{log['config'].get('dataset_recipe') or log['config'].get('dataset')}")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return Path(png_path)


def _trackers(log_with: str | None) -> list[str] | None:
    if log_with in (None, "none", ""):
        return None
    if log_with == "auto":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            return None
        return ["tensorboard"]
    return [name.strip() for name in log_with.split(",")]


def _flat_hparams(config: TrainingConfig) -> dict[str, Any]:
    """Tracker-friendly hyper-parameters: flat keys, scalar values."""
    flat = {}
    for key, value in config.to_dict().items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, item in items:
            name = key if sub is None else f"{key}.{sub}"
            flat[name] = item if isinstance(item, (int, float, str, bool)) else str(item)
    return flat


def train(config: TrainingConfig) -> Path:
    """Train as configured; returns the output folder (the saved model folder)."""
    return Trainer(config).run()


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None = None) -> TrainingConfig:
    parser = argparse.ArgumentParser(
        prog="trm train",
        description="Train a TRM/HRM with deep supervision (one optimizer step per supervision step), "
        "AdamATan2, sign-SGD puzzle embeddings and EMA. Without --preset: a small Sudoku generated "
        "locally, trained on CPU in about ten minutes.",
        epilog="Any TrainingConfig field can be overridden as key=value, e.g. lr=3e-4 model.hidden_size=128. "
        f"Presets: {', '.join(PRESETS)}.",
    )
    parser.add_argument("--preset", default=None, choices=sorted(PRESETS), help=f"default: {DEFAULT_PRESET}")
    parser.add_argument("--config", default=None, help="YAML file with TrainingConfig fields (may name a `preset`)")
    parser.add_argument("--output-dir", default=None, help="where the model folder (and checkpoints/) go")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CKPT",
                        help="resume from CKPT, or from the latest complete checkpoint in the output dir")
    parser.add_argument("--push-to-hub", default=None, metavar="REPO", help="upload the final model folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in an output dir that holds another run (its checkpoints are deleted)")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_intermixed_args(argv)
    if args.resume is not None and "=" in args.resume and not Path(args.resume).exists():
        args.overrides.insert(0, args.resume)  # `--resume lr=1e-4`: an override, not a checkpoint path
        args.resume = "latest"

    if args.config and args.preset:
        parser.error("give either --preset or --config (a config file may name its preset)")
    config = TrainingConfig.from_yaml(args.config) if args.config else PRESETS[args.preset or DEFAULT_PRESET]
    values = config.to_dict()
    overrides = parse_overrides(args.overrides)
    if "init_from" in overrides and not any(k == "model" or k.startswith("model.") for k in overrides):
        values["model"] = {}  # fine-tuning: the architecture comes from the checkpoint
    if args.preset in FINE_TUNING_PRESETS and "init_from" not in overrides:
        parser.error(f"--preset {args.preset} fine-tunes a pretrained model: give init_from=MODEL_DIR_OR_REPO")
    if "dataset" in overrides and "dataset_recipe" not in overrides:
        values["dataset_recipe"] = None  # a saved dataset replaces the preset's recipe
    for flag, key in ((args.output_dir, "output_dir"), (args.max_steps, "max_steps"), (args.resume, "resume_from"),
                      (args.push_to_hub, "push_to_hub")):
        if flag is not None:
            overrides[key] = flag
    if args.overwrite:
        overrides["overwrite_output_dir"] = True
    return TrainingConfig.from_dict(apply_overrides(values, overrides))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    trainer = Trainer(config)
    trainer.run()
    return 130 if trainer.interrupted else 0  # Ctrl-C: checkpoint saved, exit like an interrupted command


if __name__ == "__main__":
    sys.exit(main())
