"""The model card of a TRM/HRM folder: `render_model_card(...)` and `trm card`.

The card is `model_card.md.j2` rendered with `huggingface_hub.ModelCard`; its `model-index` holds one
`EvalResult` per metric of the `trm eval` results (`eval_results.json`), so the numbers on the Hub are
exactly the measured ones. Architecture and parameter counts come from the saved config (the model is
built on the meta device: no weights are loaded, even for ARC's huge puzzle-embedding table).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch
import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE = Path(__file__).resolve().parent / "model_card.md.j2"
DEFAULT_LICENSE = "mit"
RESULTS_FILENAME = "eval_results.json"
TRAINING_CONFIG_FILENAMES = ("training_config.yaml", "training_config.json")
PLOT_FILENAME = "accuracy_vs_steps.png"

# metric key in eval_results.json -> name shown on the Hub
METRIC_NAMES = {
    "exact_accuracy": "Exact puzzle accuracy",
    "cell_accuracy": "Cell accuracy",
    "halting_accuracy": "Halting accuracy",
    "mean_steps": "Mean supervision steps",
    "sudoku_valid_rate": "Legal sudoku rate",
    "maze_valid_path_rate": "Valid path rate",
    "maze_shortest_path_rate": "Shortest path rate",
    **{f"pass@{k}": f"pass@{k}" for k in (1, 2, 5, 10, 100, 1000)},
}
TASK_TITLES = {"sudoku": "Sudoku", "maze": "Maze", "arc": "ARC-AGI"}
# training settings worth a row in the card, in this order (the rest of the config is in the yaml file)
TRAINING_KEYS = (
    "dataset", "dataset_recipe", "global_batch_size", "epochs", "max_steps", "lr", "lr_warmup_steps", "lr_min_ratio",
    "beta1", "beta2", "weight_decay", "puzzle_emb_lr", "puzzle_emb_weight_decay", "ema", "ema_rate", "depth_curriculum",
    "seed",
    "init_from", "freeze_weights", "new_puzzle_embedding_init",
)


def render_model_card(
    model_dir: str | Path,
    eval_results: str | Path | dict | list | None = None,
    training_config=None,
    dataset_metadata=None,
    *,
    repo_id: str | None = None,
    model=None,
    license: str | None = DEFAULT_LICENSE,
    save: bool = True,
) -> ModelCard:
    """Render (and by default save as `model_dir/README.md`) the card of a saved TRM/HRM folder.

    Args:
        model_dir: the `save_pretrained` folder.
        eval_results: `trm eval` results: a path, a dict, or a list of them (several evaluations); default
            `model_dir/eval_results.json` when it exists.
        training_config: a `TrainingConfig`, a dict, or a path; default `training_config.yaml` in `model_dir`.
        dataset_metadata: a `PuzzleDatasetMetadata`, a dict, or a path; default `puzzle_dataset.json` in
            `model_dir`, else that of the evaluated dataset when it is a local folder.
        repo_id: the Hub repo the card is for (the model-index name and the code snippet); default the
            folder name. `trm push` and `model.push_to_hub` render the card for the repo they push to.
        model: the model itself, to count parameters without building it from the config.
        license: the card's licence id (default `mit`, the licence of this package and of the official code).
    """
    model_dir = Path(model_dir)
    config = _load_config(model_dir)
    results = _load_results(model_dir, eval_results)
    training = _load_training_config(model_dir, training_config)
    metadata = _load_dataset_metadata(model_dir, dataset_metadata, results)
    processor = _read_json(model_dir / "processor_config.json") or {}
    task = (metadata or {}).get("task") or processor.get("task") or next((r.get("task") for r in results if r.get("task")), None)
    task = task or "puzzle"
    if model is None:
        model = _meta_model(config)
    repo_id = repo_id or model_dir.resolve().name
    is_hrm = config.model_type == "hrm"
    kind = "HRM" if is_hrm else "TRM"

    eval_entries, rows, notes, hub_datasets, difficulty_rows = [], [], [], [], []
    for result in results:
        hub_id = _dataset_hub_id(result, metadata)
        if hub_id is not None and hub_id not in hub_datasets:
            hub_datasets.append(hub_id)
        elif hub_id is None and result.get("dataset"):
            notes.append(f"`{result['dataset']}` is not a Hub dataset (a local folder or a recipe) and its metadata names "
                         "none, so the card links no dataset (`trm data build ... --push-to-hub REPO` records the repo "
                         "in the folder it writes).")
        dataset_id = str(hub_id or result.get("dataset") or (metadata or {}).get("recipe") or "unknown")
        dataset_name = _dataset_title(result, metadata, task)
        for key, title in METRIC_NAMES.items():
            value = result.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
                continue
            eval_entries.append(
                EvalResult(
                    task_type="puzzle-solving",
                    task_name=f"{TASK_TITLES.get(task, task)} solving",
                    dataset_type=dataset_id,
                    dataset_name=dataset_name,
                    dataset_split=result.get("split"),
                    dataset_revision=result.get("dataset_revision"),
                    metric_type=key,
                    metric_name=title,
                    metric_value=value,
                    metric_args={k: result[k] for k in ("halting", "max_steps") if result.get(k) is not None} or None,
                )
            )
            rows.append({"dataset": dataset_name, "split": result.get("split", "?"), "halting": result.get("halting", "?"),
                         "max_steps": result.get("max_steps", "?"), "metric": title, "value": _format(key, value)})
        if result.get("exact_accuracy_by_difficulty"):
            difficulty_rows.append(_difficulty_row(dataset_name, result))
        if result.get("num_puzzles") is not None:
            how = f", {result['halting']} halting, {result.get('max_steps', '?')} steps" if result.get("halting") else ""
            notes.append(f"{dataset_name} `{result.get('split', '?')}`{how}: {result['num_puzzles']:,} evaluated rows"
                         + (f", {result['num_tasks']:,} tasks" if result.get("num_tasks") else "")
                         + (f" (first {result['limit']:,} only)" if result.get("limit") else "")
                         + (f", {result['date']}" if result.get("date") else "") + ".")

    lineage = _lineage(training)
    card_data = ModelCardData(
        base_model=lineage["base_model"] if lineage else None,
        base_model_relation="finetune" if lineage and lineage["base_model"] else None,
        model_name=repo_id if eval_entries else None,
        eval_results=eval_entries or None,
        library_name="transformers",
        license=license,
        # the Hub's task list has no puzzle solving: "other", with the custom transformers pipeline task
        # ("puzzle-solving", registered in config.json's custom_pipelines) in the tags and the snippet
        pipeline_tag="other",
        tags=[kind.lower(), "recursive-reasoning", "puzzle-solving", task, "custom_code"],
        datasets=hub_datasets or None,
    )
    card = ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_name=repo_id,
        repo_id=repo_id,
        summary=_summary(kind, task, config, model) + _conversion_note(_read_json(model_dir / "conversion.json")),
        results_rows=rows,
        results_notes=list(dict.fromkeys(notes)),  # the same note once, however many evaluations repeat it
        difficulty_bands=[band["band"] for band in difficulty_rows[0]["bands"]] if difficulty_rows else None,
        difficulty_rows=difficulty_rows,
        dataset_ref=", ".join(sorted({r["dataset"] for r in rows})) or "its test split",
        plot_file=PLOT_FILENAME if (model_dir / PLOT_FILENAME).is_file() else None,
        trained_steps=config.max_supervision_steps,
        architecture_intro=_architecture_intro(kind, config),
        architecture_rows=_architecture_rows(config, is_hrm),
        num_parameters=model.num_parameters(),
        num_puzzle_embedding_parameters=model.num_puzzle_embedding_parameters(),
        num_puzzle_identifiers=config.num_puzzle_identifiers,
        task=task,
        task_title=TASK_TITLES.get(task, task),
        dataset_lines=_dataset_lines(metadata),
        arc_subsets=_arc_subsets(metadata or {"recipe": _dataset_title(results[0], None, task)} if results else metadata)
        if task == "arc"
        else None,
        training_rows=[(k, training[k]) for k in TRAINING_KEYS if training.get(k) is not None],
        depth_steps_up_at=_percentages(training.get("depth_curriculum")),
        lineage=lineage,
        example_code=_example_code(task, processor.get("grid_size")),
        pipeline_call={"arc": 'print(solver(test_input, puzzle_names="<task id>"))',
                       "maze": "print(solver(maze))"}.get(task, "print(solver(puzzle))"),
        seq_len=config.seq_len,
        vocab_size=config.vocab_size,
    )
    if save:
        card.save(model_dir / "README.md")
    return card


# -- inputs ------------------------------------------------------------------------------------------


def _load_config(model_dir: Path):
    from transformers import AutoConfig

    import modeling_trm  # noqa: F401  (registers TRM/HRM with AutoConfig)

    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} has no config.json: not a saved TRM/HRM model folder")
    return AutoConfig.from_pretrained(model_dir)


def _meta_model(config):
    """The model on the meta device: parameter counts without allocating or loading anything."""
    from transformers import AutoModel

    with torch.device("meta"):
        return AutoModel.from_config(config)


def _read_json(path: Path):
    from modeling_trm.folders import read_json_file

    return read_json_file(path) if path.is_file() else None


def _load_results(model_dir: Path, eval_results) -> list[dict]:
    if eval_results is None:
        eval_results = model_dir / RESULTS_FILENAME
        if not eval_results.is_file():
            return []
    if isinstance(eval_results, (str, Path)):
        path = Path(eval_results)
        if not path.is_file():
            raise FileNotFoundError(f"evaluation results {path} not found")
        eval_results = json.loads(path.read_text())
    results = eval_results if isinstance(eval_results, list) else [eval_results]
    for i, result in enumerate(results):
        if not isinstance(result, dict):
            raise TypeError(f"evaluation result {i} is a {type(result).__name__}, expected the dict `trm eval` writes")
    return [_flat_results(result) for result in results]


def _flat_results(result: dict) -> dict:
    """One results layout (flat, as `training.evaluation.save_eval_results` writes it); a file written by
    ``trm train`` before that (scores nested under ``metrics``, the recipe as ``recipe``) is read as the same."""
    if not isinstance(result.get("metrics"), dict):
        return result
    flat = {k: v for k, v in result.items() if k not in ("metrics", "recipe", "before_training")}
    return {**result["metrics"], **flat, "dataset_recipe": result.get("dataset_recipe", result.get("recipe"))}


def _load_training_config(model_dir: Path, training_config) -> dict:
    if training_config is None:
        training_config = next((model_dir / n for n in TRAINING_CONFIG_FILENAMES if (model_dir / n).is_file()), None)
    if training_config is None:
        return {}
    if isinstance(training_config, (str, Path)):
        text = Path(training_config).read_text()
        return (json.loads(text) if str(training_config).endswith(".json") else yaml.safe_load(text)) or {}
    if hasattr(training_config, "to_dict"):
        return training_config.to_dict()
    return asdict(training_config) if is_dataclass(training_config) else dict(training_config)


def _load_dataset_metadata(model_dir: Path, dataset_metadata, results: list[dict]) -> dict | None:
    if dataset_metadata is None:
        candidates = [model_dir] + [Path(r["dataset"]) for r in results if r.get("dataset") and Path(str(r["dataset"])).is_dir()]
        dataset_metadata = next((d / "puzzle_dataset.json" for d in candidates if (d / "puzzle_dataset.json").is_file()), None)
    if dataset_metadata is None:
        return None
    if isinstance(dataset_metadata, (str, Path)):
        path = Path(dataset_metadata)
        return json.loads((path / "puzzle_dataset.json" if path.is_dir() else path).read_text())
    if hasattr(dataset_metadata, "to_dict"):
        return dataset_metadata.to_dict()
    return asdict(dataset_metadata) if is_dataclass(dataset_metadata) else dict(dataset_metadata)


def _dataset_hub_id(result: dict, metadata: dict | None) -> str | None:
    """The Hub dataset an evaluation ran on: recorded by `trm eval` (also for a local folder whose metadata
    knows where it was pushed), the dataset itself when it is a repo id, or the local folder's metadata."""
    if result.get("dataset_hub_id"):
        return str(result["dataset_hub_id"])
    if _is_repo_id(result.get("dataset")):
        return str(result["dataset"])
    dataset = result.get("dataset")
    folder_metadata = _read_json(Path(dataset) / "puzzle_dataset.json") if dataset and Path(str(dataset)).is_dir() else None
    return (folder_metadata or {}).get("hub_id") or ((metadata or {}).get("hub_id") if dataset else None)


