"""Test-time compute, measured: exact accuracy against the inference step budget, fixed vs adaptive halting.

For each trained model (a ``save_pretrained`` folder written by ``trm train``, with its
``training_config.yaml``), the held-out test split of its own recipe is rebuilt from the recorded seed and
options (generated data is bit-reproducible), then solved

* with ``halting="fixed"`` up to ``--max-steps`` supervision steps (every puzzle runs every step, as the
  paper evaluates; one rollout gives the accuracy after each step), and
* with ``halting="adaptive"`` for each budget in ``--budgets`` (each puzzle stops as soon as its halting
  head's logit is > 0, or at the budget): exact accuracy, mean steps used, how many puzzles the halting
  head stopped before the budget and how many of those halted answers are wrong, and
* with adaptive halting again at a *calibrated* confidence (``SolveConfig.halt_confidence``): the lowest
  confidence at which adaptive halting is as exact as fixed halting at 16 steps, chosen by
  `training.evaluation.calibrate_halt_confidence` on freshly generated puzzles of the same recipe (another
  seed; any puzzle also in the model's train or test split is dropped), never on the test puzzles.

"Steps saved at equal accuracy" compares an adaptive budget with the fewest fixed steps reaching at least its
accuracy. The question this answers (arXiv 2510.04871 trains 16 supervision steps; more steps at inference
are the "test-time compute" of a recursive model): does a model trained with N steps get better with more,
and does its halting head stop puzzles early and correctly?

    python benchmarks/inference_steps.py --model sudoku6x6=trm-sudoku6x6   # the committed study
    python benchmarks/inference_steps.py --model tiny=DIR --max-steps 8 --budgets 2,8 --output /tmp/ttc

Writes ``results.json``, ``results.md`` and ``accuracy_vs_steps.png`` to ``--output`` (default
``benchmarks/results/test_time_compute/``); with the default output it also rewrites the test-time compute
block of ``docs/test-time-compute.md`` between its markers (a test checks the block against the JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import numpy as np

RESULTS_DIR = harness.RESULTS_ROOT / "test_time_compute"
DOC_BLOCK = harness.GeneratedBlock(harness.REPO_ROOT / "docs" / "test-time-compute.md", "test-time-compute",
                                   "benchmarks/inference_steps.py")
DEFAULT_BUDGETS = (16, 32, 64, 128)  # plus the trained number of supervision steps
CALIBRATION_STEPS = 16  # the paper's number of supervision steps: the fixed accuracy to match
CALIBRATION_SEED_OFFSET = 1000  # the calibration puzzles are generated with dataset_seed + this


# Why not `training.data.split_off_calibration`, the rule `trm train` calibrates with? The two pick different
# puzzles, and the committed study (benchmarks/results/test_time_compute/, "generated with seed 1000") was
# measured with this one, so rerunning it must draw the same puzzles:
# * the seed: dataset_seed + 1000 here, dataset_seed + 1_000_003 in training (whose fresh puzzles then are not
#   the ones `trm train` chose its confidence on, which makes this an independent check of that choice);
# * the draw: here the recipe is rebuilt with its own options and only num_test changed (a generator draws
#   the test puzzles after the train ones, so num_train changes which they are); training builds num_train=1
#   and num_test=halt_calibration_puzzles;
# * a saved dataset: here its `validation` split (or no calibration); training holds the last training groups
#   out of training, which a model already trained on them has seen.
# What they share is the rule "fresh generated puzzles, minus any that is in the train or test split".
def calibration_split(model_dir: Path, test, size: int | None = None):
    """``(split, description)``: puzzles to choose the halting confidence on, outside the test split.

    A generated recipe is rebuilt with another seed and its test split kept, minus any puzzle that is also
    in the model's train or test split; a built dataset gives its ``validation`` split. ``(None, reason)``
    when there is neither."""
    import hub_datasets

    dataset, _, config = harness.training_dataset(model_dir)
    if config.dataset is not None:
        if "validation" not in dataset:
            return None, f"dataset {config.dataset} has no validation split"
        return dataset["validation"], f"the validation split of {config.dataset}"
    seed = config.dataset_seed + CALIBRATION_SEED_OFFSET
    options = dict(config.dataset_options)
    size = size or options.get("num_test") or len(test)
    fresh, _ = hub_datasets.build_dataset(config.dataset_recipe, seed=seed, **{**options, "num_test": size})
    seen = {np.asarray(row, dtype=np.int64).tobytes() for rows in (dataset["train"]["inputs"], test["inputs"])
            for row in rows}
    keep = [i for i, row in enumerate(fresh["test"]["inputs"]) if np.asarray(row, dtype=np.int64).tobytes() not in seen]
    dropped = len(fresh["test"]) - len(keep)
    return fresh["test"].select(keep), (f"{len(keep)} puzzles of `{config.dataset_recipe}` generated with seed {seed} "
                                        f"({dropped} dropped: also in the model's train or test split)")


def _solve(model, inputs, puzzle_ids, labels, batch_size: int, **options):
    """``solve`` in chunks; per puzzle: exact (bool), steps used, and with ``return_intermediate`` the
    exact-correctness after every step [steps, N]."""
    import torch

    from training import metrics

    exact, steps, by_step = [], [], []
    for start in range(0, len(inputs), batch_size):
        chunk = slice(start, start + batch_size)
        out = model.solve(torch.from_numpy(inputs[chunk]), torch.from_numpy(puzzle_ids[chunk]), **options)
        exact.append(metrics.puzzle_correctness(out.predictions.cpu().numpy(), labels[chunk])[0])
        steps.append(out.steps.cpu().numpy())
        if out.intermediate_predictions is not None:
            by_step.append(np.stack([metrics.puzzle_correctness(p, labels[chunk])[0]
                                     for p in out.intermediate_predictions.cpu().numpy()]))
    return np.concatenate(exact), np.concatenate(steps), (np.concatenate(by_step, axis=1) if by_step else None)


def measure(model, test, max_steps: int, budgets: list[int], batch_size: int = 256, calibration=None) -> dict:
    """Fixed-halting accuracy after every step up to ``max_steps``, adaptive halting at each budget (the
    training rule, confidence 0.5), and with ``calibration`` (``(split, description)``) adaptive halting at
    the confidence calibrated on that split."""
    columns = test.select_columns(["inputs", "labels", "puzzle_id"]).with_format("numpy")[:]
    inputs, labels = columns["inputs"].astype(np.int64), columns["labels"].astype(np.int64)
    puzzle_ids = columns["puzzle_id"].astype(np.int64)
    trained = model.config.max_supervision_steps

    started = time.perf_counter()
    _, _, fixed_by_step = _solve(model, inputs, puzzle_ids, labels, batch_size, halting="fixed", max_steps=max_steps,
                                 return_intermediate=True)
    fixed_seconds = time.perf_counter() - started
    fixed_curve = fixed_by_step.mean(axis=1)  # exact accuracy after step 1..max_steps

    def adaptive_sweep(halt_confidence: float) -> list[dict]:
        rows = []
        for budget in sorted({trained, *budgets}):
            started = time.perf_counter()
            exact, steps, _ = _solve(model, inputs, puzzle_ids, labels, batch_size, halting="adaptive",
                                     max_steps=budget, halt_confidence=halt_confidence)
            halted_early = steps < budget  # stopped by the halting head, not by the budget
            accuracy, mean_steps = float(exact.mean()), float(steps.mean())
            reached = np.flatnonzero(fixed_curve[:max_steps] >= accuracy - 1e-12)
            fixed_equal = int(reached[0]) + 1 if len(reached) else None  # fewest fixed steps with >= this accuracy
            rows.append({
                "budget": budget,
                "halt_confidence": halt_confidence,
                "exact_accuracy": accuracy,
                "mean_steps": mean_steps,
                "halted_early": int(halted_early.sum()),
                "halted_early_wrong": int((halted_early & ~exact).sum()),
                "fixed_steps_for_equal_accuracy": fixed_equal,
                "fixed_exact_accuracy_at_budget": float(fixed_curve[budget - 1]) if budget <= max_steps else None,
                "seconds": time.perf_counter() - started,
            })
        return rows

    entry = {
        "num_puzzles": len(inputs),
        "trained_steps": trained,
        "max_steps": max_steps,
        "fixed": {"steps": list(range(1, max_steps + 1)), "exact_accuracy": fixed_curve.tolist(),
                  "seconds": fixed_seconds},
        "adaptive": adaptive_sweep(0.5),
    }
    if calibration is not None:
        from training.evaluation import calibrate_halt_confidence

        split, description = calibration
        chosen = calibrate_halt_confidence(model, split, max_steps=min(CALIBRATION_STEPS, max_steps),
                                           batch_size=batch_size)
        entry["calibration"] = {"source": description, **chosen}
        if chosen["halt_confidence"] not in (None, 0.5):  # 0.5 is the training rule: the sweep above
            entry["adaptive_calibrated"] = adaptive_sweep(chosen["halt_confidence"])
    return entry


# ---------------------------------------------------------------------------------------------
# Report


def _fixed_at(entry: dict, steps: int):
    curve = entry["fixed"]["exact_accuracy"]
    return curve[steps - 1] if steps <= len(curve) else None


def findings(entry: dict) -> list[str]:
    """Plain sentences computed from one model's numbers (no number is typed by hand)."""
    trained, curve = entry["trained_steps"], entry["fixed"]["exact_accuracy"]
    best = int(np.argmax(curve)) + 1
    lines = [(f"fixed halting: {harness.percent(curve[trained - 1])}% exact at the trained {trained} steps, "
             f"best {harness.percent(curve[best - 1])}% at {best} steps, {harness.percent(curve[-1])}% at {len(curve)} steps.")]
    halted = sum(a["halted_early"] for a in entry["adaptive"])
    if halted == 0:
        lines.append("adaptive halting: the halting head never stopped a puzzle before the budget, so adaptive = "
                     "fixed here (the model was trained with ACT halting, but its halt logit stays <= 0).")
    else:
        for a in entry["adaptive"]:
            fixed16 = _fixed_at(entry, 16)
            if a["budget"] == 16 and fixed16 is not None:
                ratio = 16 / a["mean_steps"]
                same = a["exact_accuracy"] >= fixed16 - 1e-12
                lines.append(
                    f"adaptive halting, budget 16: {harness.percent(a['exact_accuracy'])}% exact with {a['mean_steps']:.2f} mean steps "
                    f"vs fixed 16 steps {harness.percent(fixed16)}%: {ratio:.1f}x fewer steps, "
                    + ("at no loss of accuracy." if same else
                       f"at {harness.percent(fixed16 - a['exact_accuracy'])} points less exact accuracy."))
                equal = a["fixed_steps_for_equal_accuracy"]
                if not same and equal is not None:
                    lines.append(f"at equal accuracy: fixed halting reaches {harness.percent(a['exact_accuracy'])}% after {equal} "
                                 f"steps, {equal / a['mean_steps']:.1f}x the adaptive mean.")
        top = max(entry["adaptive"], key=lambda a: a["budget"])
        if top["halted_early"]:
            wrong = top["halted_early_wrong"]
            lines.append(f"halted answers that are wrong (budget {top['budget']}): {wrong} of {top['halted_early']} "
                         f"({harness.percent(wrong / top['halted_early'])}%).")
    return lines + calibrated_findings(entry)


