"""``trm demo``: a Gradio app to watch a TRM/HRM refine its answer, step by step, and decide it is done.

    trm demo                                   # the shipped models (training/pretrained/), else ./trm-sudoku6x6
    trm demo trm-sudoku6x6 my-maze-model       # local folders or Hub repo ids; pick one in the page
    trm demo trm-sudoku6x6 --export-space space/   # a folder to push as a Hugging Face Space

Click an example (puzzles on which the model changes its mind), type or paste a Sudoku (4x4/6x6/8x8/9x9,
'.' or '0' = blank), a maze ('#' wall, ' ' open, 'S', 'G') or an ARC task JSON, or draw a random puzzle
from the package's generators. The page shows the answer after every supervision step (changed cells
highlighted, cells breaking a rule in red; a step slider and a play button), whether it is a valid
solution, the halting confidence per step and where adaptive halting stops. Needs the ``demo`` extra:
``pip install -e ".[demo]"``.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from modeling_trm.processing_trm import SUDOKU_BOX_SHAPES, PuzzleProcessor, one_based
from training.refinement import Refinement, draw_step, refine, solve_with_refinements
from training.retries import solve_with_retries

DEFAULT_MODEL_DIR = "trm-sudoku6x6"  # where the README's `trm train` puts the default model
MAX_DEMO_STEPS = 64
MAX_DEMO_TRIES = 8
# The hardest random Sudoku per size that the generator draws in about a second: above it, minutes
# (6x6 at 8-10 guesses took 35-57 s; a 4x4 never needs a guess, so any minimum above 0 never ends).
SUDOKU_MAX_DIFFICULTY = {4: 0, 6: 4, 8: 8, 9: 10}
TASK_NAMES = {"sudoku": "Sudoku", "maze": "maze", "arc": "ARC"}


@dataclass
class DemoModel:
    name: str  # the short name the page shows
    model: object
    processor: PuzzleProcessor
    recipe: dict = field(default_factory=dict)  # the generator options it was trained on (training_config.yaml)

    @property
    def default_steps(self) -> int:
        return self.model.solve_config.resolve(self.model.config).max_steps

    @property
    def puzzle_kind(self) -> str:
        """'6×6 Sudoku', '11×11 maze' or 'ARC'."""
        p = self.processor
        return "ARC" if p.task == "arc" else f"{p.grid_size}×{p.grid_size} {TASK_NAMES[p.task]}"

    def describe(self) -> str:
        return (f"**{self.name}**: {self.puzzle_kind}, {type(self.model).__name__}, "
                f"{self.model.num_parameters():,} parameters")


def load_demo_model(source: str, name: str | None = None) -> DemoModel:
    """A model folder or Hub repo id with the processor saved beside it (no download beyond the model)."""
    from training.loading import load_model_for_solving
    from training.solve_cli import load_processor

    model = load_model_for_solving(source)  # a missing folder or an unreachable Hub is named in one line
    return DemoModel(name or short_names([source])[0], model, load_processor(source, None, model.config, None),
                     training_recipe(source))


def training_recipe(source: str) -> dict:
    """The dataset options a local model folder was trained with (its ``training_config.yaml``), so the page
    draws puzzles like those: a maze model trained on mazes with one shortest path of more than 20 moves
    solves few others. Empty for a Hub model or a folder without the file."""
    path = Path(source).expanduser() / "training_config.yaml"
    if not path.is_file():
        return {}
    from training.config import TrainingConfig

    return dict(TrainingConfig.from_yaml(path).dataset_options)


def short_names(sources: list[str]) -> list[str]:
    """Menu names for model folders or Hub repo ids: the last part of each path ("runs/sudoku6x6" ->
    "sudoku6x6"), with as many parent folders as it takes to tell two models apart."""
    parts = [Path(str(source).rstrip("/")).parts or (str(source),) for source in sources]
    depth = 1
    while True:
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names) or depth >= max(len(p) for p in parts):
            return names
        depth += 1


def find_or_train_default_model(train: bool = True) -> str:
    """The README's default model folder in the working directory; trained there (minutes on CPU) if absent."""
    folder = Path(DEFAULT_MODEL_DIR)
    if (folder / "config.json").exists():
        return str(folder)
    if not train:
        raise FileNotFoundError(f"no model given and no ./{DEFAULT_MODEL_DIR}; pass a model folder or Hub repo id")
    print(f"trm demo: no model given, no shipped model and no ./{DEFAULT_MODEL_DIR}: training the default model "
          "there first (`trm train --output-dir trm-sudoku6x6`: about 5 minutes on 2 CPU cores, nothing is "
          "downloaded; the progress bar below shows the time left). The page opens when it is done.",
          file=sys.stderr, flush=True)
    from training.train import main as train_main

    train_main(["--output-dir", str(folder)])
    return str(folder)


def default_models() -> list[tuple[str, str]]:
    """(name, source) of the models `trm demo` serves without arguments: the shipped ones, else the
    README's default run (trained first if missing)."""
    from training.pretrained import shipped_models

    shipped = shipped_models()
    if shipped:
        return [(name, str(folder)) for name, folder in shipped.items()]
    return [(DEFAULT_MODEL_DIR, find_or_train_default_model())]