def _is_repo_id(name) -> bool:
    """A Hub repo id (`owner/name`), not a local path."""
    return isinstance(name, str) and name.count("/") == 1 and not Path(name).exists() and not name.startswith((".", "/"))


# -- text --------------------------------------------------------------------------------------------


def _summary(kind: str, task: str, config, model) -> str:
    params = model.num_parameters()
    size = f"{params / 1e6:.1f}M" if params >= 1e5 else f"{params / 1e3:.1f}K"
    paper = (
        "a Tiny Recursive Model (TRM, Jolicoeur-Martineau 2025, [arXiv:2510.04871](https://arxiv.org/abs/2510.04871))"
        if kind == "TRM"
        else "a Hierarchical Reasoning Model (HRM, Wang et al. 2025, [arXiv:2506.21734](https://arxiv.org/abs/2506.21734))"
    )
    return (
        f"{TASK_TITLES.get(task, task)} solver: {paper} with {size} parameters. It answers all cells of a puzzle at "
        f"once and improves that answer by recursive refinement over up to {config.max_supervision_steps} "
        "supervision steps, with a learned halting head that says when the answer is done."
    )


def _conversion_note(record: dict | None) -> str:
    """What `trm convert` could not know for sure (conversion.json), said where a reader of the card sees it."""
    if not record:
        return ""
    note = f"\n\nConverted from the official checkpoint `{Path(str(record.get('checkpoint', '?'))).name}` with `trm convert`"
    if record.get("task_guessed"):
        note += f"; **the task ({record.get('task')}) was {record.get('task_source')}**"
    if record.get("puzzle_rows") and record["puzzle_rows"] > 1 and not record.get("puzzle_names"):
        note += f"; its {record['puzzle_rows']:,} puzzle-embedding rows have no names (solving uses the blank row)"
    return note + "."