def calibrated_findings(entry: dict) -> list[str]:
    """What the calibrated halting confidence gives on the test puzzles (none without a calibration)."""
    calibration = entry.get("calibration")
    if calibration is None:
        return []
    tried = ", ".join(f"{c['halt_confidence']:g}" for c in calibration["candidates"])
    chosen = calibration["halt_confidence"]
    source = (f"on {calibration['source']}, where fixed halting at {calibration['max_steps']} steps is "
              f"{harness.percent(calibration['target_exact_accuracy'])}% exact; tried {tried}")
    if chosen is None:
        return [f"calibrated halting: no confidence reached fixed halting's accuracy ({source})."]
    if chosen == 0.5:
        return [f"calibrated halting confidence: 0.5, the training rule already is as exact as fixed halting ({source})."]
    lines = [f"calibrated halting confidence: {chosen:g}, the lowest at which adaptive halting is as exact as fixed "
             f"halting ({source})."]
    fixed16 = _fixed_at(entry, 16)
    for a in entry["adaptive_calibrated"]:
        if a["budget"] == 16 and fixed16 is not None:
            same = a["exact_accuracy"] >= fixed16 - 1e-12
            lines.append(
                f"adaptive halting at confidence {chosen:g}, budget 16: {harness.percent(a['exact_accuracy'])}% exact with "
                f"{a['mean_steps']:.2f} mean steps vs fixed 16 steps {harness.percent(fixed16)}%: {16 / a['mean_steps']:.1f}x "
                "fewer steps, " + ("at no loss of accuracy on the test puzzles." if same else
                                   f"at {harness.percent(fixed16 - a['exact_accuracy'])} points less exact accuracy."))
    top = max(entry["adaptive_calibrated"], key=lambda a: a["budget"])
    if top["halted_early"]:
        lines.append(f"halted answers that are wrong at confidence {chosen:g} (budget {top['budget']}): "
                     f"{top['halted_early_wrong']} of {top['halted_early']} "
                     f"({harness.percent(top['halted_early_wrong'] / top['halted_early'])}%).")
    return lines