def how_it_works(demo_model: DemoModel) -> str:
    """A paragraph on what the page shows, with this model's numbers (read from its config)."""
    config = demo_model.model.config
    steps = config.max_supervision_steps
    shared = (
        f"Every **supervision step** starts from the previous step's answer and latent, so the answer can be "
        f"corrected again and again; the model was trained with up to {steps} steps, and the page can run "
        f"more (`max_steps`). After each step a **halting head** scores how sure the model is that its answer "
        "is final (the plot): *adaptive* halting stops at the first step above the threshold, *fixed* runs "
        "every step."
    )
    if config.model_type == "hrm":
        return (
            f"**How it works.** This HRM keeps two latent states: a fast low-level one, updated "
            f"{config.low_cycles} times per high-level update by a {config.num_low_layers}-layer network, and a slow "
            f"high-level one, updated {config.high_cycles} times per step by a {config.num_high_layers}-layer "
            f"network; the answer is read from the high-level state. {shared}"
        )
    n, recursions = config.num_latent_updates, config.num_recursions
    return (
        f"**How it works.** A Tiny Recursive Model keeps two things for the puzzle: its current **answer `y`** "
        f"(the grid in the picture) and a **latent `z`** (its scratchpad). One small network "
        f"({config.num_layers} layers, width {config.hidden_size}, {demo_model.model.num_parameters():,} "
        f"parameters) does all the work: {n} **latent updates** refine `z` from the puzzle, `y` and `z`, then "
        f"one update rewrites `y` from `z`; that is repeated {recursions} times per step, "
        f"{recursions * (n + 1)} network calls in all. {shared}"
    )


# ---------------------------------------------------------------------------------------------------
# input: text -> puzzle, errors a person reads, generators, ARC tasks

SUDOKU_LAYOUT = " \t\r\n|+-"  # box rules and spacing of `processor.to_text` grids: layout only


def parse_puzzle(task: str, text: str):
    """The text typed in the page as a puzzle the processor reads (its errors name the cell/row)."""
    if not text.strip():
        raise ValueError("the puzzle is empty: type one, paste one, pick an example or press 'Random puzzle'")
    if task == "sudoku":  # also accepts `processor.to_text` grids: box rules '|', '-', '+' are layout only
        return "".join(char for char in text if char not in SUDOKU_LAYOUT)
    if task == "maze":
        return text.replace("\r\n", "\n").strip("\n")
    try:
        arc_task = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"the ARC task is not valid JSON: {error}") from None
    if not isinstance(arc_task, dict) or not isinstance(arc_task.get("test"), list) or not arc_task["test"]:
        raise ValueError('an ARC task is a JSON object with "train" and "test" lists of {"input": grid, "output": grid}')
    for split in ("train", "test"):
        for index, pair in enumerate(arc_task.get(split, [])):
            if not isinstance(pair, dict) or "input" not in pair:
                raise ValueError(f'{split} pair {index} needs an "input" grid')
    return arc_task


def check_typed_puzzle(processor: PuzzleProcessor, text: str) -> None:
    """What a person most likely got wrong in the typed text, said before the processor's cell-level
    checks: the first character that cannot be a cell, or a puzzle of another size than the model's."""
    size = processor.grid_size
    if processor.task == "sudoku":
        _first_bad_character(text, set("0123456789." + SUDOKU_LAYOUT), "a Sudoku has digits and '.' or '0' for blanks")
        cells = "".join(char for char in text if char not in SUDOKU_LAYOUT)
        if len(cells) != size * size:
            other = {n * n: n for n in SUDOKU_BOX_SHAPES}.get(len(cells))
            typed = f"this is a {other}×{other} Sudoku" if other else f"this puzzle has {len(cells)} cells"
            raise ValueError(f"{typed}; this model solves {size}×{size} Sudokus ({size * size} cells)")
        _first_bad_character(text, set("0123456789"[: size + 1] + "." + SUDOKU_LAYOUT),
                             f"a {size}×{size} Sudoku has the digits 1-{size}")
    elif processor.task == "maze":
        _first_bad_character(text, set("# SG\r\n"), "a maze has '#' walls, ' ' open cells, one 'S' and one 'G'")
        rows = text.replace("\r\n", "\n").strip("\n").split("\n")
        if len(rows) != size or any(len(row) != size for row in rows):
            raise ValueError(f"this maze has {len(rows)} rows of {', '.join(sorted({str(len(r)) for r in rows}))} "
                             f"cells; this model solves {size}×{size} mazes ({size} rows of {size})")


def _first_bad_character(text: str, allowed: set[str], hint: str) -> None:
    for line_number, line in enumerate(text.splitlines(), 1):
        for position, char in enumerate(line, 1):
            if char not in allowed:
                raise ValueError(f"{char!r} at line {line_number}, character {position} is not a cell: {hint}")


