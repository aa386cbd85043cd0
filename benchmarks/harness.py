"""What the benchmark scripts share: where the repository is, how a result records its machine, how a
generated block of the README or docs is rewritten, and how a trained model and its held-out puzzles are
loaded.

The scripts in ``benchmarks/`` are files to run (``python benchmarks/NAME.py``), so Python puts this folder
on ``sys.path`` and ``import harness`` works; importing it puts the repository root there too, so the
packages import from a checkout without an install. (The tests load the scripts the same way:
``tests/benchmarks/benchmark_scripts.py``.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO_ROOT / "benchmarks"
RESULTS_ROOT = BENCHMARKS / "results"  # the committed results, one file or folder per script
if str(REPO_ROOT) not in sys.path:  # a checkout without an installed package
    sys.path.insert(0, str(REPO_ROOT))

from modeling_trm.folders import write_text_atomically  # noqa: E402  (found through the path set above)

# ---------------------------------------------------------------------------------------------- the machine


def cpu_name() -> str:
    """The processor as ``platform`` names it (the architecture where it cannot)."""
    return platform.processor() or platform.machine()


def cpu_model() -> str:
    """The processor's model name as the kernel reports it (Linux), else `cpu_name`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return cpu_name()


def _cpu_bf16() -> str:
    from training.hardware import native_bf16

    return native_bf16("cpu")[1]


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15 minute load averages (None where the system keeps none)."""
    return os.getloadavg() if hasattr(os, "getloadavg") else None


def _torch_version() -> str:
    import torch

    return torch.__version__


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


MACHINE_FIELDS = {  # the fields a results file's "machine" record may name, computed when asked for
    "cpu": cpu_name,
    "cpu_model": cpu_model,
    "bf16": _cpu_bf16,  # whether the CPU computes bf16 natively, and the feature that says so
    "platform": platform.platform,
    "python": platform.python_version,
    "torch": _torch_version,
    "threads": _torch_threads,  # torch's intra-op threads, as the script set them
    "cpus": os.cpu_count,
    "cores": os.cpu_count,
    "load_average": load_average,
}


def machine(*fields: str, **values) -> dict:
    """The ``machine`` record of a results file: each named field of ``MACHINE_FIELDS``, in the order given,
    then ``values`` as they are (measurements only the script has: load before and after, the cores it used).

    Every results file keeps the keys it always had; this is where their values come from."""
    unknown = [field for field in fields if field not in MACHINE_FIELDS]
    if unknown:
        raise ValueError(f"unknown machine field(s) {unknown}; known: {sorted(MACHINE_FIELDS)}")
    return {**{field: MACHINE_FIELDS[field]() for field in fields}, **values}


def synchronize(device) -> None:
    """Wait for queued kernels, so that wall-clock timings cover the work (a no-op on CPU)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_gflops(sizes: tuple[int, ...] = (1024, 2048, 3072), repeats: int = 3, trials: int = 5,
                       dtype=None, device="cpu") -> float:
    """Best dense matmul rate (GFLOP/s) over several sizes and trials (``dtype`` default float32). On a shared
    machine one timing can catch a neighbour's load and understate the peak (which once made a model look
    >100% efficient): take the best. On a GPU the same call measures the bf16 tensor-core peak
    (``dtype=torch.bfloat16``)."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    best_rate = 0.0
    for size in sizes:
        a = torch.randn(size, size, dtype=dtype, device=device)
        b = torch.randn(size, size, dtype=dtype, device=device)
        torch.mm(a, b)
        for _ in range(trials):
            synchronize(device)
            start = time.perf_counter()
            for _ in range(repeats):
                torch.mm(a, b)
            synchronize(device)
            best_rate = max(best_rate, 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best_rate


# ---------------------------------------------------------------------------------------------- generated blocks


@dataclass(frozen=True)
class GeneratedBlock:
    """A block of a Markdown page (the README or a page of ``docs/``) that a script writes between two marker
    lines, ``<!-- NAME: begin (written by WRITER) -->`` and ``<!-- NAME: end -->``; a test compares it with what
    the committed results render to."""

    path: Path
    name: str
    writer: str  # the command that writes it, e.g. "benchmarks/ablation.py --scale cpu"

    @property
    def begin(self) -> str:
        return f"<!-- {self.name}: begin (written by {self.writer}) -->"

    @property
    def end(self) -> str:
        return f"<!-- {self.name}: end -->"

    def read(self) -> str:
        """What stands between the markers now, without the blank lines around it."""
        text = self.path.read_text()
        begin, end = text.find(self.begin), text.find(self.end)
        if begin < 0 or end < begin:
            raise ValueError(f"{self.path}: no '{self.begin}' ... '{self.end}' block")
        return text[begin + len(self.begin):end].strip()

    def write(self, section: str) -> None:
        """Replace what stands between the two marker lines with ``section``."""
        text = self.path.read_text()
        begin, end = text.find(self.begin), text.find(self.end)
        if begin < 0 or end < begin:
            raise SystemExit(f"{self.path}: no '{self.begin}' ... '{self.end}' block to write the results into")
        write_text_atomically(self.path, text[: begin + len(self.begin)] + "\n\n" + section + "\n" + text[end:])

    def section(self, table: str, demote_headings: bool = False) -> str:
        """The block for a script's ``results.md``: its title dropped (the page's own heading replaces it),
        headings one level down with ``demote_headings`` (the block sits under a section of the page), and
        links written relative to the repository root (as ``results.md`` has them) made relative to the page."""
        lines = table.splitlines()
        if demote_headings:
            lines = ["#" + line if line.startswith("#") else line for line in lines]
        return relink("\n".join(lines[2:]).strip() + "\n", self.path.parent)


def percent(value) -> str:
    """A fraction as a percentage with one decimal for a results table; "–" for None (nothing to score)."""
    return "–" if value is None else f"{100 * value:.1f}"


def write_results_folder(output: Path, results: dict, table: str) -> None:
    """Write a script's ``results.json`` and ``results.md`` (``table``) into the folder ``output``, each file
    whole or not at all, and print the table."""
    output.mkdir(parents=True, exist_ok=True)
    write_text_atomically(output / "results.json", json.dumps(results, indent=1) + "\n")
    write_text_atomically(output / "results.md", table)
    print(table)


def write_results(results: dict, output: Path, table: str, block: GeneratedBlock, committed: Path) -> None:
    """Write ``results`` as JSON to ``output`` and print ``table``; a run that writes the committed results file
    (``output == committed``) also rewrites the page's generated ``block`` with the table."""
    write_text_atomically(output, json.dumps(results, indent=1) + "\n")
    print(table)
    if output == committed:
        block.write(table)


