"""docs/numerics.md is where code comments send a reader: every anchor they cite exists, and every
test the page names as proof of a rule exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "numerics.md"
LIBRARY = ("modeling_trm", "hub_datasets", "training", "model_cards", "benchmarks")


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_every_cited_anchor_exists():
    anchors = _anchors(DOC.read_text())
    cited = {}
    files = [path for package in (*LIBRARY, "docs") for path in (ROOT / package).rglob("*")
             if path.suffix in (".py", ".j2", ".md")]
    for path in files:
        for anchor in re.findall(r"docs/numerics\.md#([A-Za-z0-9_-]+)", path.read_text()):
            cited.setdefault(anchor, path.relative_to(ROOT))
    for anchor in re.findall(r"\]\(#([a-z0-9_-]+)\)", DOC.read_text()):  # the page's own links
        cited.setdefault(anchor, DOC.relative_to(ROOT))
    assert cited, "no comment cites docs/numerics.md"
    missing = {anchor: str(where) for anchor, where in cited.items() if anchor not in anchors}
    assert not missing, f"anchors cited but not in docs/numerics.md: {missing}"


def test_every_named_test_exists():
    """`tests/x.py::test_name` and the `::test_other` that follow it name functions of that file."""
    named = 0
    current = None
    for token in re.findall(r"`(tests/[\w/]+\.py)?(?:::(\w+))?(?:\[[\w-]+\])?`", DOC.read_text()):
        path, test = token
        if path:
            current = ROOT / path
            assert current.is_file(), f"docs/numerics.md names {path}, which does not exist"
        if test:
            assert current is not None and re.search(rf"^def {test}\(", current.read_text(), re.MULTILINE), (
                f"docs/numerics.md names {test} in {current}, which does not define it")
            named += 1
    assert named >= 50  # the page proves each rule with tests


def test_no_library_comment_points_outside_the_repository():
    """Comments cite docs/ or the paper; a document that is not in the repository cannot be followed."""
    outside = re.compile(r"spec §|pitfall \d|TRM_REFERENCE|shared/spec")
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for package in LIBRARY for path in sorted((ROOT / package).rglob("*"))
             if path.suffix in (".py", ".j2", ".md", ".sh")
             for number, line in enumerate(path.read_text().splitlines(), 1) if outside.search(line)]
    assert found == []