def results_table(results: dict) -> str:
    lines = ["# Test-time compute", ""]
    for name, entry in results["models"].items():
        lines += [f"## {name}", "",
                  (f"`{entry['model_dir']}`: {entry['parameters']:,} parameters, trained with {entry['trained_steps']} "
                  f"supervision steps; {entry['num_puzzles']} held-out puzzles of `{entry['recipe']}` "
                  f"{entry['dataset_options']}. Adaptive: a puzzle stops when its halting logit "
                  + ("exceeds its continue logit" if entry.get("act_continue") else "is > 0")
                  + " (the model's training rule) or at the budget."), ""]
        lines += TABLE_HEADER + [_table_row(entry, a) for a in entry["adaptive"]]
        if entry.get("adaptive_calibrated"):
            chosen = entry["calibration"]["halt_confidence"]
            lines += ["", f"Adaptive halting at the calibrated confidence {chosen:g} (a puzzle stops once "
                      f"sigmoid(halting logit) > {chosen:g}; how it was chosen: below):", ""]
            lines += TABLE_HEADER + [_table_row(entry, a) for a in entry["adaptive_calibrated"]]
        lines += [""] + [f"* {line}" for line in findings(entry)] + [""]
    lines += ["![accuracy vs steps](benchmarks/results/test_time_compute/accuracy_vs_steps.png)", ""]
    return "\n".join(lines)


