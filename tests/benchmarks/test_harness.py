"""benchmarks/harness.py: the marked blocks the scripts write into the README and docs, the machine record of
their results, and where every generated block lives."""

from __future__ import annotations

import re

import harness
import pytest

BLOCK = harness.GeneratedBlock(harness.REPO_ROOT / "docs" / "page.md", "some-results", "benchmarks/some.py")


def test_a_block_rewrites_only_what_stands_between_its_markers(tmp_path):
    block = harness.GeneratedBlock(tmp_path / "page.md", BLOCK.name, BLOCK.writer)
    assert block.begin == "<!-- some-results: begin (written by benchmarks/some.py) -->"
    assert block.end == "<!-- some-results: end -->"
    block.path.write_text(f"# Title\n\nbefore\n\n{block.begin}\nold table\n{block.end}\n\nafter\n")
    block.write("| new | table |\n")
    assert block.path.read_text() == f"# Title\n\nbefore\n\n{block.begin}\n\n| new | table |\n\n{block.end}\n\nafter\n"
    assert block.read() == "| new | table |"
    block.path.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="no '<!-- some-results: begin"):
        block.write("| new | table |\n")
    with pytest.raises(ValueError, match="no '<!-- some-results: begin"):
        block.read()


def test_a_section_drops_the_title_demotes_headings_and_links_from_the_page():
    table = "# Study\n\n## model\n\nText ![plot](benchmarks/results/x/plot.png) [web](https://x.org) [here](#model)\n"
    assert BLOCK.section(table) == ("## model\n\nText ![plot](../benchmarks/results/x/plot.png) "
                                    "[web](https://x.org) [here](#model)\n")
    assert BLOCK.section(table, demote_headings=True).startswith("### model\n")
    readme = harness.GeneratedBlock(harness.REPO_ROOT / "README.md", "x", "y")
    assert "](benchmarks/results/x/plot.png)" in readme.section(table)  # the README is at the root already


def test_the_machine_record_keeps_the_fields_asked_for_in_order():
    record = harness.machine("cpu", "threads", "torch", load_average_before=1.5, cores=3)
    assert list(record) == ["cpu", "threads", "torch", "load_average_before", "cores"]
    assert record["cpu"] == harness.cpu_name() and isinstance(record["threads"], int) and record["cores"] == 3
    with pytest.raises(ValueError, match="unknown machine field"):
        harness.machine("gpu")


def test_every_generated_block_marker_is_written_by_a_script_that_names_it():
    """Each block in the README or docs names the script that writes it, and that script points at that page."""
    pages = [harness.REPO_ROOT / "README.md", *sorted((harness.REPO_ROOT / "docs").glob("*.md"))]
    found = {}
    for page in pages:
        for name, writer in re.findall(r"<!-- ([a-z0-9-]+): begin \(written by (benchmarks/[a-z0-9_]+\.py)[^)]*\) -->",
                                       page.read_text()):
            found[name] = (page, writer)
            assert f"<!-- {name}: end -->" in page.read_text()
    assert set(found) == {"shipped-models", "test-time-compute", "ablation-results", "ablation-3840steps-results",
                          "finetune-results", "profile-bf16", "freed-memory"}
    for name, (page, writer) in found.items():
        script = (harness.REPO_ROOT / writer).read_text()
        # ablation.py names a block after the results folder it shows (tests/benchmarks/test_ablation_smoke.py)
        assert f'"{name}"' in script or writer == "benchmarks/ablation.py", (name, writer)
        relative = page.relative_to(harness.REPO_ROOT).parts
        assert all(f'"{part}"' in script for part in relative), (name, page, writer)


def test_a_generated_recipe_is_read_from_trm_trains_cache_when_it_is_there(tiny_sudoku_model, tmp_path, monkeypatch):
    import hub_datasets
    import training.data
    from training.config import TrainingConfig

    monkeypatch.setattr(training.data, "DATASET_CACHE", tmp_path)
    rebuilt, metadata, _ = harness.training_dataset(tiny_sudoku_model)  # empty cache: built from the recipe
    assert len(rebuilt["test"]) == 24
    cached = training.data.recipe_cache_folder(TrainingConfig.from_yaml(tiny_sudoku_model / "training_config.yaml"))
    rebuilt["test"] = rebuilt["test"].select(range(3))  # a cached copy that can be told apart
    hub_datasets.save_puzzle_dataset(rebuilt, metadata, cached)
    assert len(harness.load_test_split(tiny_sudoku_model)[0]) == 3