_LINK = re.compile(r"(\]\()(?!https?:|#|/)([^)\s]+)(\))")


def relink(markdown: str, folder: Path) -> str:
    """``markdown`` with its relative links, written from the repository root, made relative to ``folder``."""
    return _LINK.sub(lambda m: m.group(1) + Path(os.path.relpath(REPO_ROOT / m.group(2), folder)).as_posix()
                     + m.group(3), markdown)


# ---------------------------------------------------------------------------------------------- trained models


def trained_models(parser: argparse.ArgumentParser, items: list[str],
                   flag: str = "--model") -> Iterator[tuple[str, Path, object]]:
    """``(name, folder, model)`` for each ``NAME=DIR`` given with ``flag``: a folder written by ``trm train`` (it
    has a ``training_config.yaml``), loaded through ``AutoModel`` in eval mode. A bad item is a parser error."""
    from transformers import AutoModel

    import modeling_trm  # noqa: F401  (registers "trm"/"hrm" with AutoModel)

    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            parser.error(f"{flag} takes NAME=DIR, got {item!r}")
        model_dir = Path(folder)
        if not (model_dir / "training_config.yaml").is_file():
            parser.error(f"{model_dir}: no training_config.yaml (not a folder written by `trm train`)")
        yield name, model_dir, AutoModel.from_pretrained(model_dir).eval()


def training_dataset(model_dir: Path):
    """``(DatasetDict, metadata, TrainingConfig)``: the dataset a model was trained on, from its
    ``training_config.yaml``: the saved dataset it names, the copy `trm train` cached of its recipe, or the
    recipe rebuilt from the recorded seed and options (generated recipes are bit-reproducible; nothing is
    downloaded)."""
    import hub_datasets
    from training.config import TrainingConfig
    from training.data import recipe_cache_folder

    config = TrainingConfig.from_yaml(Path(model_dir) / "training_config.yaml")
    saved = config.dataset if config.dataset is not None else recipe_cache_folder(config)
    if config.dataset is not None or (Path(saved) / "puzzle_dataset.json").is_file():
        return hub_datasets.load_puzzle_dataset(saved), hub_datasets.load_dataset_metadata(saved), config
    dataset, metadata = hub_datasets.build_dataset(config.dataset_recipe, seed=config.dataset_seed,
                                                   **config.dataset_options)
    return dataset, metadata, config


def load_test_split(model_dir: Path, limit: int | None = None):
    """``(test split, metadata, TrainingConfig)``: the held-out split of the recipe the model was trained on
    (`training_dataset`), its first ``limit`` puzzles when given."""
    dataset, metadata, config = training_dataset(model_dir)
    test = dataset["test"]
    if limit is not None:
        test = test.select(range(min(limit, len(test))))
    return test, metadata, config
