"""scripts/build_lambda.py: reproducible function zip, and a layer lock in step with pyproject."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_lambda", ROOT / "scripts/build_lambda.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_function_zip_is_reproducible(build: ModuleType, tmp_path: Path) -> None:
    first = build.build_function(tmp_path / "a")
    second = build.build_function(tmp_path / "b")
    assert _sha(first) == _sha(second)
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert "labcas_workflow_api/aws/api.py" in names
    assert "labcas_workflow_api/aws/authorizer.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith("labcas_workflow_api/devstack/")]


def test_the_handlers_import_from_the_function_zip_alone(build: ModuleType, tmp_path: Path) -> None:
    archive = build.build_function(tmp_path)
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(unpacked)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import labcas_workflow_api.aws.api as a, labcas_workflow_api.aws.authorizer as z; "
        "assert a.__file__.startswith(sys.argv[1]) and z.__file__.startswith(sys.argv[1]); "
        "print(a.handler({}, None)['statusCode'])\n"
        "try:\n    z.handler({}, None)\nexcept Exception as e:\n    print(e)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(unpacked)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "LABCAS_JWT_SECRET": "x" * 32},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["400", "Unauthorized"]


def test_the_layer_lock_pins_every_runtime_dependency_with_a_hash(build: ModuleType) -> None:
    locked = {}
    for line in build.LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            match = re.fullmatch(r"([a-z0-9-]+)==(\S+) --hash=sha256:[0-9a-f]{64}", line)
            assert match, line
            locked[match.group(1)] = match.group(2)
    wanted = {build._name(r) for r in build.runtime_requirements()}
    assert wanted - set(locked) == set(), "re-pin with: python scripts/build_lambda.py --lock"
    assert not {"uvicorn", "typer", "rich"} & set(locked)


def test_compiled_bytecode_is_deterministic(
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "layer" / "python" / "pkg"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("VALUE = 1\n")
    (source / "mod.py").write_text("def f():\n    return 2\n")
    with pytest.raises(SystemExit, match="needs Python"):
        build._compile(source, sys.executable)
    monkeypatch.setattr(build, "PYTHON_VERSION", f"{sys.version_info[0]}.{sys.version_info[1]}")
    build._compile(source, sys.executable)
    build.deterministic_zip(tmp_path / "layer", tmp_path / "a.zip", keep_pyc=True)
    for pyc in source.rglob("*.pyc"):
        pyc.unlink()
    build._compile(source, sys.executable)
    build.deterministic_zip(tmp_path / "layer", tmp_path / "b.zip", keep_pyc=True)
    assert _sha(tmp_path / "a.zip") == _sha(tmp_path / "b.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert sum(n.endswith(".pyc") for n in archive.namelist()) == 2


def _this_python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_the_function_zip_carries_bytecode_beside_the_sources(
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "PYTHON_VERSION", _this_python())
    first = build.build_function(tmp_path / "a", compile_with=sys.executable)
    second = build.build_function(tmp_path / "b", compile_with=sys.executable)
    assert _sha(first) == _sha(second)
    with zipfile.ZipFile(first) as archive:
        names = set(archive.namelist())
    tag = sys.implementation.cache_tag
    assert "labcas_workflow_api/aws/api.py" in names
    assert f"labcas_workflow_api/aws/__pycache__/api.{tag}.pyc" in names
    sources = {n for n in names if n.endswith(".py")}
    compiled = {n for n in names if n.endswith(".pyc")}
    assert len(compiled) == len(sources)


def test_the_build_compiles_by_default_and_says_so_without_the_runtime_python(
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "find_runtime_python", lambda: None)
    with pytest.raises(SystemExit, match="--no-compile"):
        build.main(["--function-only", "--out", str(tmp_path)])
    assert build.main(["--function-only", "--no-compile", "--out", str(tmp_path)]) == 0


def test_the_runtime_python_is_found_by_its_version(
    build: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "PYTHON_VERSION", _this_python())
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin")
    found = build.find_runtime_python()
    assert found is not None and build._version_of(found) == _this_python()
    monkeypatch.setattr(build, "PYTHON_VERSION", "2.0")
    assert build.find_runtime_python() is None