def _architecture_intro(kind: str, config) -> str:
    if kind == "HRM":
        return (
            f"Two recurrent networks: a low-level one updated {config.low_cycles} times per high-level update, "
            f"a high-level one updated {config.high_cycles} times per supervision step; only the last update of "
            "each gets gradient (one-step gradient approximation). Halting: Q-learning on halt vs. continue logits."
        )
    depth = config.num_recursions * (config.num_latent_updates + 1) * config.num_layers
    return (
        f"One network of {config.num_layers} block(s) refines a latent reasoning state z {config.num_latent_updates} times "
        f"(from x, y, z) and then the answer y (from y, z); this recursion runs T = {config.num_recursions} times per "
        f"supervision step, only the last with gradient: an effective depth of {depth} blocks per step, "
        f"{depth * config.max_supervision_steps} over {config.max_supervision_steps} steps."
    )


def _architecture_rows(config, is_hrm: bool) -> list[tuple[str, str]]:
    rows = [("model type", f"`{config.model_type}`"), ("hidden size / heads", f"{config.hidden_size} / {config.num_attention_heads}")]
    if is_hrm:
        rows += [("layers (high / low)", f"{config.num_high_layers} / {config.num_low_layers}"),
                 ("cycles (high / low)", f"{config.high_cycles} / {config.low_cycles}")]
    else:
        rows += [("layers", str(config.num_layers)),
                 ("recursions T / latent updates n", f"{config.num_recursions} / {config.num_latent_updates}")]
    halting = "halt logit vs. continue logit (Q-learning target)" if config.act_continue else "halt logit > 0 (trained on exact correctness)"
    rows += [
        ("token mixer", "self-attention" if config.token_mixer == "attention" else "MLP over the sequence (mlp_t)"),
        ("position encoding", config.position_encoding),
        ("SwiGLU expansion", str(config.expansion)),
        ("supervision steps N_sup", str(config.max_supervision_steps)),
        ("halting", halting),
        ("puzzle embedding", f"{config.puzzle_embedding_dim}-dim, {config.puzzle_prefix_length} prefix position(s), "
                             f"{config.num_puzzle_identifiers:,} identifiers" if config.puzzle_embedding_dim else "none"),
        ("vocabulary / sequence length", f"{config.vocab_size} / {config.seq_len}"),
        ("activation dtype", config.forward_dtype),
    ]
    return rows


