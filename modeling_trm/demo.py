"""``trm demo``: a Gradio app to watch a TRM/HRM refine its answer, step by step, and decide it is done.

    trm demo                                   # the README's default model (./trm-sudoku6x6), trained if missing
    trm demo trm-sudoku6x6 my-maze-model       # local folders or Hub repo ids; pick one in the page
    trm demo trm-sudoku6x6 --export-space space/   # a folder to push as a Hugging Face Space

Type or paste a Sudoku (4x4/6x6/8x8/9x9, '.' or '0' = blank), a maze ('#' wall, ' ' open, 'S', 'G'),
or an ARC task JSON, or draw a random puzzle from the package's generators. The page shows the
answer after every supervision step (changed cells highlighted; a step slider and a play button),
the halting confidence per step, where adaptive halting stops, and whether the answer is a valid
solution. Needs the ``demo`` extra: ``pip install -e ".[demo]"``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .processing_trm import PuzzleProcessor
from .refinement import Refinement, draw_step, refine

DEFAULT_MODEL_DIR = "trm-sudoku6x6"  # where the README's `trm train` puts the default model
MAX_DEMO_STEPS = 64


@dataclass
class DemoModel:
    name: str
    model: object
    processor: PuzzleProcessor

    @property
    def default_steps(self) -> int:
        return self.model.solve_config.max_steps or self.model.config.max_supervision_steps

    def describe(self) -> str:
        p, config = self.processor, self.model.config
        task = {"sudoku": f"{p.grid_size}x{p.grid_size} Sudoku", "maze": f"{p.grid_size}x{p.grid_size} maze",
                "arc": "ARC"}[p.task]
        return (f"**{self.name}**: {type(self.model).__name__}, {self.model.num_parameters():,} parameters, "
                f"{task}, trained with {config.max_supervision_steps} supervision steps")


def load_demo_model(name: str) -> DemoModel:
    """A model folder or Hub repo id with the processor saved beside it (no download beyond the model)."""
    from .loading import load_model_for_solving
    from .solve_cli import load_processor

    model = load_model_for_solving(name)  # a missing folder or an unreachable Hub is named in one line
    return DemoModel(name, model, load_processor(name, None, model.config, None))


def find_or_train_default_model(train: bool = True) -> str:
    """The README's default model folder in the working directory; trained there (minutes on CPU) if absent."""
    folder = Path(DEFAULT_MODEL_DIR)
    if (folder / "config.json").exists():
        return str(folder)
    if not train:
        raise FileNotFoundError(f"no model given and no ./{DEFAULT_MODEL_DIR}; pass a model folder or Hub repo id")
    print(f"trm demo: no model given and no ./{DEFAULT_MODEL_DIR}: training the default model there "
          "(`trm train --output-dir trm-sudoku6x6`, minutes on a CPU; nothing is downloaded).", file=sys.stderr)
    from training.train import main as train_main

    train_main(["--output-dir", str(folder)])
    return str(folder)


# ---------------------------------------------------------------------------------------------------
# input: text -> puzzle, generators, ARC tasks


def parse_puzzle(task: str, text: str):
    """The text typed in the page as a puzzle the processor reads (its errors name the cell/row)."""
    if not text.strip():
        raise ValueError("the puzzle is empty: type one, paste one or press 'Random puzzle'")
    if task == "sudoku":  # also accepts `processor.to_text` grids: box rules '|', '-', '+' are layout only
        return "".join(char for char in text if char not in " \t\r\n|+-")
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


