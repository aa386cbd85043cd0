"""`solve()`: recursive refinement at inference time, the `generate` of TRM/HRM.

One call of the model's `forward` is one supervision step. `solve` drives those steps itself:
it keeps every puzzle's carry (instead of letting the model reset a slot after
`max_supervision_steps`, which is what `forward` does in eval mode), so it can

* run exactly the official evaluation rollout (`halting="fixed"`, `max_steps=None`),
* spend more steps than the model was trained with (`max_steps > max_supervision_steps`), and
* stop each puzzle when its halting head says so (`halting="adaptive"`), dropping finished puzzles
  from the batch so that the remaining ones run faster.

This file is copied next to saved models for ``trust_remote_code``: it imports third-party libraries only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from transformers.utils import ModelOutput, cached_file

from .pipeline_trm import CUSTOM_PIPELINE_ENTRY, PIPELINE_TASK

SOLVE_CONFIG_NAME = "solve_config.json"
# Files of a model folder that the model card is made from, pushed with the weights by `push_to_hub`.
CARD_INPUT_FILES = ("processor_config.json", "eval_results.json", "training_config.yaml", "training_config.json",
                    "puzzle_dataset.json", "accuracy_vs_steps.png")
HALTING_MODES = ("fixed", "adaptive")
# The installed trm-hf package registers its model card renderer under this entry-point group (pyproject.toml);
# this file travels with saved weights and imports no package of its own, so it finds the renderer by name.
MODEL_CARD_ENTRY_POINTS = "trm_hf.model_card"


@dataclass
class SolveConfig:
    r"""
    How `solve` runs; saved next to the model as ``solve_config.json`` (like `GenerationConfig`).

    Args:
        max_steps (`int`, *optional*): supervision steps per puzzle; `None` = the model's
            `config.max_supervision_steps`. Larger values spend more test-time compute than training did.
        halting (`str`, defaults to `"fixed"`): `"fixed"` runs every puzzle for `max_steps` steps, as the
            paper evaluates; `"adaptive"` stops a puzzle as soon as its halting head says so, at most `max_steps`.
        halt_confidence (`float`, defaults to 0.5): adaptive halting stops a puzzle once `sigmoid(halt logit)`
            exceeds it (`sigmoid(halt logit - continue logit)` for models with `act_continue`, e.g. HRM). The
            halting head is trained to predict "the answer is right", so this is the confidence required to
            stop; 0.5 is exactly the training rule (logit > 0). Higher values stop later and more often
            right: choose it on puzzles outside the test split (`training.evaluation.calibrate_halt_confidence`).
        return_intermediate (`bool`, defaults to `False`): also return the prediction after every step.
        output_logits (`bool`, defaults to `False`): also return the logits of every step.
        batch_size (`int`, *optional*): solve at most this many puzzles at once (chunks the input).
        compile (`bool` or `str`, defaults to `False`): run each supervision step through `torch.compile`
            (`True`: the default backend; a string: that backend, e.g. `"aot_eager"`). The compiled step is
            built once per model and reused. `torch.compile(model).solve(...)` does **not** do this: it
            compiles `forward` only, while `solve` calls the step itself, so it would run eagerly.
    """

    max_steps: int | None = None
    halting: str = "fixed"
    halt_confidence: float = 0.5
    return_intermediate: bool = False
    output_logits: bool = False
    batch_size: int | None = None
    compile: bool | str = False

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        if self.halting not in HALTING_MODES:
            raise ValueError(f"SolveConfig.halting must be one of {list(HALTING_MODES)}, got {self.halting!r}.")
        confidence = self.halt_confidence
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
            raise ValueError(f"SolveConfig.halt_confidence must be a probability in (0, 1), got {confidence!r}.")
        for name in ("max_steps", "batch_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"SolveConfig.{name} must be a positive integer or None, got {value!r}.")
        for name in ("return_intermediate", "output_logits"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"SolveConfig.{name} must be a bool, got {getattr(self, name)!r}.")
        if not isinstance(self.compile, (bool, str)) or self.compile == "":
            raise TypeError(f"SolveConfig.compile must be a bool or a torch.compile backend name, got {self.compile!r}.")

    def update(self, **overrides) -> SolveConfig:
        """A validated copy with some fields replaced; unknown names are an error."""
        self._refuse_unknown(overrides)
        return dataclasses.replace(self, **overrides)

    def _refuse_unknown(self, options: dict) -> None:
        unknown = set(options) - {field.name for field in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"Unknown solve option(s) {sorted(unknown)}; SolveConfig has {self.to_dict()}.")

    def resolve(self, model_config, **overrides) -> SolveConfig:
        """The settings one `solve` call runs with, and the one place their defaults are filled in: this
        config with ``overrides`` applied (`None` keeps the field's value) and ``max_steps`` set (`None`:
        the model's ``max_supervision_steps``). A ``halt_confidence`` given with fixed halting is refused:
        every puzzle runs ``max_steps`` steps, so it would be silently ignored."""
        self._refuse_unknown(overrides)  # None values included
        resolved = self.update(**{key: value for key, value in overrides.items() if value is not None})
        if overrides.get("halt_confidence") is not None and resolved.halting == "fixed":
            raise ValueError(f"halt_confidence={overrides['halt_confidence']!r} applies to adaptive halting only: with "
                             "halting='fixed' every puzzle runs max_steps steps and it would be ignored; pass "
                             "halting='adaptive' (--halting adaptive) or leave it out.")
        if resolved.max_steps is None:
            resolved.max_steps = model_config.max_supervision_steps
        return resolved

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        os.makedirs(save_directory, exist_ok=True)
        with open(os.path.join(save_directory, SOLVE_CONFIG_NAME), "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)
            f.write("\n")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **hub_kwargs) -> SolveConfig | None:
        """Read ``solve_config.json`` from a folder or Hub repo; `None` when there is none."""
        path = cached_file(
            pretrained_model_name_or_path,
            SOLVE_CONFIG_NAME,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
            **hub_kwargs,
        )
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            empty = isinstance(error, json.JSONDecodeError) and not error.doc.strip()
            raise ValueError(f"{path} is not valid JSON ({'empty file' if empty else error})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of SolveConfig fields")
        try:
            return cls(**values)
        except TypeError as error:
            raise ValueError(f"{path}: {error}") from None


def check_weights_cover_config(loading_info: dict, source: str) -> None:
    """Refuse weights that leave parameters random (the loading report of ``from_pretrained`` lists missing,
    unexpected or mismatched keys): such a model answers, but wrongly."""
    problems = {kind: sorted(map(str, keys)) for kind in ("missing_keys", "unexpected_keys", "mismatched_keys")
                if (keys := loading_info.get(kind))}
    if problems:
        listed = "; ".join(f"{kind.replace('_', ' ')}: {', '.join(keys[:6])}"
                           + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "") for kind, keys in problems.items())
        raise ValueError(f"the weights in {source} do not match its config.json ({listed}); they would leave parts of "
                         "the model random, which gives wrong answers (a setting given to from_pretrained such as "
                         "num_layers, or an edited config.json, does this; output_loading_info=True returns such a "
                         "model with the report)")


def _weights_files(source: str, suffix: str) -> str:
    """The weights files of a local model folder with this suffix, for an error message."""
    files = sorted(Path(source).glob(f"*{suffix}")) if Path(source).is_dir() else []
    return ", ".join(map(str, files)) or f"a {suffix} weights file of {source}"


@dataclass
class SolveOutput(ModelOutput):
    r"""
    Result of `solve` for a batch of B puzzles of S tokens over `steps` supervision steps.

    Args:
        predictions (`torch.LongTensor` of shape `(B, S)`): argmax tokens after the last step each puzzle ran.
        steps (`torch.LongTensor` of shape `(B,)`): supervision steps each puzzle ran.
        halt_logits (`torch.FloatTensor` of shape `(steps, B)`): halting logit after every step; NaN after a
            puzzle stopped (adaptive halting). `sigmoid` of it is the model's confidence that the answer is right.
        intermediate_predictions (`torch.LongTensor` of shape `(steps, B, S)`, *optional*): prediction after every
            step (`return_intermediate=True`); a puzzle that stopped keeps showing its final prediction.
        logits (`torch.FloatTensor` of shape `(steps, B, S, V)`, *optional*): logits after every step
            (`output_logits=True`); a puzzle that stopped keeps showing its final logits.
    """

    predictions: torch.LongTensor | None = None
    steps: torch.LongTensor | None = None
    halt_logits: torch.FloatTensor | None = None
    intermediate_predictions: torch.LongTensor | None = None
    logits: torch.FloatTensor | None = None


@dataclass
class SolveStep:
    """What a `solve` callback sees after each supervision step, for the puzzles still running.

    `indices` are positions in the batch given to `solve`; `halted` marks the puzzles that stop after this step.
    """

    predictions: torch.LongTensor  # [A, S]
    indices: torch.LongTensor  # [A]
    halt_logits: torch.FloatTensor  # [A]
    continue_logits: torch.FloatTensor  # [A]
    halted: torch.BoolTensor  # [A]


class PuzzleSolverMixin:
    """Adds `solve` and the `solve_config.json` round trip to a TRM/HRM `PreTrainedModel`."""

    @property
    def solve_config(self) -> SolveConfig:
        if getattr(self, "_solve_config", None) is None:
            self._solve_config = SolveConfig()
        return self._solve_config

    @solve_config.setter
    def solve_config(self, value: SolveConfig) -> None:
        if not isinstance(value, SolveConfig):
            raise TypeError(f"solve_config must be a SolveConfig, got {type(value).__name__}.")
        self._solve_config = value

    def save_pretrained(self, save_directory, is_main_process: bool = True, push_to_hub: bool = False, **kwargs):
        """`PreTrainedModel.save_pretrained`, plus ``solve_config.json``, and the ``puzzle-solving`` pipeline
        named in ``config.json`` (``custom_pipelines``; its code, ``pipeline_trm.py``, is copied with the model's
        remote code because this file imports it), so ``pipeline("puzzle-solving", model=folder,
        trust_remote_code=True)`` works."""
        push_kwargs = {k: kwargs.pop(k) for k in ("repo_id", "commit_message", "private", "create_pr") if k in kwargs}
        self.config.custom_pipelines = {**(getattr(self.config, "custom_pipelines", None) or {}),
                                        PIPELINE_TASK: dict(CUSTOM_PIPELINE_ENTRY)}
        super().save_pretrained(save_directory, is_main_process=is_main_process, **kwargs)
        if is_main_process:
            self.solve_config.save_pretrained(save_directory)
            if push_to_hub:  # push_to_hub saves through this method too, so solve_config.json goes along
                repo_id = push_kwargs.pop("repo_id", Path(save_directory).name)
                self.push_to_hub(repo_id, token=kwargs.get("token"), **push_kwargs)

    def push_to_hub(self, repo_id: str, *, commit_message: str | None = None, commit_description: str | None = None,
                    private: bool | None = None, token: bool | str | None = None, revision: str | None = None,
                    create_pr: bool = False, max_shard_size: int | str | None = "50GB",
                    tags: list[str] | None = None) -> str:
        """`PreTrainedModel.push_to_hub` with this package's model card instead of transformers' generic one.

        With the trm-hf package installed, the card is rendered for `repo_id` (by the renderer the package
        registers as the ``trm_hf.model_card`` entry point, `model_cards.render`) from the folder the model was
        loaded from: its ``eval_results.json`` (model-index), training config, dataset metadata and processor,
        which are uploaded with the weights. Without it (remote code only), the card of that folder is kept if
        it has one, else the repo's existing card.
        """
        import shutil
        import tempfile
        from importlib.metadata import entry_points

        from huggingface_hub import HfApi
        from transformers.utils.hub import create_and_tag_model_card

        repo_id = HfApi().create_repo(repo_id, private=private, token=token, exist_ok=True).repo_id
        source = Path(str(getattr(self, "name_or_path", "") or ""))
        source = source if source.is_dir() else None
        with tempfile.TemporaryDirectory() as work_dir:
            self.save_pretrained(work_dir, max_shard_size=max_shard_size)
            for name in CARD_INPUT_FILES if source is not None else ():
                if (source / name).is_file() and not (Path(work_dir) / name).exists():
                    shutil.copyfile(source / name, Path(work_dir) / name)
            try:  # the installed package's renderer; remote code alone has none
                render = next((entry.load() for entry in entry_points(group=MODEL_CARD_ENTRY_POINTS)), None)
            except ImportError:  # the package's metadata without its modules
                render = None
            if render is not None:
                card = render(work_dir, repo_id=repo_id, model=self, save=False)
            elif source is not None and (source / "README.md").is_file():
                from huggingface_hub import ModelCard

                card = ModelCard.load(source / "README.md")
            else:
                card = create_and_tag_model_card(repo_id, None, token=token)
            for tag in tags or ():
                card.data.tags = [*(card.data.tags or []), *([tag] if tag not in (card.data.tags or []) else [])]
            card.save(os.path.join(work_dir, "README.md"))
            return self._upload_modified_files(work_dir, repo_id, files_timestamps={}, commit_message=commit_message,
                                               token=token, create_pr=create_pr, revision=revision,
                                               commit_description=commit_description)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, plus ``solve_config.json``; weights that leave parameters random
        (a structural override such as ``num_layers=3`` on a 2-layer model) are an error unless the caller
        asks for ``output_loading_info`` to judge them itself, and a weights file that is a pickle or not a
        safetensors file is named."""
        wants_info = kwargs.get("output_loading_info", False)
        kwargs["output_loading_info"] = True
        source = str(pretrained_model_name_or_path)
        try:
            model, info = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except pickle.UnpicklingError:
            raise ValueError(f"{_weights_files(source, '.bin')} would have to be unpickled, which can run any code "
                             "it carries; refusing it (this package saves weights as model.safetensors)") from None
        except SafetensorError as error:
            raise ValueError(f"{_weights_files(source, '.safetensors')} is not a readable safetensors file "
                             f"({str(error).strip().splitlines()[0] if str(error).strip() else 'unreadable'})") from None
        if not wants_info:
            check_weights_cover_config(info, source)
        loaded = (model, info) if wants_info else model
        hub_kwargs = {
            key: kwargs[key]
            for key in ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")
            if key in kwargs
        }
        solve_config = SolveConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
        if solve_config is not None:
            model.solve_config = solve_config
        return loaded

    def solve(
        self,
        input_ids,
        puzzle_ids=None,
        solve_config: SolveConfig | None = None,
        callback: Callable[[int, SolveStep], None] | None = None,
        **overrides,
    ) -> SolveOutput:
        r"""
        Solve a batch of puzzles by recursive refinement.

        Args:
            input_ids (`torch.LongTensor` of shape `(B, S)`): encoded puzzles (see `PuzzleProcessor`).
            puzzle_ids (`torch.LongTensor` of shape `(B,)`, *optional*): puzzle-embedding rows; default 0 (blank).
            solve_config (`SolveConfig`, *optional*): defaults to `model.solve_config`.
            callback (`Callable[[int, SolveStep], None]`, *optional*): called after every supervision step
                (1-based) with the predictions of the puzzles still running, to watch answers being refined.
            overrides: fields of `SolveConfig` for this call, e.g. `max_steps=32, halting="adaptive"` (`None`
                keeps the config's value; see `SolveConfig.resolve`).

        Returns:
            `SolveOutput`. `model.solve(**processor(puzzles))` works.
        """
        config = (solve_config if solve_config is not None else self.solve_config).resolve(self.config, **overrides)
        input_ids, puzzle_ids = self._check_solve_inputs(input_ids, puzzle_ids)

        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                chunk = config.batch_size or input_ids.shape[0]
                outputs = [
                    self._solve_chunk(input_ids[start : start + chunk], puzzle_ids[start : start + chunk],
                                      config, callback, offset=start)
                    for start in range(0, input_ids.shape[0], chunk)
                ]
        finally:
            self.train(was_training)
        return _concatenate_chunks(outputs)

    def _check_solve_inputs(self, input_ids, puzzle_ids):
        """Arrays, lists or tensors as int64 tensors on the model's device, checked by the model's own input
        check (dtype, shape, id ranges) before the cast to int64 could hide a float or a bool."""
        input_ids = _as_tensor("input_ids", input_ids, self.device)
        if input_ids.ndim == 1:
            input_ids = input_ids[None]
        if puzzle_ids is not None:
            puzzle_ids = _as_tensor("puzzle_ids", puzzle_ids, self.device).reshape(-1)
        puzzle_ids = self._check_inputs(input_ids, puzzle_ids, labels=None, state=None)
        return input_ids.long(), puzzle_ids.long()

    def _solve_chunk(self, input_ids, puzzle_ids, config: SolveConfig, callback, offset: int):
        max_steps, batch_size, device = config.max_steps, input_ids.shape[0], input_ids.device
        active = torch.arange(batch_size, device=device)  # batch positions of the puzzles still running
        predictions = torch.zeros_like(input_ids)
        steps = torch.zeros(batch_size, dtype=torch.long, device=device)
        halt_logits = torch.full((max_steps, batch_size), float("nan"), device=device)
        intermediate, logits_per_step, logits = [], [], None

        # Each step is a module call, so the hooks of a wrapper run (FSDP2 gathers its shards there); the
        # compiled step skips the input checks, which `solve` ran once.
        supervision_step = self._compiled_supervision_step(config.compile) if config.compile else self
        state = None
        for step in range(1, max_steps + 1):
            # One supervision step. A fresh state (step 1) loads every puzzle and starts from the initial latents.
            if state is None:
                output = supervision_step(input_ids, puzzle_ids)
            else:
                output = supervision_step(state.input_ids, state.puzzle_ids, state=state)
            step_predictions = output.logits.argmax(dim=-1)
            predictions[active] = step_predictions
            steps[active] = step
            halt_logits[step - 1, active] = output.halt_logits.float()
            if config.output_logits:
                if logits is None:
                    logits = output.logits.new_zeros(output.logits.shape)
                logits[active] = output.logits
                logits_per_step.append(logits.clone())
            if config.return_intermediate:
                intermediate.append(predictions.clone())

            halted = torch.full_like(active, step == max_steps, dtype=torch.bool)
            if config.halting == "adaptive":
                halted |= self.wants_to_halt(output.halt_logits, output.continue_logits, config.halt_confidence)
            if callback is not None:
                callback(step, SolveStep(step_predictions, active + offset, output.halt_logits.float(),
                                         output.continue_logits.float(), halted))
            if halted.all():
                break
            # Keep the carry of every running puzzle. The model marks a slot halted at
            # max_supervision_steps (and would restart it on the next call); solve decides halting itself.
            state = _select_slots(output.state, ~halted)
            state = dataclasses.replace(state, halted=torch.zeros_like(state.halted))
            active = active[~halted]

        return SolveOutput(
            predictions=predictions,
            steps=steps,
            halt_logits=halt_logits[:step],
            intermediate_predictions=torch.stack(intermediate) if intermediate else None,
            logits=torch.stack(logits_per_step) if logits_per_step else None,
        )

    def _compiled_supervision_step(self, backend: bool | str):
        """`torch.compile` of the supervision step, kept per backend: compiling again on every `solve`
        would re-trace. (An evaluation step traces into one graph; tests/modeling_trm/test_compile.py.)"""
        compiled = self.__dict__.setdefault("_compiled_steps", {})
        key = "inductor" if backend is True else backend
        if key not in compiled:
            compiled[key] = torch.compile(self._supervision_step, backend=key)
        return compiled[key]


def _as_tensor(name: str, ids, device) -> torch.Tensor:
    """``ids`` as a tensor on ``device``, its dtype kept (the model's input check refuses floats and bools
    rather than casting them); puzzles given as text (strings, lists of characters) are pointed at the
    processor that encodes them."""
    if not isinstance(ids, torch.Tensor) and _holds_text(ids):
        raise ValueError(f"{name} must be token ids, got text: encode puzzles with the model's processor first, "
                         "e.g. model.solve(**processor(puzzles)) with processor = AutoProcessor.from_pretrained(...).")
    try:
        return torch.as_tensor(ids, device=device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name} must be a [batch, seq_len] array of integer token ids ({error}).") from None


def _holds_text(value, depth: int = 0) -> bool:
    if isinstance(value, (str, bytes)):
        return True
    if depth < 3 and isinstance(value, (list, tuple)) and value:
        return _holds_text(value[0], depth + 1)
    return isinstance(value, np.ndarray) and value.dtype.kind in "USO" and value.size > 0 and \
        isinstance(value.flat[0], (str, bytes))


def _select_slots(state, keep: torch.BoolTensor):
    """The state restricted to the slots in `keep` (every per-slot tensor is indexed on dim 0)."""
    if keep.all():
        return state
    return dataclasses.replace(
        state,
        **{
            field.name: getattr(state, field.name)[keep]
            for field in dataclasses.fields(state)
            if isinstance(getattr(state, field.name), torch.Tensor)
        },
    )


def _concatenate_chunks(outputs: list[SolveOutput]) -> SolveOutput:
    """One `SolveOutput` from per-chunk outputs that may have run different numbers of steps."""
    if len(outputs) == 1:
        return outputs[0]
    total_steps = max(out.halt_logits.shape[0] for out in outputs)

    def pad_steps(tensor, fill_last: bool):
        missing = total_steps - tensor.shape[0]
        if missing == 0:
            return tensor
        filler = tensor[-1:] if fill_last else torch.full_like(tensor[:1], float("nan"))
        return torch.cat([tensor, filler.expand(missing, *tensor.shape[1:])])

    def merge(name: str, fill_last: bool):
        if getattr(outputs[0], name) is None:
            return None
        return torch.cat([pad_steps(getattr(out, name), fill_last) for out in outputs], dim=1)

    # every field at construction: ModelOutput only lists keys that are set when it is built
    return SolveOutput(
        predictions=torch.cat([out.predictions for out in outputs]),
        steps=torch.cat([out.steps for out in outputs]),
        halt_logits=merge("halt_logits", fill_last=False),
        intermediate_predictions=merge("intermediate_predictions", fill_last=True),
        logits=merge("logits", fill_last=True),
    )


__all__ = ["PuzzleSolverMixin", "SolveConfig", "SolveOutput", "SolveStep"]
