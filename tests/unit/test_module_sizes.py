"""Small modules, named by role: no module of the package is over 400 lines (issue 12)."""

from __future__ import annotations

from pathlib import Path

import labcas_workflow_api

PACKAGE = Path(labcas_workflow_api.__file__).parent
MAX_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