def _dataset_lines(metadata: dict | None) -> list[str]:
    if not metadata:
        return []
    lines = [f"recipe `{metadata.get('recipe')}` (seed {metadata.get('seed')})"
             + (f", source `{metadata['source']}`" if metadata.get("source") else "")]
    for name, stats in (metadata.get("splits") or {}).items():
        lines.append(f"`{name}`: {stats['total_groups']:,} original puzzles, {stats['total_puzzles']:,} variants, "
                     f"{stats['total_examples']:,} examples")
    parameters = metadata.get("parameters") or {}
    if parameters:
        lines.append("recipe parameters: " + ", ".join(f"`{k}={v}`" for k, v in parameters.items()))
    if metadata.get("command"):
        lines.append(f"built with `{metadata['command']}`")
    return lines


def _arc_subsets(metadata: dict | None) -> dict | None:
    """Which ARC subsets were trained on whole, and which one's demonstrations only (the test subset)."""
    if not metadata:
        return None
    parameters = metadata.get("parameters") or {}
    if "base_subsets" in parameters:  # a test-time adaptation set: the test subset's demonstrations only
        return {"whole": [], "test": parameters.get("test_subset")}
    subsets, test_subset = parameters.get("subsets"), parameters.get("test_subset")
    if subsets is None:
        from hub_datasets.arc import ARC_CONFIGS

        subsets, test_subset = next(
            (config for name, config in ARC_CONFIGS.items() if str(metadata.get("recipe", "")).startswith(name)),
            (None, None),
        )
    if subsets is None:
        return None
    subsets = subsets.split(",") if isinstance(subsets, str) else list(subsets)
    return {"whole": [s for s in subsets if s != test_subset], "test": test_subset}


