"""Small modules, named by role (issue 12): no module of the package is over 400 lines, and
none of the Airflow adapter, split by concern, over 300."""

from __future__ import annotations

from pathlib import Path

import labcas_workflow_api

PACKAGE = Path(labcas_workflow_api.__file__).parent
LIMITS = {"": 400, "engines/airflow/": 300}


def sizes() -> dict[str, int]:
    return {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }


def test_no_module_is_over_its_limit() -> None:
    found = sizes()
    assert len(found) > 50
    assert len([name for name in found if name.startswith("engines/airflow/")]) >= 5
    over = {
        name: n
        for name, n in found.items()
        for prefix, most in LIMITS.items()
        if name.startswith(prefix) and n > most
    }
    assert over == {}