def random_puzzle(processor: PuzzleProcessor, difficulty: int, seed: int) -> str:
    """A fresh puzzle from the package's generators, as the text the page shows."""
    if processor.task == "sudoku":
        from hub_datasets.sudoku import generate_sudoku

        records = generate_sudoku(1, size=processor.grid_size, seed=seed, min_difficulty=difficulty)
        return processor.to_text(records.questions[0])
    if processor.task == "maze":
        from hub_datasets.maze import CHARSET, generate_mazes

        moves = min(difficulty, processor.grid_size**2 // 3)
        records = generate_mazes(1, size=processor.grid_size, min_moves=moves, seed=seed)
        return "\n".join("".join(CHARSET[code] for code in row) for row in records.questions[0])
    raise ValueError("there is no ARC generator: paste a task JSON (e.g. a file of the ARC-AGI repository)")


def difficulty_range(processor: PuzzleProcessor) -> tuple[str, int, int]:
    """(label, maximum, default) of the generator's difficulty for this task."""
    if processor.task == "maze":  # shortest path longer than this many moves (Maze-Hard: 110 on 30x30)
        top = max(2, round(110 * processor.grid_size**2 / 900))
        return "minimum shortest path (moves)", top, top // 2
    return "minimum difficulty (solver guesses)", 10, 0


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
# output: the halting plot and the step view


def halting_figure(refinement: Refinement, step: int):
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(5, 2.4), dpi=100)
    steps = np.arange(1, refinement.num_steps + 1)
    ax.plot(steps, refinement.halt_confidence, "o-", color="#0074D9", label="halting confidence")
    ax.axhline(0.5, color="#888888", lw=0.8, ls="--")
    if refinement.adaptive_stop is not None:
        ax.axvline(refinement.adaptive_stop, color="#2ECC40", lw=1.5, label=f"adaptive stop (step {refinement.adaptive_stop})")
    if step:
        ax.plot([step], [refinement.halt_confidence[step - 1]], "o", ms=11, mfc="none", mec="#FF4136", mew=2)
    ax.set_xlabel("supervision step")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xticks(steps if len(steps) <= 16 else steps[:: max(1, len(steps) // 16)])
    ax.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    plt.close(figure)
    return figure


def step_caption(refinement: Refinement, step: int) -> str:
    if step == 0:
        return "Step 0: the puzzle as given."
    changed = int((refinement.step_ids[step - 1] != (refinement.step_ids[step - 2] if step > 1 else refinement.input_ids)).sum())
    caption = (f"Step {step} of {refinement.num_steps}: {changed} cell{'s' if changed != 1 else ''} changed, "
               f"halting confidence {refinement.halt_confidence[step - 1]:.3f}.")
    if refinement.problems is not None:
        caption += f" {refinement.validity_message(step).capitalize()}."
    return caption


def summary(refinement: Refinement) -> str:
    stop = refinement.adaptive_stop
    if refinement.halting == "adaptive":
        halting = (f"Adaptive halting stopped after step {stop}." if stop is not None
                   else f"Adaptive halting never fired: all {refinement.num_steps} steps ran.")
    else:
        halting = (f"Ran all {refinement.num_steps} steps (fixed); adaptive halting would stop after step {stop}."
                   if stop is not None else f"Ran all {refinement.num_steps} steps (fixed); the halting head never said stop.")
    if refinement.problems is None:
        return halting
    final = refinement.final_problem
    verdict = ("The final answer is a **valid solution**." if final is None
               else f"The final answer is **not a valid solution**: {final}.")
    return f"{verdict} {halting}"


def step_text(processor: PuzzleProcessor, refinement: Refinement, step: int) -> str:
    return processor.to_text(processor.decode(refinement.step_ids[step - 1] if step else refinement.input_ids))


# ---------------------------------------------------------------------------------------------------
# the app


def whole_number(value, name: str, minimum: int) -> int:
    """A count from the app or its API (a slider sends 3 or 3.0): 2.5 steps is refused, not floored to 2."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value != int(value) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def build_app(models: list[DemoModel]):
    """The Gradio Blocks app for these models (the first is selected)."""
    import gradio as gr

    by_name = {m.name: m for m in models}
    first = models[0]
    label, top, default = difficulty_range(first.processor)

    def error_markdown(error: Exception) -> str:
        message = str(error).removeprefix("puzzle 0: ")
        return f"**Invalid input**: {message}"

    def select_model(name):
        demo_model = by_name[name]
        label, top, default = difficulty_range(demo_model.processor)
        is_arc = demo_model.processor.task == "arc"
        return (demo_model.describe(), gr.update(value=demo_model.default_steps),
                gr.update(label=label, maximum=top, value=default, visible=not is_arc),
                gr.update(visible=not is_arc), gr.update(visible=is_arc), gr.update(visible=is_arc))

    def generate(name, difficulty, seed):
        demo_model = by_name[name]
        try:
            return random_puzzle(demo_model.processor, int(difficulty), int(seed)), int(seed) + 1, ""
        except ValueError as error:
            return gr.update(), seed, error_markdown(error)

    def show(solved, step):
        if solved is None:
            return None, "", None, ""
        name, refinement = solved  # the model that made it: the menu may have changed since
        processor = by_name[name].processor
        step = int(min(max(step, 0), refinement.num_steps))
        return (draw_step(processor, refinement, step), step_text(processor, refinement, step),
                halting_figure(refinement, step), step_caption(refinement, step))

    def solve(name, text, max_steps, halting, task_id, test_index):
        demo_model = by_name[name]
        processor = demo_model.processor
        no_result = (None, gr.update(maximum=1, value=0), None, "", None, "", None, "")
        try:
            max_steps, test_index = whole_number(max_steps, "max_steps", 1), whole_number(test_index, "test pair", 0)
            puzzle = parse_puzzle(processor.task, text)
            arc_note, arc_picture, puzzle_name = "", None, None
            if processor.task == "arc":
                arc_picture, puzzle, puzzle_name, arc_note = _arc_inputs(demo_model, puzzle, task_id, test_index,
                                                                         max_steps, halting)
            refinement = refine(demo_model.model, processor, puzzle, puzzle_name=puzzle_name,
                                max_steps=max_steps, halting=halting)
        except ValueError as error:
            return (error_markdown(error), *no_result)
        last = refinement.num_steps
        result = (name, refinement)
        return (summary(refinement), result, gr.update(maximum=last, value=last), *show(result, last),
                arc_picture, arc_note)

    def tick(solved, step):
        if solved is None or step >= solved[1].num_steps:
            return gr.update(), gr.Timer(active=False)
        return step + 1, gr.Timer(active=True)

    with gr.Blocks(title="TRM: watch it think") as app:
        gr.Markdown(
            "# Watch a Tiny Recursive Model think\n"
            "One tiny network refines its answer over supervision steps and learns when to stop. "
            "Enter a puzzle, press **Solve**, then move the step slider (or press **Play**): changed cells "
            "are highlighted, the plot shows the halting confidence (sigmoid of the halting logit)."
        )
        with gr.Row():
            model_name = gr.Dropdown([m.name for m in models], value=first.name, label="model", elem_id="trm-model")
            info = gr.Markdown(first.describe(), elem_id="trm-model-info")
        with gr.Row():
            with gr.Column(scale=1):
                puzzle_text = gr.Textbox(label="puzzle", lines=12, elem_id="trm-puzzle",
                                         placeholder="Sudoku: rows of digits, '.' or '0' for blanks\n"
                                                     "Maze: rows of '#', ' ', 'S', 'G'\nARC: a task JSON")
                arc_file = gr.File(label="or upload an ARC task JSON / puzzle text file", file_types=[".json", ".txt"],
                                   type="filepath", height=110, elem_id="trm-upload")
                with gr.Row(visible=first.processor.task != "arc") as generator_row:
                    difficulty = gr.Slider(0, top, value=default, step=1, label=label, elem_id="trm-difficulty")
                    seed = gr.Number(0, precision=0, label="seed", elem_id="trm-seed")
                    random_button = gr.Button("Random puzzle", elem_id="trm-random")
                with gr.Row(visible=first.processor.task == "arc") as arc_row:
                    task_id = gr.Textbox(label="ARC task id (selects the puzzle embedding)", elem_id="trm-task-id")
                    test_index = gr.Number(0, precision=0, label="test pair", elem_id="trm-test-index")
                with gr.Row():
                    max_steps = gr.Slider(1, MAX_DEMO_STEPS, value=first.default_steps, step=1, label="max_steps",
                                          info="more steps than trained can fix an answer", elem_id="trm-max-steps")
                    halting = gr.Radio(["fixed", "adaptive"], value="fixed", label="halting", elem_id="trm-halting")
                solve_button = gr.Button("Solve", variant="primary", elem_id="trm-solve")
                status = gr.Markdown(elem_id="trm-status")
            with gr.Column(scale=1):
                step = gr.Slider(0, 1, value=0, step=1, label="step", elem_id="trm-step")
                with gr.Row():
                    play = gr.Button("▶ Play", elem_id="trm-play")
                    caption = gr.Markdown(elem_id="trm-caption")
                picture = gr.Image(type="pil", label="answer at this step", elem_id="trm-picture", height=380)
                grid_text = gr.Textbox(label="grid at this step", lines=10, interactive=False, elem_id="trm-grid")
                plot = gr.Plot(label="halting confidence", elem_id="trm-plot")
        with gr.Row(visible=first.processor.task == "arc") as arc_output_row:
            arc_picture = gr.Image(type="pil", label="ARC task: demonstrations, test input", elem_id="trm-arc-task")
            arc_note = gr.Markdown(elem_id="trm-arc-note")
        solved = gr.State(None)  # (model name, Refinement) of the last solve
        timer = gr.Timer(0.7, active=False)

        model_name.change(select_model, model_name,
                          [info, max_steps, difficulty, generator_row, arc_row, arc_output_row], api_name=False)
        random_button.click(generate, [model_name, difficulty, seed], [puzzle_text, seed, status], api_name="random_puzzle")
        arc_file.upload(lambda path: Path(path).read_text(), arc_file, puzzle_text, api_name=False)
        solve_button.click(solve, [model_name, puzzle_text, max_steps, halting, task_id, test_index],
                           [status, solved, step, picture, grid_text, plot, caption, arc_picture, arc_note],
                           api_name="solve")
        step.change(show, [solved, step], [picture, grid_text, plot, caption], api_name="show_step",
                    show_progress="hidden")
        play.click(lambda: (0, gr.Timer(active=True)), None, [step, timer], api_name=False)
        timer.tick(tick, [solved, step], [step, timer], api_name=False, show_progress="hidden")
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

from modeling_trm.demo import build_app, load_demo_model

demo = build_app([load_demo_model("model")])

if __name__ == "__main__":
    demo.launch()
'''

SPACE_README = """---
title: {title}
emoji: 🧩
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: {gradio_version}
app_file: app.py
pinned: false
license: mit
---

# {title}

Watch a Tiny Recursive Model refine its answer step by step (model: `{model}`), made with
[trm-hf](https://arxiv.org/abs/2510.04871)'s `trm demo --export-space`.
"""

PACKAGES = ("modeling_trm", "hub_datasets", "training", "model_cards")


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
    shutil.copytree(model_dir, temporary / "model", ignore=shutil.ignore_patterns("checkpoints", "*.tmp"))
    source = Path(__file__).resolve().parents[1]
    for package in PACKAGES:
        shutil.copytree(source / package, temporary / package, ignore=shutil.ignore_patterns("__pycache__"))
    (temporary / "app.py").write_text(SPACE_APP)
    (temporary / "requirements.txt").write_text("\n".join(_core_requirements() + [f"gradio=={gradio.__version__}"]) + "\n")
    (temporary / "README.md").write_text(SPACE_README.format(title=f"TRM demo: {model_dir.name}", model=model_dir.name,
                                                             gradio_version=gradio.__version__))
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
    parser.add_argument("models", nargs="*", help=f"model folders or Hub repo ids (default: ./{DEFAULT_MODEL_DIR}, "
                                                  "trained there if missing)")
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
        names = args.models or [find_or_train_default_model()]
        if args.export_space is not None:
            if len(names) != 1:
                raise ValueError("--export-space takes exactly one model folder")
            print(f"Space written to {export_space(names[0], args.export_space)}; upload it with\n"
                  f"  hf upload USER/SPACE_NAME {args.export_space} . --repo-type space")
            return 0
        models = [load_demo_model(name) for name in names]
    except (ValueError, OSError) as error:
        print(f"trm demo: error: {error}", file=sys.stderr)
        return 2
    build_app(models).launch(server_name=args.host, server_port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
