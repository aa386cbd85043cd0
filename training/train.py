"""Train a TRM/HRM with Accelerate: ``trm train``, ``python -m training.train`` or ``accelerate launch``.

One optimizer step = one supervision step (docs/numerics.md#training-step), all of it in
`Trainer.training_step`: every step feeds the next global batch to ONE model forward together with the
carried ACT state; slots that halted at the previous step take the same-index row of the new batch and
restart, the others keep refining their puzzle and ignore it. The state starts "all halted", persists
across steps and batches, and is checkpointed with everything else, so ``--resume`` continues bit-exactly.
`Trainer.run` is the loop around it: logging, evaluation with the EMA weights, checkpoints
(`training.checkpointing`), Ctrl-C, and the final model folder (`Trainer.finish`). The data comes from
`training.data`, the model from `training.models`, the optimizers from `training.optim`.

    trm train                                    # default preset: small generated Sudoku, CPU, ~10 min
    trm train --preset sudoku-att dataset=PATH   # a paper recipe on a built dataset
    accelerate launch --multi_gpu --num_processes 4 -m training.train --preset arc1 dataset=PATH
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, set_seed

from hub_datasets.builders import split_statistics
from hub_datasets.progress import progress_bar, quiet_library_bars
from model_cards.render import RESULTS_FILENAME, band_accuracy_text, render_model_card
from modeling_trm.folders import write_text_atomically
from training import checkpointing
from training.config import (
    DEFAULT_PRESET,
    FINE_TUNING_PRESETS,
    PRESETS,
    TrainingConfig,
    apply_overrides,
    parse_overrides,
)
from training.data import PuzzleIndex, TrainBatchSampler, collate, load_training_data, split_off_calibration
from training.evaluation import calibrate_halt_confidence, evaluate, plot_training_curves, save_eval_results
from training.hardware import choose_num_threads, resolve_compile, resolve_forward_dtype
from training.metrics import add_sums, score_sums, summarize
from training.models import build_model, check_dataset_fits, make_processor
from training.optim import EMA, AdamATan2, SparsePuzzleEmbeddingSignSGD, lr_lambda
from training.publish import push_model_folder
from training.sample import sample_solution_text


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
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
        print("\nInterrupted: saving a checkpoint after this step (Ctrl-C again to abort).", file=sys.stderr)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# The model config fields that set the recursion depth, outer loop first: what `depth_curriculum` scales.
DEPTH_FIELDS = {"trm": ("num_recursions", "num_latent_updates"), "hrm": ("high_cycles", "low_cycles")}


def curriculum_depth(full_depth: tuple[int, ...], stage_starts: list[float], done: float) -> tuple[int, ...]:
    """The loop counts of the depth-curriculum stage at ``done`` (the fraction of training steps already taken):
    stage k of K trains with ceil(k/K) of each full count (CGAR, arXiv 2511.08653)."""
    stages = len(stage_starts) + 1
    stage = 1 + sum(done >= start for start in stage_starts)
    return tuple(math.ceil(stage * count / stages) for count in full_depth)


@contextlib.contextmanager
def recursion_depth(model, depth: tuple[int, ...]):
    """Run ``model`` with other loop counts; the full ones come back afterwards (evaluation, saving)."""
    fields = DEPTH_FIELDS[model.config.model_type]
    full_depth = tuple(getattr(model.config, name) for name in fields)
    for name, count in zip(fields, depth):
        setattr(model.config, name, count)
    try:
        yield
    finally:
        for name, count in zip(fields, full_depth):
            setattr(model.config, name, count)


HALT_CALIBRATION_FILENAME = "halt_calibration.json"  # the halting choice of a run, in its model folder


class Trainer:
    """Holds what a checkpoint must capture; ``run()`` is the training loop."""

    def __init__(self, config: TrainingConfig):
        self.config = config
        # before this process adds to the load: the cores other programs leave free (training/hardware.py)
        self.num_threads, self.threads_reason = choose_num_threads()
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
        # every process trains on the same split; only the main one, which calibrates at the end, draws puzzles
        self.dataset, self.calibration, self.calibration_source = split_off_calibration(
            config, self.dataset, generate=accelerator.is_main_process)
        set_seed(config.seed)  # identical initial weights on every rank
        model = build_model(config, self.metadata, accelerator.device)
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
        if optimizer is None:
            self.model, self.optimizer = accelerator.prepare(model), None
        else:
            self.model, self.optimizer = accelerator.prepare(model, optimizer)
        # Only the training step's forward is compiled. The model itself stays as it is: evaluation and the saved
        # model run eagerly, as `trm eval` runs them, and the weights keep their names (a compiled module saves
        # them as "_orig_mod.*", which from_pretrained does not load).
        backend, self.compile_reason = resolve_compile(config.compile, accelerator.device)
        self.training_forward = torch.compile(self.model, backend=backend) if backend else self.model
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

        train_stats = split_statistics(self.dataset["train"])  # less any groups held out for calibration
        self.sampler = TrainBatchSampler(PuzzleIndex.from_dataset(self.dataset["train"]), config.global_batch_size,
                                         epochs_per_chunk=config.eval_interval, seed=config.seed)
        steps_per_epoch = train_stats.total_groups * train_stats.mean_puzzle_examples / config.global_batch_size
        self.total_steps = int(config.epochs * steps_per_epoch)
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)
        self.eval_every = max(1, int(config.eval_interval * steps_per_epoch))
        # the loaded model's own depth fields: a fine-tuned init_from decides whether they are T, n or HRM cycles
        self.full_depth = tuple(getattr(self.unwrapped.config, name)
                                for name in DEPTH_FIELDS[self.unwrapped.config.model_type])
        self.progress = TrainingProgress()
        self.act_states: list[Any] = [None] * accumulation  # one carry per micro-batch slice
        # Sampler, progress and EMA are saved by `training.checkpointing` as JSON/safetensors, not
        # registered with Accelerate, which would pickle them (and unpickle them on resume).
        if config.resume_from:
            self.resume(config.resume_from)

    # ----------------------------------------------------------------------------- the training step
    def training_step(self, step: int, global_rows: np.ndarray, interrupt: InterruptFlag | None = None):
        """One supervision step = one optimizer step (docs/numerics.md#training-step).

        ONE forward per micro-batch slice with its carried ACT state (slots that halted take the new
        rows), backward, then AdamATan2 on the network, sign-SGD on the batch's puzzle-embedding rows,
        zero-grad and the EMA update. Returns the step's summed metrics (loss-head vocabulary plus
        ``loss``), the mean loss over all processes, and whether any process asked to stop (Ctrl-C).
        """
        accelerator, config, accumulation = self.accelerator, self.config, len(self.act_states)
        scale = lr_lambda(step, config.lr_warmup_steps, self.total_steps, config.lr_min_ratio)
        for group in self.optimizer.param_groups if self.optimizer is not None else ():
            group["lr"] = config.lr * scale
        if self.sign_sgd is not None:
            self.sign_sgd.param_groups[0]["lr"] = config.puzzle_emb_lr * scale

        first = accelerator.process_index * self.rank_batch_size
        rank_rows = global_rows[first : first + self.rank_batch_size]
        sums: dict[str, torch.Tensor] = {}
        with recursion_depth(self.unwrapped, self.depth_at(step)):
            for micro, state in enumerate(self.act_states):
                rows = rank_rows[micro * self.micro_batch_size : (micro + 1) * self.micro_batch_size]
                batch = collate(self.dataset["train"], rows, accelerator.device)
                # Gradients are all-reduced only on the last micro-batch.
                sync = contextlib.nullcontext() if micro == accumulation - 1 else accelerator.no_sync(self.model)
                with sync:
                    output = self.training_forward(**batch, state=state)
                    # output.loss = total / micro batch; DDP averages over ranks -> total / global batch.
                    accelerator.backward(output.loss / accumulation)
                self.act_states[micro] = output.state
                if self.sign_sgd is not None:
                    self.sign_sgd.collect()
                add_sums(sums, {"loss": output.loss.detach().double() / accumulation, **output.metrics})

        # One small all-reduce: the global loss (a non-finite one never reaches the weights) and Ctrl-C.
        stop = float(interrupt is not None and interrupt.requested)
        flags = accelerator.reduce(torch.stack([sums["loss"], sums["loss"].new_tensor(stop)]), "sum")
        global_loss = flags[0].item() / accelerator.num_processes
        if not math.isfinite(global_loss):
            saved = checkpointing.list_checkpoints(self.checkpoint_dir)
            raise FloatingPointError(f"non-finite loss ({global_loss}) at step {step}; stopping without saving. "
                                     f"Last good checkpoint: {saved[-1] if saved else 'none'}")
        if self.optimizer is not None:
            self.optimizer.step()
        if self.sign_sgd is not None:
            self.sign_sgd.step()
        self.model.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.unwrapped)
        return sums, global_loss, flags[1].item() > 0

    def depth_at(self, step: int) -> tuple[int, ...]:
        """The recursion depth of training step ``step`` (1-based): the full one without a depth curriculum."""
        if not self.config.depth_curriculum:
            return self.full_depth
        return curriculum_depth(self.full_depth, self.config.depth_curriculum, (step - 1) / self.total_steps)

    def _depth_schedule_text(self) -> str:
        stages = [(1, self.depth_at(1))]
        for start in self.config.depth_curriculum or ():
            step = math.floor(start * self.total_steps) + 1  # the first step with (step - 1) / total >= start
            while (step - 1) / self.total_steps < start:
                step += 1
            stages.append((step, self.depth_at(step)))
        fields = " x ".join(DEPTH_FIELDS[self.unwrapped.config.model_type])
        return f"depth curriculum ({fields}): " + ", ".join(
            f"{'x'.join(map(str, depth))} from step {step:,}" for step, depth in stages)

    # ----------------------------------------------------------------------------- the loop
    def run(self) -> Path:
        accelerator, config, progress = self.accelerator, self.config, self.progress
        if accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            checkpointing.remove_partial_saves(self.checkpoint_dir)
        accelerator.init_trackers("trm", config=_flat_hparams(config))
        accelerator.print(
            f"{type(self.unwrapped).__name__}: {self.unwrapped.num_parameters():,} parameters; data "
            f"{self.metadata.recipe!r} (train {len(self.dataset['train']):,}, test {len(self.dataset['test']):,} "
            f"examples); {self.total_steps:,} steps of global batch {config.global_batch_size} on "
            f"{accelerator.num_processes} process(es)"
        )
        requested = config.model.get("forward_dtype")
        dtype_reason = resolve_forward_dtype(requested, accelerator.device)[1] if requested else "the model's default"
        accelerator.print(f"forward dtype {self.unwrapped.config.forward_dtype} ({dtype_reason}); training step "
                          f"{self.compile_reason}; {self.num_threads} CPU thread(s) per process "
                          f"({self.threads_reason}); halting calibration: {self.calibration_source}")
        if config.depth_curriculum:
            accelerator.print(self._depth_schedule_text())
        if config.eval_at_start and progress.step == 0 and not progress.history["eval"]:
            self._log_eval(0)

        # Every step trains: halting by the Q head, exploration and the puzzle table's gradients exist
        # only in training mode (a model from `from_pretrained` or an evaluation arrives in eval mode).
        self.model.train()
        window: dict[str, torch.Tensor] = {}
        window_steps, started = 0, time.perf_counter()
        batches = iter(self.sampler)
        bar = progress_bar(total=self.total_steps, initial=progress.step, desc="train",
                           disable=not accelerator.is_local_main_process)
        last_exact = progress.history["eval"][-1]["exact_accuracy"] if progress.history["eval"] else float("nan")
        with InterruptFlag() as interrupt:
            while progress.step < self.total_steps:
                step = progress.step + 1
                sums, loss, stop = self.training_step(step, next(batches), interrupt)
                progress.step = step
                add_sums(window, sums)
                window_steps += 1
                lr = (self.optimizer or self.sign_sgd).param_groups[0]["lr"]
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", exact=f"{last_exact:.3f}", refresh=False)
                bar.update(1)
                if step % config.log_interval == 0 or step == self.total_steps:
                    record = self._train_record(window, window_steps, lr, time.perf_counter() - started)
                    progress.history["train"].append({"step": step, **record})
                    accelerator.log({f"train/{k}": v for k, v in record.items()}, step=step)
                    window, window_steps, started = {}, 0, time.perf_counter()

                evaluate_now = step % self.eval_every == 0 or step == self.total_steps
                if evaluate_now:
                    last_exact = self._log_eval(step)["exact_accuracy"]
                if evaluate_now or stop or (config.checkpoint_interval and step % config.checkpoint_interval == 0):
                    self.save_checkpoint()
                    self._write_log()
                if stop:
                    accelerator.print(f"Stopped at step {step}; resume with --resume")
                    break
        bar.close()
        self.interrupted = progress.step < self.total_steps
        if not self.interrupted:
            with checkpointing.final_save_guard(self.output_dir):
                self.finish()
        accelerator.end_training()
        return self.output_dir

    def _train_record(self, window, steps, lr, seconds) -> dict[str, float]:
        keys = sorted(window)
        totals = dict(zip(keys, self.accelerator.reduce(torch.stack([window[k] for k in keys]), "sum").tolist()))
        return {
            "loss": totals.pop("loss") / (steps * self.accelerator.num_processes),
            **summarize(totals, num_examples=steps * self.config.global_batch_size),
            "lr": lr,
            "steps_per_second": steps / max(seconds, 1e-9),
        }

    def _write_log(self) -> None:
        if self.accelerator.is_main_process:
            log = {"config": self.config.to_dict(), "best_step": self.progress.best_step, **self.progress.history}
            write_text_atomically(self.output_dir / "training_log.json", json.dumps(log, indent=1))

    # ----------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> Path:
        return checkpointing.save_checkpoint(self.accelerator, self.checkpoint_dir, config=self.config,
                                             progress=self.progress, sampler=self.sampler,
                                             act_states=self.act_states, ema=self.ema)

    def resume(self, which: str) -> None:
        path = checkpointing.find_checkpoint(self.checkpoint_dir, which)
        self.act_states = checkpointing.load_checkpoint(self.accelerator, path, config=self.config,
                                                        progress=self.progress, sampler=self.sampler,
                                                        act_states=self.act_states, ema=self.ema)
        self.accelerator.print(f"Resumed from {path} at step {self.progress.step}")

    # ----------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Paper metrics on the test split with the EMA weights: `solve` with fixed halting on each process's
        rows (the official evaluation rollout: a fresh state, all ``max_supervision_steps`` steps), scored by
        `score_sums` as `training.evaluation.evaluate` scores them, summed over all processes."""
        accelerator, config, model = self.accelerator, self.config, self.unwrapped
        test = self.dataset["test"]
        num_examples = len(test) if config.eval_max_examples is None else min(len(test), config.eval_max_examples)
        batch_size = config.eval_batch_size or self.rank_batch_size
        global_batch = batch_size * accelerator.num_processes
        sums: dict[str, float] = {}
        with self.ema.applied_to(model) if self.ema is not None else contextlib.nullcontext():
            for start in range(0, num_examples, global_batch):
                first = start + accelerator.process_index * batch_size
                rows = np.arange(first, min(first + batch_size, num_examples))
                # padded rows (ignored labels) keep every process running the same steps
                batch = collate(test, rows, accelerator.device, pad_to=batch_size)
                output = model.solve(batch["input_ids"], batch["puzzle_ids"], halting="fixed",
                                     max_steps=model.config.max_supervision_steps)
                add_sums(sums, score_sums(output.predictions.cpu().numpy(), batch["labels"].cpu().numpy(),
                                          output.halt_logits[-1].cpu().numpy(), output.steps.cpu().numpy()))
        keys = sorted(sums)
        totals = accelerator.reduce(torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=accelerator.device),
                                    "sum")
        return summarize(dict(zip(keys, totals.tolist())))

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

    # ----------------------------------------------------------------------------- final model
    def finish(self) -> None:
        """EMA weights -> ``save_pretrained`` folder with processor, eval results, card; sample solve.

        The card's scores are those of `training.evaluation.evaluate` on the saved weights, the function
        (and the default batch size) of ``trm eval``: the same model gives the same numbers either way.
        """
        accelerator, config = self.accelerator, self.config
        self._write_log()
        if self.ema is not None:
            self.ema.copy_to(self.unwrapped)  # what is evaluated is what is published
        # Under FSDP the parameters are sharded: every rank takes part in gathering the full weights.
        state_dict = accelerator.get_state_dict(self.model)
        if not accelerator.is_main_process:
            return
        model, metadata = self.unwrapped, self.metadata
        stage = checkpointing.new_stage(self.output_dir)  # the files move into output_dir once all are whole
        model.save_pretrained(stage, state_dict=state_dict)
        processor = make_processor(metadata)
        processor.save_pretrained(stage)
        # a sharded model cannot run on the main process alone: solve with the saved full weights
        solver = type(model).from_pretrained(stage).to(accelerator.device) if accelerator.is_fsdp2 else model
        calibration = self._calibrate_halting(solver)
        scores = evaluate(solver, self.dataset["test"], metadata, batch_size=config.eval_batch_size or 256,
                          limit=config.eval_max_examples, by_difficulty=metadata.task == "sudoku")
        adaptive, halting_report = self._save_halting(solver, calibration, scores, stage) if calibration else (None, None)
        provenance = dict(model=str(self.output_dir), model_type=model.config.model_type,
                          dataset=config.dataset or metadata.recipe, dataset_recipe=metadata.recipe, split="test",
                          limit=config.eval_max_examples, step=self.progress.step,
                          weights="ema" if self.ema is not None else "raw")
        save_eval_results(scores, stage / RESULTS_FILENAME, **provenance)
        if adaptive is not None:  # the card shows both: the paper's fixed evaluation and adaptive halting
            save_eval_results(adaptive, stage / RESULTS_FILENAME, keep_others=True, **provenance)
        config.save_yaml(stage / "training_config.yaml")
        plot_training_curves(self.output_dir / "training_log.json", stage / "training_curves.png")
        checkpointing.commit_stage(stage, self.output_dir)
        render_model_card(self.output_dir)
        if halting_report:
            print(halting_report)
        if scores.get("exact_accuracy_by_difficulty"):
            print("Test exact accuracy by difficulty (guesses of the package's Sudoku solver), fixed halting: "
                  + ", ".join(f"{band['band']} {band_accuracy_text(band)}"
                              for band in scores["exact_accuracy_by_difficulty"] if band["num_puzzles"]))
        if config.solve_sample:
            print(sample_solution_text(solver, self.dataset["test"], processor, accelerator.device,
                                       scores.get("exact_accuracy")))
        if config.push_to_hub:
            push_model_folder(self.output_dir, config.push_to_hub)
        print(f"Saved the trained model (EMA weights) to {self.output_dir}")

    def _calibrate_halting(self, solver) -> dict | None:
        """Choose ``solve_config.halt_confidence`` on the calibration puzzles (never train or test): the most
        exact confidence among those at which adaptive halting is as exact as fixed halting at the trained step
        count (`training.evaluation.calibrate_halt_confidence`)."""
        if self.calibration is None or len(self.calibration) == 0:
            print(f"Adaptive halting keeps confidence {solver.solve_config.halt_confidence}: {self.calibration_source}")
            return None
        calibration = calibrate_halt_confidence(solver, self.calibration, batch_size=self.config.eval_batch_size or 256)
        if calibration["halt_confidence"] is not None:
            solver.solve_config = solver.solve_config.update(halt_confidence=calibration["halt_confidence"])
        return {"source": self.calibration_source, **calibration}

    def _save_halting(self, solver, calibration: dict, fixed: dict, stage: Path) -> tuple[dict, str]:
        """Fixed against adaptive halting on the test split at the chosen confidence, saved with the choice in
        solve_config.json and halt_calibration.json; returns the adaptive scores and the line to print."""
        adaptive = evaluate(solver, self.dataset["test"], self.metadata, halting="adaptive",
                            batch_size=self.config.eval_batch_size or 256, limit=self.config.eval_max_examples,
                            progress=False)
        test = {name: {key: scores[key] for key in ("exact_accuracy", "mean_steps", "max_steps")}
                for name, scores in (("fixed", fixed), ("adaptive", adaptive))}
        confidence = solver.solve_config.halt_confidence
        test["adaptive"]["halt_confidence"] = confidence
        solver.solve_config.save_pretrained(stage)
        (stage / HALT_CALIBRATION_FILENAME).write_text(json.dumps({**calibration, "test": test}, indent=1))
        how = "chosen on" if calibration["halt_confidence"] is not None else "kept: nothing matched fixed halting on"
        return adaptive, (f"Adaptive halting at confidence {confidence} ({how} {calibration['num_puzzles']} "
                          f"calibration puzzles: {calibration['source']}).\nTest exact accuracy: fixed "
                          f"{fixed['exact_accuracy']:.4f} at {fixed['mean_steps']:.2f} steps, adaptive "
                          f"{adaptive['exact_accuracy']:.4f} at {adaptive['mean_steps']:.2f} mean steps")