def _lineage(training: dict) -> dict | None:
    """What a fine-tuned model was fine-tuned from: the Hub id for the card metadata (``base_model``:
    the config's ``base_model``, else ``init_from`` when it is a repo id) and the name shown in the text."""
    init_from = training.get("init_from")
    if not init_from:
        return None
    base_model = training.get("base_model") or (init_from if _is_repo_id(init_from) else None)
    return {"base_model": base_model, "init_from": str(init_from), "freeze_weights": bool(training.get("freeze_weights")),
            "data": training.get("dataset") or training.get("dataset_recipe"),
            "new_puzzle_embedding_init": training.get("new_puzzle_embedding_init")}


def _percentages(fractions: list[float] | None) -> str | None:
    """``[0.4, 0.7]`` as "40% and 70%"; None for no list."""
    if not fractions:
        return None
    words = [f"{100 * fraction:g}%" for fraction in fractions]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _dataset_title(result: dict, metadata: dict | None, task: str) -> str:
    recipe = result.get("dataset_recipe") or result.get("recipe") or (metadata or {}).get("recipe")
    return recipe or str(result.get("dataset") or TASK_TITLES.get(task, task))


def _format(key: str, value) -> str:
    return f"{value:.2f}" if key == "mean_steps" else f"{100 * value:.2f}%"


def band_accuracy_text(band: dict) -> str:
    """One band of `exact_accuracy_by_difficulty` as the card, `trm train` and `trm eval` show it:
    ``"91.2% of 105"``, ``"–"`` for a band without puzzles."""
    if band["exact_accuracy"] is None:
        return "–"
    return f"{100 * band['exact_accuracy']:.1f}% of {band['num_puzzles']:,}"


def _difficulty_row(dataset_name: str, result: dict) -> dict:
    """One evaluation's exact accuracy per Sudoku difficulty band (`evaluate(..., by_difficulty=True)`)."""
    bands = result["exact_accuracy_by_difficulty"]
    cells = [band_accuracy_text(band) for band in bands]
    return {"dataset": dataset_name, "split": result.get("split", "?"), "halting": result.get("halting", "?"),
            "max_steps": result.get("max_steps", "?"), "bands": bands, "cells": cells}


def _example_code(task: str, grid_size: int | None = None) -> str:
    """The usage snippet, at the model's puzzle size (a 6x6 Sudoku model takes 36 characters, not 81)."""
    size = grid_size or {"sudoku": 9, "maze": 30}.get(task) or 0
    puzzles = {
        "sudoku": f"puzzle = \"...\"  # {size * size} characters ({size}x{size}), '.' or '0' for blanks"
                  "\ninputs = processor([puzzle])",
        "maze": f"maze = [\"#####...\", ...]  # {size} rows of {size} characters '#', ' ', 'S', 'G'"
                "\ninputs = processor([maze])",
        "arc": "test_input = [[0, 1], [1, 0]]  # an ARC grid\ninputs = processor([test_input], puzzle_names=[\"<task id>\"])",
    }
    return (
        puzzles.get(task, "inputs = processor([puzzle])")
        + "\nwith torch.no_grad():\n    output = model.solve(**inputs, halting=\"fixed\")\n"
        + "print(processor.decode(output.predictions)[0], output.steps[0])"
    )


# -- trm card ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trm card", description="(Re)render MODEL_DIR/README.md, the model card.")
    parser.add_argument("model_dir")
    parser.add_argument("--eval-results", help=f"trm eval JSON (default: MODEL_DIR/{RESULTS_FILENAME})")
    parser.add_argument("--training-config", help="training config yaml/json (default: MODEL_DIR/training_config.yaml)")
    parser.add_argument("--dataset-metadata", help="puzzle_dataset.json or dataset folder")
    parser.add_argument("--repo-id", help="Hub repo id shown in the usage snippet (default: the folder name)")
    parser.add_argument("--license", default=DEFAULT_LICENSE, help=f"licence id for the card metadata (default {DEFAULT_LICENSE})")
    args = parser.parse_args(argv)
    card = render_model_card(args.model_dir, eval_results=args.eval_results, training_config=args.training_config,
                             dataset_metadata=args.dataset_metadata, repo_id=args.repo_id, license=args.license)
    results = card.data.eval_results or []
    print(f"wrote {Path(args.model_dir) / 'README.md'} ({len(results)} model-index metric(s))")
    return 0


__all__ = ["main", "render_model_card"]