def random_puzzle(processor: PuzzleProcessor, difficulty: int, seed: int, recipe: dict | None = None) -> str:
    """A fresh puzzle from the package's generators, as the text the page shows (mazes with a single shortest
    path where the model's training ``recipe`` had them)."""
    if processor.task == "sudoku":
        from hub_datasets.sudoku import generate_sudoku

        difficulty = min(difficulty, SUDOKU_MAX_DIFFICULTY[processor.grid_size])
        records = generate_sudoku(1, size=processor.grid_size, seed=seed, min_difficulty=difficulty)
        return processor.to_text(records.questions[0])
    if processor.task == "maze":
        from hub_datasets.maze import CHARSET, generate_mazes

        moves = min(difficulty, processor.grid_size**2 // 3)
        records = generate_mazes(1, size=processor.grid_size, min_moves=moves, seed=seed,
                                 unique_path=bool((recipe or {}).get("unique_path")))
        return "\n".join("".join(CHARSET[code] for code in row) for row in records.questions[0])
    raise ValueError("there is no ARC generator: paste a task JSON (e.g. a file of the ARC-AGI repository)")


def difficulty_range(processor: PuzzleProcessor, recipe: dict | None = None) -> tuple[str, int, int]:
    """(label, maximum, default) of the generator's difficulty for this task; a maze model's default is the
    path length it was trained on."""
    if processor.task == "maze":  # shortest path longer than this many moves (Maze-Hard: 110 on 30x30)
        top = max(2, round(110 * processor.grid_size**2 / 900))
        trained = (recipe or {}).get("min_moves")
        if trained is not None and trained < processor.grid_size**2 // 3:
            return "path length", max(top, trained * 3 // 2), trained
        return "path length", top, top // 2
    if processor.task == "sudoku":  # the solver's guesses, capped where the generator stays quick
        return "difficulty", SUDOKU_MAX_DIFFICULTY[processor.grid_size], 0
    return "difficulty", 1, 0


def showcase_puzzles(demo_model: DemoModel, count: int = 3, candidates: int = 32, seed: int = 0) -> list[tuple[str, str]]:
    """(puzzle text, label) of generated puzzles (fixed seed) on which the model changes its mind: wrong
    at step 1 and a valid solution later, the latest first, within the page's default steps. A model that
    solves nothing (untrained) gets the puzzles whose answer changes most often."""
    processor = demo_model.processor
    if processor.task == "arc":
        return []
    texts = _hardest_generated(processor, candidates, seed, demo_model.recipe)
    inputs = processor([parse_puzzle(processor.task, text) for text in texts])
    _, refinements = solve_with_refinements(demo_model.model, processor, inputs, max_steps=demo_model.default_steps,
                                            halting="fixed")

    def first_valid_for_good(refinement):  # the step from which every answer is valid, or None
        problems = refinement.problems
        valid = [step for step in range(1, len(problems) + 1) if all(p is None for p in problems[step - 1 :])]
        return valid[0] if valid else None

    scored = []
    for text, refinement in zip(texts, refinements):
        settled = first_valid_for_good(refinement)
        changes = int((np.diff(refinement.step_ids, axis=0) != 0).any(axis=1).sum())
        if settled is not None and settled > 1:
            scored.append((1, settled, text, f"wrong at step 1, valid from step {settled}"))
        else:
            scored.append((0, changes, text, f"the answer changes in {changes} of {refinement.num_steps} steps"))
    scored.sort(key=lambda item: (-item[0], -item[1]))
    return [(text, f"{demo_model.puzzle_kind}: {label}") for _, _, text, label in scored[:count]]


def _hardest_generated(processor: PuzzleProcessor, count: int, seed: int, recipe: dict | None = None) -> list[str]:
    """``count`` generated puzzles as page text: the Sudokus needing the most solver guesses among many
    plain random ones (drawn in milliseconds each, where asking the generator for a minimum difficulty
    costs up to seconds each), mazes with paths of at least half the page's maximum length."""
    if processor.task == "maze":
        _, _, default = difficulty_range(processor, recipe)
        return [random_puzzle(processor, default, seed + index, recipe) for index in range(count)]
    from hub_datasets.sudoku import generate_sudoku

    pool = generate_sudoku(count * (16 if processor.grid_size <= 6 else 4), size=processor.grid_size, seed=seed)
    hardest = np.argsort(-pool.ratings, kind="stable")[:count]
    return [processor.to_text(pool.questions[index]) for index in hardest]


def text_box_lines(processor: PuzzleProcessor) -> int:
    """Lines the puzzle box needs: the grid as `processor.to_text` prints it (Sudoku box rules included)."""
    if processor.task == "sudoku":
        return processor.grid_size + processor.grid_size // SUDOKU_BOX_SHAPES[processor.grid_size][0] - 1
    return processor.grid_size if processor.task == "maze" else 8


def input_hint(processor: PuzzleProcessor) -> str:
    size = processor.grid_size
    return {"sudoku": f"{size} rows of {size} digits, '.' or '0' for a blank (or pick an example)",
            "maze": f"{size} rows of {size} cells: '#' wall, ' ' open, one 'S' and one 'G'",
            "arc": 'an ARC task JSON: {"train": [{"input": ..., "output": ...}], "test": [{"input": ...}]}'}[processor.task]


def arc_variants(processor: PuzzleProcessor, task_id: str) -> list[str]:
    """The puzzle identifiers the model learned for this ARC task: the task and its augmented variants."""
    names = processor.puzzle_identifiers or []
    return [name for name in names if name == task_id or name.startswith(f"{task_id}|||")]


def arc_vote(model, processor: PuzzleProcessor, task_id: str, test_pair: dict, max_steps: int, halting: str):
    """pass@k with the official voting over the model's augmented variants of the task (training.metrics)."""
    from hub_datasets import augment
    from training.metrics import ARCVoting

    variants = arc_variants(processor, task_id)
    test_input = np.array(test_pair["input"], dtype=np.uint8)
    inputs = [augment.apply(name.partition("|||")[2], test_input) if "|||" in name else test_input
              for name in variants]
    batch = processor(inputs, puzzle_names=variants)
    output = model.solve(**batch, max_steps=max_steps, halting=halting)
    halt_logits = output.halt_logits[output.steps - 1, torch.arange(len(variants))]  # at each variant's last step
    known = "output" in test_pair
    # without a true output the pair still needs registering for the ranking; pass@k is then not reported
    pair = {"input": test_pair["input"], "output": test_pair["output"] if known else [[0]]}
    voting = ARCVoting(test_puzzles={task_id: {"test": [pair]}})
    voting.update(batch["input_ids"], output.predictions, halt_logits, variants)
    candidates = voting.rankings()[task_id][0]
    return len(variants), candidates, (voting.result() if known else None)


# ---------------------------------------------------------------------------------------------------
# output: the verdict badge, the halting plot and the step view


def halting_figure(refinement: Refinement, step: int, threshold: float | None = 0.5):
    """Halting confidence per step, the threshold adaptive halting uses (None: the model compares two
    logits, no threshold to draw) and, shaded, the steps from the one where adaptive halting stops."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(5.6, 2.7), dpi=100)
    steps = np.arange(1, refinement.num_steps + 1)
    if refinement.adaptive_stop is not None:
        ax.axvspan(refinement.adaptive_stop - 0.5, refinement.num_steps + 0.5, color="#2ECC40", alpha=0.15, lw=0,
                   label=f"adaptive halting stops at step {refinement.adaptive_stop}")
    if threshold is not None:
        ax.axhline(threshold, color="#888888", lw=0.8, ls="--", label=f"threshold {threshold:g}")
    ax.plot(steps, refinement.halt_confidence, "o-", color="#0074D9", label="halting confidence")
    if step:
        ax.plot([step], [refinement.halt_confidence[step - 1]], "o", ms=11, mfc="none", mec="#FF4136", mew=2)
    ax.set_xlabel("supervision step")
    ax.set_ylabel("P(answer is final)")
    ax.set_xlim(0.5, refinement.num_steps + 0.5)
    ax.set_ylim(-0.05, 1.08)  # room above 1.00 for the markers
    ax.set_xticks(steps if len(steps) <= 16 else steps[:: max(1, len(steps) // 16)])
    # above the axes, never on the line
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncol=3, fontsize=7.5, frameon=False,
              borderaxespad=0, handlelength=1.5, columnspacing=1)
    figure.tight_layout()
    plt.close(figure)
    return figure


def verdict_badge(refinement: Refinement | None, step: int) -> str:
    """The answer at ``step`` as a coloured badge: green for a valid solution, red for a broken rule."""
    if refinement is None:
        return ""
    if step == 0:
        kind, text = "neutral", "the puzzle as given"
    elif refinement.problems is None:
        kind, text = "neutral", f"step {step}: ARC has no rules to check; compare with the test output"
    elif refinement.problems[step - 1] is None:
        kind, text = "valid", f"✓ step {step}: a valid solution"
    else:
        kind, text = "invalid", f"✗ step {step}: not a solution — {one_based(refinement.problems[step - 1])}"
    return f'<div class="trm-badge trm-{kind}">{html.escape(text, quote=False)}</div>'


def error_html(error: Exception | str) -> str:
    message = one_based(str(error).removeprefix("puzzle 0: ").rstrip("."))
    return f'<div class="trm-error" role="alert"><b>Invalid input</b>: {html.escape(message, quote=False)}.</div>'


def step_caption(refinement: Refinement, step: int) -> str:
    if step == 0:
        return "Step 0: the puzzle as given."
    changed = int((refinement.step_ids[step - 1] != (refinement.step_ids[step - 2] if step > 1 else refinement.input_ids)).sum())
    # whether it is a solution is the verdict badge's to say
    return (f"Step {step} of {refinement.num_steps}: {changed} cell{'s' if changed != 1 else ''} changed, "
            f"halting confidence {refinement.halt_confidence[step - 1]:.3f}.")


VARIANTS = {"sudoku": "a variant with its digits relabelled and its bands, stacks, rows and columns shuffled",
            "maze": "the maze rotated or reflected"}


def tries_note(task: str, tries: int, max_tries: int, valid: bool) -> str:
    """What the tries did (`training.retries`), for the summary; '' where there is nothing to say."""
    if max_tries == 1:
        return "" if valid or task not in VARIANTS else \
            f"Raise **tries** in Settings to solve it again as {VARIANTS[task]}."
    if not valid:
        return f"None of {tries} tries gave a valid solution; the steps shown are the first try's."
    if tries == 1:
        return "Solved on the first try."
    return (f"Solved on try {tries}: the earlier answers broke a rule, so the puzzle was solved again as "
            f"{VARIANTS[task]}. The steps shown are that try's, mapped back onto the puzzle as given.")


def summary(refinement: Refinement, tries: str = "") -> str:
    """The final verdict, what the tries did (``tries``, `tries_note`) and where halting stopped."""
    stop, count = refinement.adaptive_stop, refinement.num_steps
    ran = f"Ran all {count} steps" if count > 1 else "Ran 1 step"
    if refinement.halting == "adaptive":
        halting = (f"Adaptive halting stopped after step {stop}." if stop is not None
                   else f"Adaptive halting never fired: {ran.lower().removeprefix('ran ')} ran.")
    else:
        halting = (f"{ran} (fixed); adaptive halting would stop after step {stop}."
                   if stop is not None else f"{ran} (fixed); the halting head never said stop.")
    if refinement.problems is None:
        return halting
    final = refinement.final_problem
    verdict = ("The final answer is a **valid solution**." if final is None
               else f"The final answer is **not a valid solution**: {one_based(final)}.")
    return " ".join(part for part in (verdict, tries, halting) if part)


def step_text(processor: PuzzleProcessor, refinement: Refinement, step: int) -> str:
    return processor.to_text(processor.decode(refinement.step_ids[step - 1] if step else refinement.input_ids))


PICTURE_KEY = ("Yellow: changed in this step (Sudoku: the digit it replaced in the corner) · red: breaks a rule"
               " · bold: given")

# Gradio 6 takes page CSS in `launch` (see `launch_app`): monospace grids so the box rules line up,
# the verdict badge and errors in colour.
DEMO_CSS = """
#trm-puzzle textarea, #trm-grid textarea { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  line-height: 1.35; }
.trm-badge { display: inline-block; padding: 6px 12px; border-radius: 8px; font-weight: 600; line-height: 1.4; }
.trm-valid { background: #E6F6EA; color: #1B6E2D; border: 1px solid #2ECC40; }
.trm-invalid { background: #FDECEA; color: #A61B12; border: 1px solid #FF4136; }
.trm-neutral { background: #EEF2F7; color: #334155; border: 1px solid #A0AEC0; }
.trm-error { background: #FDECEA; color: #A61B12; border-left: 4px solid #FF4136; padding: 8px 12px;
  border-radius: 4px; }
#trm-key { font-size: 0.85em; opacity: 0.8; }
"""


def launch_app(app, **kwargs):
    """``app.launch(**kwargs)`` with the demo's CSS."""
    return app.launch(css=DEMO_CSS, **kwargs)


# ---------------------------------------------------------------------------------------------------
# the app


def whole_number(value, name: str, minimum: int) -> int:
    """A count from the app or its API (a slider sends 3 or 3.0): 2.5 steps is refused, not floored to 2."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value != int(value) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def build_app(models: list[DemoModel]):
    """The Gradio Blocks app for these models (the first is selected); serve it with `launch_app`."""
    import gradio as gr

    by_name = {m.name: m for m in models}
    first = models[0]
    label, top, default = difficulty_range(first.processor, first.recipe)
    showcases = {m.name: showcase_puzzles(m) for m in models}

    def threshold(demo_model):
        return None if demo_model.model.config.act_continue else demo_model.model.solve_config.halt_confidence

    def controls(demo_model):
        """What depends on the model's task: input box, hints, generator, ARC inputs, examples."""
        task = demo_model.processor.task
        label, top, default = difficulty_range(demo_model.processor, demo_model.recipe)
        return [demo_model.describe(), how_it_works(demo_model),
                gr.update(value="", lines=text_box_lines(demo_model.processor),  # another model, another puzzle
                          placeholder=input_hint(demo_model.processor), label=f"puzzle ({demo_model.puzzle_kind})"),
                gr.update(value=demo_model.default_steps),
                gr.update(label=label, maximum=max(top, 1), value=default, visible=task != "arc" and top > 0),
                gr.update(visible=task != "arc"), gr.update(visible=task != "arc"), gr.update(visible=task != "arc"),
                gr.update(visible=task == "arc"), gr.update(visible=task == "arc"), gr.update(visible=task == "arc"),
                *[gr.update(visible=name == demo_model.name) for name in example_columns]]

    def select_model(name):
        return controls(by_name[name]) + cleared()

    def cleared():
        """Empty outputs: a new puzzle or model makes the old answer and plot meaningless."""
        return ["", "", None, gr.update(maximum=1, value=0), None, "", "", None, ""]

    def generate(name, difficulty, seed, progress=gr.Progress()):  # noqa: B008 (how Gradio injects progress)
        demo_model = by_name[name]
        progress(0, desc=f"drawing a {demo_model.puzzle_kind} (difficulty {int(difficulty)}): up to a few seconds")
        try:
            text = random_puzzle(demo_model.processor, int(difficulty), int(seed), demo_model.recipe)
        except ValueError as error:
            return [gr.update(), seed, error_html(error)] + cleared()[1:]
        return [text, int(seed) + 1] + cleared()

    def show(solved, step):
        if solved is None:
            return None, "", "", None, ""
        name, refinement = solved  # the model that made it: the menu may have changed since
        demo_model = by_name[name]
        step = int(min(max(step, 0), refinement.num_steps))
        return (draw_step(demo_model.processor, refinement, step), verdict_badge(refinement, step),
                step_text(demo_model.processor, refinement, step),
                halting_figure(refinement, step, threshold(demo_model)), step_caption(refinement, step))

    def solve(name, text, max_steps, halting, task_id, test_index, tries=1):
        demo_model = by_name[name]
        processor = demo_model.processor
        try:
            max_steps, test_index = whole_number(max_steps, "max_steps", 1), whole_number(test_index, "test pair", 0)
            tries = whole_number(tries, "tries", 1)
            puzzle = parse_puzzle(processor.task, text)
            check_typed_puzzle(processor, text)
            arc_note, arc_picture, puzzle_name, note = "", None, None, ""
            if processor.task == "arc":
                arc_picture, puzzle, puzzle_name, arc_note = _arc_inputs(demo_model, puzzle, task_id, test_index,
                                                                         max_steps, halting)
                refinement = refine(demo_model.model, processor, puzzle, puzzle_name=puzzle_name,
                                    max_steps=max_steps, halting=halting)
            else:
                retried = solve_with_retries(demo_model.model, processor, processor([puzzle])["input_ids"],
                                             max_tries=tries, keep_steps=True,
                                             max_steps=max_steps, halting=halting)
                refinement = retried.refinements[0]
                note = tries_note(processor.task, int(retried.tries[0]), tries, bool(retried.valid[0]))
        except ValueError as error:
            return [error_html(error)] + cleared()[1:] + [None, ""]
        last = refinement.num_steps
        result = (name, refinement)
        return ["", summary(refinement, note), result, gr.update(maximum=last, value=last), *show(result, last),
                arc_picture, arc_note]

    def play(solved, step):  # from the start, or on from where the slider is
        if solved is None:
            return [gr.update(), *show(None, 0), gr.Timer(active=False)]
        start = 0 if step >= solved[1].num_steps else int(step)
        return [start, *show(solved, start), gr.Timer(active=True)]

    def tick(solved, step):
        # the slider and the picture change in one update, so the slider never runs ahead of the picture
        if solved is None or step >= solved[1].num_steps:
            return [gr.update()] * 6 + [gr.Timer(active=False)]
        return [step + 1, *show(solved, step + 1), gr.Timer(active=step + 1 < solved[1].num_steps)]

    is_arc = first.processor.task == "arc"
    with gr.Blocks(title="TRM: watch it think") as app:
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                gr.Markdown(
                    "# Watch a Tiny Recursive Model think\n"
                    "One tiny network improves its answer step by step and decides when it is done. "
                    "Pick an example or type a puzzle, press **Solve**, then **▶ Play** to watch the answer change."
                )
            with gr.Column(scale=2, min_width=260):
                model_name = gr.Dropdown([m.name for m in models], value=first.name, label="model",
                                         elem_id="trm-model", interactive=len(models) > 1)
                info = gr.Markdown(first.describe(), elem_id="trm-model-info")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                puzzle_text = gr.Textbox(label=f"puzzle ({first.puzzle_kind})", lines=text_box_lines(first.processor),
                                         max_lines=30, placeholder=input_hint(first.processor), elem_id="trm-puzzle")
                upload = gr.UploadButton("Upload an ARC task (.json)", file_types=[".json", ".txt"], size="sm",
                                         visible=is_arc, elem_id="trm-upload")
                with gr.Row():
                    random_button = gr.Button("Random puzzle", visible=not is_arc, elem_id="trm-random")
                    solve_button = gr.Button("Solve", variant="primary", elem_id="trm-solve")
                status = gr.HTML(elem_id="trm-status")
                example_columns = {}
                for demo_model in models:
                    with gr.Column(visible=demo_model is first) as column:
                        puzzles = showcases[demo_model.name]
                        if puzzles:
                            examples = gr.Examples([[text] for text, _ in puzzles], inputs=[puzzle_text],
                                                   example_labels=[label for _, label in puzzles],
                                                   label="Examples: puzzles on which the model changes its mind",
                                                   elem_id=f"trm-examples-{len(example_columns)}")
                            example_events = getattr(examples, "load_input_event", None)
                            example_columns[demo_model.name] = (column, example_events)
                        else:
                            example_columns[demo_model.name] = (column, None)
                with gr.Accordion("Settings", open=False, elem_id="trm-settings"):
                    with gr.Row():
                        max_steps = gr.Slider(1, MAX_DEMO_STEPS, value=first.default_steps, step=1, label="max_steps",
                                              info="more steps than trained can fix an answer", elem_id="trm-max-steps")
                        halting = gr.Radio(["fixed", "adaptive"], value="fixed", label="halting", elem_id="trm-halting")
                    tries = gr.Slider(1, MAX_DEMO_TRIES, value=1, step=1, label="tries", visible=not is_arc,
                                      info="while the answer breaks a rule, solve the puzzle again as a symmetric "
                                      "variant (Sudoku: relabelled, shuffled; maze: rotated, reflected)",
                                      elem_id="trm-tries")
                    with gr.Row(visible=not is_arc) as generator_row:
                        difficulty = gr.Slider(0, max(top, 1), value=default, step=1, label=label,
                                               info="of 'Random puzzle'", visible=not is_arc and top > 0,
                                               elem_id="trm-difficulty")
                        seed = gr.Number(0, precision=0, label="seed", min_width=80, elem_id="trm-seed")
                    with gr.Row(visible=is_arc) as arc_row:
                        task_id = gr.Textbox(label="ARC task id", info="selects the puzzle embedding",
                                             elem_id="trm-task-id")
                        test_index = gr.Number(0, precision=0, label="test pair", elem_id="trm-test-index")
            with gr.Column(scale=3, min_width=340):
                with gr.Row(equal_height=False):
                    picture = gr.Image(type="pil", show_label=False, elem_id="trm-picture", height=360,
                                       buttons=["download", "fullscreen"], min_width=260, scale=3)
                    with gr.Column(scale=2, min_width=200):
                        verdict = gr.HTML(elem_id="trm-verdict")
                        play_button = gr.Button("▶ Play", elem_id="trm-play")
                        step = gr.Slider(0, 1, value=0, step=1, label="step", elem_id="trm-step")
                        caption = gr.Markdown(elem_id="trm-caption")
                        gr.Markdown(PICTURE_KEY, elem_id="trm-key")
                summary_box = gr.Markdown(elem_id="trm-summary")
                plot = gr.Plot(show_label=False, elem_id="trm-plot")
                grid_text = gr.Textbox(label="answer at this step, as text", lines=text_box_lines(first.processor),
                                       interactive=False, elem_id="trm-grid")
        with gr.Row(visible=is_arc) as arc_output_row:
            arc_picture = gr.Image(type="pil", label="ARC task: demonstrations, test input", elem_id="trm-arc-task")
            arc_note = gr.Markdown(elem_id="trm-arc-note")
        explanation = gr.Markdown(how_it_works(first), elem_id="trm-how")
        solved = gr.State(None)  # (model name, Refinement) of the last solve
        timer = gr.Timer(0.7, active=False)

        view = [picture, verdict, grid_text, plot, caption]  # what `show` returns
        answer = [status, summary_box, solved, step, *view]  # what `cleared` empties
        model_name.change(select_model, model_name,
                          [info, explanation, puzzle_text, max_steps, difficulty, generator_row, random_button, tries,
                           upload, arc_row, arc_output_row, *[column for column, _ in example_columns.values()],
                           *answer], api_name=False)
        # Everything that draws or clears the answer runs one at a time, in order (one concurrency group):
        # a Play tick already running when a new puzzle is drawn cannot paint the old answer back.
        one_at_a_time = {"concurrency_id": "answer", "concurrency_limit": 1}
        random_button.click(generate, [model_name, difficulty, seed], [puzzle_text, seed, *answer],
                            api_name="random_puzzle", **one_at_a_time)
        upload.upload(lambda path: Path(path).read_text(), upload, puzzle_text, api_name=False)
        solve_inputs = [model_name, puzzle_text, max_steps, halting, task_id, test_index, tries]
        solve_outputs = [*answer, arc_picture, arc_note]
        solve_button.click(solve, solve_inputs, solve_outputs, api_name="solve", **one_at_a_time)
        for _, event in example_columns.values():  # an example solves itself and plays its steps
            if event is not None:
                event.then(solve, solve_inputs, solve_outputs, api_name=False, **one_at_a_time).then(
                    play, [solved, step], [step, *view, timer], api_name=False, **one_at_a_time)
        # `input` fires when a person moves the slider, not when Play or Solve set it (they draw the step too);
        # always the last position: a quick drag must not leave the picture at a step it passed
        step.input(show, [solved, step], view, api_name="show_step", show_progress="hidden", trigger_mode="always_last",
                   **one_at_a_time)
        play_button.click(play, [solved, step], [step, *view, timer], api_name=False, show_progress="hidden",
                          **one_at_a_time)
        timer.tick(tick, [solved, step], [step, *view, timer], api_name=False, show_progress="hidden", **one_at_a_time)
    return app


def _arc_inputs(demo_model: DemoModel, arc_task: dict, task_id: str, test_index: int, max_steps: int, halting: str):
    """(task picture, test input, puzzle name or None, pass@k note) for an ARC task typed in the page."""
    from hub_datasets.pictures import figure_image, plot_arc_task

    tests = arc_task["test"]
    if not 0 <= test_index < len(tests):
        raise ValueError(f"test pair {test_index} does not exist: the task has {len(tests)} test pair(s)")
    pair = tests[test_index]
    demos = [(np.array(p["input"]), np.array(p["output"])) for p in arc_task.get("train", []) if "output" in p]
    picture = figure_image(plot_arc_task(demos + [(np.array(pair["input"]), np.array(pair.get("output", [[0]])))],
                                         title="demonstrations, then the test pair (its output, if given, last)"))
    task_id = task_id.strip()
    variants = arc_variants(demo_model.processor, task_id) if task_id else []
    if not variants:
        note = (f"The model has no puzzle embedding for task {task_id!r}: it solves with the blank embedding "
                "(ARC models only know the tasks they were trained on)." if task_id else
                "No task id given: the blank puzzle embedding is used (ARC models need the task's id).")
        return picture, pair["input"], None, note
    count, candidates, result = arc_vote(demo_model.model, demo_model.processor, task_id, pair, max_steps, halting)
    lines = [f"Voting over the model's {count} augmented variant(s) of task `{task_id}`:"]
    lines += [f"* candidate {i + 1}: {c['count']} vote(s), mean halting confidence {c['mean_sigmoid_q']:.3f}, "
              f"{c['grid'].shape[0]}x{c['grid'].shape[1]}" for i, c in enumerate(candidates[:3])]
    if result is not None:
        lines.append("* " + ", ".join(f"{k} = {v:.0f}" for k, v in result.items()))
    name = task_id if task_id in variants else variants[0]
    return picture, pair["input"] if name == task_id else _augmented(name, pair["input"]), name, "\n".join(lines)


def _augmented(variant_name: str, grid):
    from hub_datasets import augment

    return augment.apply(variant_name.partition("|||")[2], np.array(grid, dtype=np.uint8))


# ---------------------------------------------------------------------------------------------------
# a Hugging Face Space

SPACE_APP = '''"""A Hugging Face Space: `trm demo` for the model in ./model (written by `trm demo --export-space`)."""

from training.demo import build_app, launch_app, load_demo_model

demo = build_app([load_demo_model("model", name=MODEL_NAME)])

if __name__ == "__main__":
    launch_app(demo)
'''

SPACE_README = """---
{metadata}---

# {title}

Watch a Tiny Recursive Model refine its answer step by step (model: `{model}`), made with
[trm-hf](https://arxiv.org/abs/2510.04871)'s `trm demo --export-space`.
"""

PACKAGES = ("modeling_trm", "hub_datasets", "training", "model_cards")
RUN_STATE_PATTERNS = ("checkpoints", "checkpoint-*", "logs", "runs", "*.tmp", "*.pt", "*.pth", ".*")


def space_card(title: str, model: str, gradio_version: str) -> str:
    """The Space's README.md. The metadata is dumped by a YAML writer: a title such as
    "TRM demo: name" has a colon, which unquoted YAML reads as a nested mapping."""
    import yaml

    metadata = {"title": title, "emoji": "🧩", "colorFrom": "blue", "colorTo": "green", "sdk": "gradio",
                "sdk_version": gradio_version, "app_file": "app.py", "pinned": False, "license": "mit"}
    return SPACE_README.format(metadata=yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True),
                               title=title, model=model)


def export_space(model_dir: str, output: Path) -> Path:
    """A folder to upload as a Gradio Space: app.py, requirements.txt, README.md (Space card), the model
    folder as ./model and this package's source (a Space installs only requirements.txt)."""
    import gradio

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise ValueError(f"--export-space needs a local model folder with config.json, got {model_dir}")
    output = Path(output)
    if output.exists() and any(output.iterdir()):
        raise ValueError(f"{output} exists and is not empty; choose a new folder")
    temporary = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    # the model files only: a run folder also holds checkpoints and tracker logs (as `trm push` leaves out)
    shutil.copytree(model_dir, temporary / "model", ignore=shutil.ignore_patterns(*RUN_STATE_PATTERNS))
    source = Path(__file__).resolve().parents[1]
    for package in PACKAGES:
        shutil.copytree(source / package, temporary / package, ignore=shutil.ignore_patterns("__pycache__"))
    (temporary / "app.py").write_text(SPACE_APP.replace("MODEL_NAME", repr(model_dir.name)))
    (temporary / "requirements.txt").write_text("\n".join(_core_requirements() + [f"gradio=={gradio.__version__}"]) + "\n")
    (temporary / "README.md").write_text(space_card(f"TRM demo: {model_dir.name}", model_dir.name, gradio.__version__))
    if output.exists():
        output.rmdir()
    temporary.rename(output)
    return output


def _core_requirements() -> list[str]:
    """This package's own dependencies (from its installed metadata), for the Space's requirements.txt."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        return [r for r in requires("trm-hf") or [] if "extra ==" not in r]
    except PackageNotFoundError:  # running from a source checkout: read pyproject.toml
        import tomllib

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])


# ---------------------------------------------------------------------------------------------------
# the command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trm demo", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("models", nargs="*", help="model folders or Hub repo ids (default: the shipped models in "
                                                  f"training/pretrained/, else ./{DEFAULT_MODEL_DIR}, trained there "
                                                  "if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: reachable from others)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--export-space", type=Path, metavar="DIR",
                        help="write a Hugging Face Space (app.py, requirements.txt, the model, the package) to DIR "
                             "instead of serving; upload it with `hf upload USER/SPACE DIR . --repo-type space`")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('trm demo: error: Gradio is not installed; install the demo extra: pip install "trm-hf[demo]"',
              file=sys.stderr)
        return 2
    try:
        named = list(zip(short_names(args.models), args.models)) if args.models else default_models()
        if args.export_space is not None:
            if len(named) != 1:
                raise ValueError("--export-space takes exactly one model folder")
            print(f"Space written to {export_space(named[0][1], args.export_space)}; upload it with\n"
                  f"  hf upload USER/SPACE_NAME {args.export_space} . --repo-type space")
            return 0
        print(f"trm demo: loading {', '.join(name for name, _ in named)} and choosing example puzzles...",
              file=sys.stderr, flush=True)
        models = [load_demo_model(source, name) for name, source in named]
    except (ValueError, OSError) as error:
        print(f"trm demo: error: {error}", file=sys.stderr)
        return 2
    launch_app(build_app(models), server_name=args.host, server_port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