# Trackers this package documents, with the module they need and the extra that installs it.
TRACKER_EXTRAS = {"tensorboard": ("tensorboard", "tracking"), "trackio": ("trackio", "trackio")}


def _trackers(log_with: str | None) -> list[str] | None:
    """Accelerate tracker names for ``log_with``. A tracker asked for by name must be usable: Accelerate
    only warns about a missing one and trains without logging, which is easy to miss in a long run."""
    if log_with in (None, "none", ""):
        return None
    if log_with == "auto":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            return None
        return ["tensorboard"]
    from accelerate.utils import LoggerType

    names = [name.strip() for name in log_with.split(",") if name.strip()]
    known = [t.value for t in LoggerType if t.value != "all"]
    for name in names:
        if name not in known:
            raise ValueError(f"log_with: unknown tracker {name!r} (one of {', '.join(known)}, 'auto' or 'none')")
        module, extra = TRACKER_EXTRAS.get(name, (name, None))
        try:
            importlib.import_module(module)
        except ImportError:
            install = f"pip install 'trm-hf[{extra}]'" if extra else f"pip install {module}"
            raise ValueError(f"log_with={name} but {module} is not installed: {install} "
                             "(or log_with=none)") from None
    return names


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
    with run_folder(config):
        return Trainer(config).run()


def run_folder(config: TrainingConfig):
    """The run folder's lock (one run per folder), taken once the options that need no folder are right."""
    _trackers(config.log_with)  # a tracker mistake is refused before the run folder is created
    return checkpointing.run_folder_lock(config)


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None = None) -> TrainingConfig:
    parser = argparse.ArgumentParser(
        prog="trm train",
        description="Train a TRM/HRM with deep supervision (one optimizer step per supervision step), "
        "AdamATan2, sign-SGD puzzle embeddings and EMA. Without --preset: a small Sudoku generated "
        "locally, trained on CPU in a few minutes (2.5 on two cores in bfloat16).",
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
    quiet_library_bars()  # a log file gets our progress lines only
    with run_folder(config):  # one run per output folder
        trainer = Trainer(config)
        trainer.run()
    return 130 if trainer.interrupted else 0  # Ctrl-C: checkpoint saved, exit like an interrupted command


if __name__ == "__main__":
    sys.exit(main())
