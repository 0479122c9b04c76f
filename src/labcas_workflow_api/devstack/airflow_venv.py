"""The cached virtualenv a local Airflow runs from: installed once (about 930 MB), then reused."""

from __future__ import annotations

import fcntl
import logging
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from labcas_workflow_api.devstack.process import tail

log = logging.getLogger(__name__)

DEFAULT_VERSION = "3.3.2"
AIRFLOW2_VERSION = "2.10.5"
EXTRA_PACKAGES = ("boto3", "scikit-image", "pillow")
CONSTRAINTS_DIR = Path(__file__).resolve().parent / "constraints"
READY_MARKER = ".labcas-ready"
HEARTBEAT = 15.0

Progress = Callable[[str], None]


def _venv_has_airflow(venv: Path, version: str) -> bool:
    python = venv / "bin" / "python"
    if not python.exists():
        return False
    probe = "import airflow, boto3, skimage, PIL; print(airflow.__version__)"
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [str(python), "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    return result.returncode == 0 and result.stdout.strip() == version


def ensure_airflow_venv(
    version: str = DEFAULT_VERSION, *, progress: Progress | None = None
) -> Path:
    """Path of a virtualenv with ``apache-airflow==version`` and the demo DAG's libraries.

    Reuses ``$LABCAS_CACHE_DIR/airflow-<version>`` (default ``~/.cache/labcas``) once marked
    ready. Otherwise, under a file lock, installs it (unless it holds that Airflow already) and
    marks it, telling ``progress`` each step and, every ``HEARTBEAT`` seconds, the time so far
    and pip's latest line. Raises ``RuntimeError`` naming the install log when pip fails.
    """
    root = Path(os.environ.get("LABCAS_CACHE_DIR") or Path.home() / ".cache" / "labcas")
    venv = root / f"airflow-{version}"
    marker = venv / READY_MARKER
    if marker.exists():
        return venv
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"airflow-{version}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if marker.exists():
            return venv
        if not _venv_has_airflow(venv, version):
            _install(venv, version, root / f"airflow-{version}.log", progress or log.info)
        marker.write_text(version + "\n")
    return venv


def _install(venv: Path, version: str, log_path: Path, say: Progress) -> None:
    say(f"installing apache-airflow=={version} into {venv} (once; log: {log_path})")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    # Airflow's own constraint files live on GitHub, which CI cannot reach; without pins, pip
    # would resolve Airflow 2's dependencies against whatever PyPI holds today.
    constraints = CONSTRAINTS_DIR / f"airflow-{version}.txt"
    pinned = ["--constraint", str(constraints)] if constraints.is_file() else []
    steps = [
        ("create the virtualenv", [sys.executable, "-m", "venv", str(venv)]),
        ("upgrade pip", [*pip, "install", "--upgrade", "pip"]),
        (
            f"pip install apache-airflow=={version} and {', '.join(EXTRA_PACKAGES)}"
            " (about 930 MB, a few minutes)",
            [*pip, "install", *pinned, f"apache-airflow=={version}", *EXTRA_PACKAGES],
        ),
    ]
    began = time.monotonic()
    with log_path.open("a") as out:
        for number, (what, step) in enumerate(steps, 1):
            say(f"  step {number}/{len(steps)}: {what}")
            out.write(f"$ {shlex.join(step)}\n")
            out.flush()
            if _run_reporting(step, out, log_path, say, began):
                raise RuntimeError(f"installing Airflow {version} failed; see {log_path}")
    if not _venv_has_airflow(venv, version):
        raise RuntimeError(f"Airflow {version} not importable in {venv}; see {log_path}")
    say(f"  Airflow {version} installed in {time.monotonic() - began:.0f} s")


def _run_reporting(
    command: list[str], out: IO[str], log_path: Path, say: Progress, began: float
) -> int:
    """Run ``command``, telling ``say`` how it goes every ``HEARTBEAT`` seconds."""
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    while True:
        try:
            return process.wait(timeout=HEARTBEAT)
        except subprocess.TimeoutExpired:
            say(f"    {time.monotonic() - began:.0f} s so far; {_last_line(log_path)}")


def _last_line(path: Path, width: int = 90) -> str:
    """The log's latest non-empty line, cut to ``width`` characters."""
    lines = tail(path, 10).splitlines()
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return last if len(last) <= width else last[: width - 1] + "…"


def venv_airflow_version(venv: Path) -> str:
    """The Airflow version of a virtualenv made by ``ensure_airflow_venv`` (its ready marker)."""
    return (venv / READY_MARKER).read_text().strip()
