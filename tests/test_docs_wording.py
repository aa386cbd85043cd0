"""The README and docs are written for the package's users: they describe the project, its commands
and its measurements, never the environment it was developed in."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# wording of a development environment, not of a user's machine
FOREIGN = re.compile(r"\bsessions?\b|device call|device tool|\bcarry \[|\blent\b|\$OUT\b|timeout_s", re.IGNORECASE)


def test_readme_and_docs_speak_only_of_the_project():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "gpu_check_prepare.sh"]
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in files for number, line in enumerate(path.read_text().splitlines(), 1) if FOREIGN.search(line)]
    assert found == [], "\n".join(found)