TABLE_HEADER = [("| inference steps (budget) | fixed: exact % | adaptive: exact % | adaptive: mean steps | "
                 "stopped early by the halting head | of those wrong | fewest fixed steps with >= adaptive accuracy |"),
                "|---:|---:|---:|---:|---:|---:|---:|"]


def _table_row(entry: dict, a: dict) -> str:
    return (f"| {a['budget']} | {harness.percent(a['fixed_exact_accuracy_at_budget'])} | {harness.percent(a['exact_accuracy'])} | "
            f"{a['mean_steps']:.2f} | {a['halted_early']} / {entry['num_puzzles']} | "
            f"{a['halted_early_wrong']} | {a['fixed_steps_for_equal_accuracy'] or 'never'} |")


def doc_section(table: str) -> str:
    """The block of ``docs/test-time-compute.md`` for a ``results.md`` (headings under the page's own)."""
    return DOC_BLOCK.section(table, demote_headings=True)


def plot(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for index, (name, entry) in enumerate(results["models"].items()):
        colour = f"C{index}"
        ax.plot(entry["fixed"]["steps"], entry["fixed"]["exact_accuracy"], color=colour, label=f"{name}: fixed")
        adaptive = entry["adaptive"]
        ax.plot([a["mean_steps"] for a in adaptive], [a["exact_accuracy"] for a in adaptive], color=colour,
                linestyle="none", marker="o", label=f"{name}: adaptive, confidence 0.5 (x = mean steps used)")
        if entry.get("adaptive_calibrated"):
            calibrated = entry["adaptive_calibrated"]
            ax.plot([a["mean_steps"] for a in calibrated], [a["exact_accuracy"] for a in calibrated], color=colour,
                    linestyle="none", marker="*", markersize=10,
                    label=f"{name}: adaptive, calibrated confidence {entry['calibration']['halt_confidence']:g}")
        ax.axvline(entry["trained_steps"], color=colour, linestyle="--", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("supervision steps at inference (dashed: steps used in training)")
    ax.set_ylabel("exact accuracy (held-out test)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Test-time compute: fixed steps vs adaptive halting", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                        help="a trained model folder (with training_config.yaml), repeatable")
    parser.add_argument("--max-steps", type=int, default=128, help="fixed-halting rollout length")
    parser.add_argument("--budgets", default=",".join(map(str, DEFAULT_BUDGETS)),
                        help="adaptive-halting step budgets, comma-separated (the trained number is added)")
    parser.add_argument("--limit", type=int, help="first N test puzzles only")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--from-json", type=Path, help="re-render this results.json instead of measuring")
    args = parser.parse_args(argv)
    if args.from_json is not None:
        write_outputs(json.loads(args.from_json.read_text()), args.output)
        return 0
    if not args.model:
        parser.error("give at least one --model NAME=DIR (or --from-json)")
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
    if args.max_steps < 1 or any(b < 1 or b > args.max_steps for b in budgets):
        parser.error(f"--max-steps must be >= 1 and every budget in 1..{args.max_steps}, got {args.budgets}")
    import torch

    torch.set_num_threads(args.threads)
    results = {"models": {}, "machine": harness.machine("platform", "torch", "threads")}
    for name, model_dir, model in harness.trained_models(parser, args.model):
        if model.config.max_supervision_steps > args.max_steps:
            parser.error(f"{name}: --max-steps {args.max_steps} is below the trained {model.config.max_supervision_steps}")
        test, metadata, config = harness.load_test_split(model_dir, args.limit)
        calibration = calibration_split(model_dir, test, args.limit)
        if calibration[0] is None:
            print(f"{name}: no calibration of the halting confidence: {calibration[1]}", flush=True)
        entry = measure(model, test, args.max_steps, budgets, calibration=calibration if calibration[0] else None)
        entry.update(model_dir=str(model_dir), parameters=model.num_parameters(), recipe=metadata.recipe,
                     dataset_options=config.dataset_options, act_continue=model.config.act_continue)
        results["models"][name] = entry
        print(f"{name}: " + " ".join(findings(entry)), flush=True)

    write_outputs(results, args.output)
    return 0


def write_outputs(results: dict, output: Path) -> None:
    """``results.json``, ``results.md``, the plot, and (default output) the block of docs/test-time-compute.md."""
    table = results_table(results)
    harness.write_results_folder(output, results, table)
    plot(results, output / "accuracy_vs_steps.png")
    if output.resolve() == RESULTS_DIR.resolve():
        DOC_BLOCK.write(doc_section(table))
        print(f"Updated the test-time compute block of {DOC_BLOCK.path}")


if __name__ == "__main__":
    sys.exit(main())
