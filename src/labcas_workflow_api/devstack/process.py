"""Local servers: free ports, owner-only secret files, processes started with a log and
stopped with all they started."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, NamedTuple

log = logging.getLogger(__name__)
_PROC = Path("/proc")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hold_port(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A socket bound to ``host:port``, not listening yet, so nothing else takes the port
    (``SO_REUSEADDR``, as uvicorn and Airflow set it: a port in ``TIME_WAIT`` is free).
    Raises ``OSError`` when the port is in use."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now."""
    try:
        hold_port(port, host).close()
    except OSError:
        return False
    return True


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner may read, from its first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)  # an existing file keeps its mode through os.open


def persistent_secret(path: Path) -> str:
    """The random secret kept in ``path``, made when missing or shorter than Airflow's HS512
    tokens need (64 characters)."""
    if not path.exists() or len(path.read_text().strip()) < 64:
        write_private(path, secrets.token_urlsafe(64))
    return path.read_text().strip()


def spawn(args: list[str], log_path: Path, **options: Any) -> subprocess.Popen[bytes]:
    """Start ``args`` leading a new session, stdin closed, its output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own fixed commands
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **options,
        )


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a log ("" when it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Proc(NamedTuple):
    parent: int
    group: int
    session: int
    state: str  # ``Z`` for a zombie


def process_table() -> dict[int, Proc]:
    """Every process by pid, from /proc."""
    table = {}
    for stat in _PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            table[int(stat.parent.name)] = Proc(
                int(fields[1]), int(fields[2]), int(fields[3]), fields[0]
            )
        except (OSError, IndexError, ValueError):
            continue
    return table


def command_line(pid: int) -> str:
    """The process's command line, words joined by spaces ("" once it is gone)."""
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _tree(root: int) -> set[int]:
    """``root``, its session and process group, and all their descendants: even processes
    in other sessions (Airflow runs each task in a session of its own), and processes left
    in the session by a parent that died (Airflow 2's DAG processor manager, in a group of
    its own, outlives a killed scheduler)."""
    table = process_table()
    found = {pid for pid, p in table.items() if root in (p.group, p.session)}
    found.add(root)
    frontier = set(found)
    while frontier:
        frontier = {pid for pid, p in table.items() if p.parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    table = process_table()
    return {pid for pid in pids if pid in table and table[pid].state != "Z"}


def _signal(pids: set[int], pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_process_tree(process: subprocess.Popen[bytes], grace: float, name: str) -> None:
    """SIGTERM the server's process group and every descendant, SIGKILL what is left after
    ``grace`` seconds. The server must lead its own group (``start_new_session=True``);
    without /proc, the group is all this reaches."""
    pids = _tree(process.pid)
    _signal(pids, process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process.poll() is None:
            pids |= _tree(process.pid)
        elif not alive(pids):
            break
        time.sleep(0.2)
    else:
        log.warning("%s did not stop within %.0f s; killing what is left", name, grace)
        _signal(alive(pids), process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
