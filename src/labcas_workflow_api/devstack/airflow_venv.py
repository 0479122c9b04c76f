"""The cached virtualenv a local Airflow runs from: installed once, then reused.

``ensure_airflow_venv`` installs ``apache-airflow`` and the demo DAG's libraries into
``$LABCAS_CACHE_DIR/airflow-<version>`` (``~/.cache/labcas``), about 930 MB and a few minutes
the first time; ``progress`` hears what it does meanwhile (a line per step, then one every
``HEARTBEAT`` seconds with the time so far and pip's latest line).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

DEFAULT_VERSION = "3.3.2"
AIRFLOW2_VERSION = "2.10.5"
EXTRA_PACKAGES = ("boto3", "scikit-image", "pillow")
CONSTRAINTS_DIR = Path(__file__).resolve().parent / "constraints"
READY_MARKER = ".labcas-ready"
HEARTBEAT = 15.0

Progress = Callable[[str], None]


def default_cache_dir() -> Path:
    """``$LABCAS_CACHE_DIR``, else ``~/.cache/labcas``."""
    return Path(os.environ.get("LABCAS_CACHE_DIR") or Path.home() / ".cache" / "labcas")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    version: str = DEFAULT_VERSION,
    cache_dir: Path | str | None = None,
    *,
    python: str = "",
    progress: Progress | None = None,
) -> Path:
    """Path of a virtualenv with ``apache-airflow==version`` and the demo DAG's libraries.

    Reuses ``<cache>/airflow-<version>`` when its ready marker is there (or when it already
    holds that Airflow, then marks it); otherwise creates it with ``python -m venv`` and pip.
    A file lock serialises concurrent installs; the marker is written only after a successful
    install. Raises ``RuntimeError`` naming the install log when pip fails.
    """
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    venv = root / f"airflow-{version}"
    marker = venv / READY_MARKER
    if marker.exists():
        return venv
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f"airflow-{version}.lock"):
        if marker.exists():
            return venv
        if not _venv_has_airflow(venv, version):
            log_path = root / f"airflow-{version}.log"
            say = progress or log.info
            _install(venv, version, python or sys.executable, log_path, say)
        marker.write_text(version + "\n")
    return venv


def constraints_file(version: str) -> Path | None:
    """The pinned working set for ``version`` kept beside this module, if any.

    Airflow's own constraint files live on GitHub, which CI cannot reach; without pins, pip
    would resolve Airflow 2's dependencies against whatever PyPI holds today.
    """
    path = CONSTRAINTS_DIR / f"airflow-{version}.txt"
    return path if path.is_file() else None


def _install(venv: Path, version: str, python: str, log_path: Path, say: Progress) -> None:
    say(f"installing apache-airflow=={version} into {venv} (once; log: {log_path})")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    constraints = constraints_file(version)
    pinned = ["--constraint", str(constraints)] if constraints else []
    steps = [
        ("create the virtualenv", [python, "-m", "venv", str(venv)]),
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
            returncode = _run_reporting(step, out, log_path, say, began)
            if returncode:
                raise RuntimeError(f"installing Airflow {version} failed; see {log_path}")
    if not _venv_has_airflow(venv, version):
        raise RuntimeError(f"Airflow {version} not importable in {venv}; see {log_path}")
    say(f"  Airflow {version} installed in {time.monotonic() - began:.0f} s")


def _run_reporting(
    command: list[str], out: IO[str], log_path: Path, say: Progress, began: float
) -> int:
    """Run ``command`` with its output appended to ``out``; every ``HEARTBEAT`` seconds, tell
    ``say`` the time so far and the log's latest line."""
    process = subprocess.Popen(  # noqa: S603 - fixed commands
        command, stdout=out, stderr=subprocess.STDOUT
    )
    while True:
        try:
            return process.wait(timeout=HEARTBEAT)
        except subprocess.TimeoutExpired:
            say(f"    {time.monotonic() - began:.0f} s so far; {_last_line(log_path)}")


def _last_line(path: Path, width: int = 90) -> str:
    """The log's latest non-empty line, cut to ``width`` characters."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 4096))
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return last if len(last) <= width else last[: width - 1] + "…"


def venv_airflow_version(venv: Path) -> str:
    """The Airflow version of a virtualenv made by ``ensure_airflow_venv`` (its ready marker),
    else asked from its interpreter."""
    marker = venv / READY_MARKER
    if marker.is_file() and marker.read_text().strip():
        return marker.read_text().strip()
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [str(venv / "bin" / "python"), "-c", "import airflow; print(airflow.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()
