"""The README's layout section is the tree as `ls` shows it, and its commands exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "labcas_workflow_api"
NAME = re.compile(r"[\w.-]+(?:\.\w+|/)")  # a file name with an extension, or a folder/


def layout_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1]
    return re.findall(r"```\n(.*?)```", section, re.S)


def listed(path: Path) -> set[str]:
    """What `ls` shows of a folder: no hidden entries, no caches; folders with a slash."""
    return {
        p.name + ("/" if p.is_dir() else "")
        for p in path.iterdir()
        if not p.name.startswith(".")
        and p.name not in ("__pycache__", "node_modules")
        and not p.name.endswith(".egg-info")
    }


def tracked_top_level() -> set[str]:
    """The repository's top level as a fresh clone's `ls` shows it."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {f.split("/")[0] + ("/" if "/" in f else "") for f in files if not f.startswith(".")}


def test_the_top_level_is_listed_exactly() -> None:
    top, _ = layout_blocks()
    names = {line.split()[0] for line in top.splitlines() if line.strip()}
    assert names == tracked_top_level()


def test_the_package_is_listed_exactly() -> None:
    _, package = layout_blocks()
    lines = package.splitlines()
    assert lines[0] == "src/labcas_workflow_api/"
    modules = set()
    for line in lines[1:]:
        first = line.split()[0]
        if first.endswith("/"):
            mentioned = set(NAME.findall(line.split(None, 1)[1]))
            inside = listed(PACKAGE / first)
            assert mentioned <= inside, f"{first}: not in the tree: {mentioned - inside}"
            wanted = {n for n in inside if n != "__init__.py"}
            if any(n.endswith((".py", "/")) for n in mentioned):
                assert wanted <= mentioned, (
                    f"{first}: missing from the README: {wanted - mentioned}"
                )
            modules.add(first)
        else:
            modules.update(line.split())
    assert modules == listed(PACKAGE)
