"""The suite stands on its own: everything the tests read is inside the repository, and the tests that
need the full benchmark corpora are opt-in through ``TRM_TEST_DATA``."""

from __future__ import annotations

import json
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO_ROOT = TESTS.parent


def test_fixture_folders_are_inside_the_repository(reference_dir, arc_fixture_dir):
    for folder in (reference_dir, arc_fixture_dir):
        assert folder.is_dir() and folder.resolve().is_relative_to(REPO_ROOT), folder
    for name in ("trm_small_att", "trm_small_mlp", "hrm_small"):
        for file in ("config.json", "model.safetensors", "expected.safetensors"):
            assert (reference_dir / name / file).is_file(), (name, file)
    assert "official" in (TESTS / "fixtures" / "README.md").read_text()


def test_the_arc_fixture_is_a_small_kaggle_layout_corpus(arc_fixture_dir):
    from hub_datasets.arc import read_arc_subset

    for subset in ("training", "evaluation"):
        tasks, skipped = read_arc_subset(arc_fixture_dir, subset)
        assert len(tasks) >= 4 and skipped == 0
    total = sum(f.stat().st_size for f in (TESTS / "fixtures").rglob("*") if f.is_file())
    assert total < 4_000_000, f"tests/fixtures holds {total / 1e6:.1f} MB: keep fixtures small"


def test_no_test_reaches_outside_the_repository():
    """No path beside the checkout (the old ``../shared`` layout) in any test file."""
    outside = re.compile(r"""parents?\[\d\]\.parent|\.parent\s*/\s*["']shared|["']\.\./shared""")
    offenders = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py")
                 if p.name != "test_fixtures.py" and outside.search(p.read_text())]
    assert offenders == []


def test_ci_turns_the_opt_in_data_on_when_it_is_there(reference_dir):
    run = (REPO_ROOT / ".ci" / "run").read_text()
    assert "TRM_TEST_DATA" in run and "../shared/data" in run
    assert json.loads((reference_dir / "stats.json").read_text())
