"""Stopping a local server stops everything it started, even what left its process group."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from labcas_workflow_api.devstack.process import alive, stop_process_tree


def test_an_orphan_in_a_group_of_its_own_is_stopped_with_the_session(tmp_path: Path) -> None:
    """Like Airflow 2's DAG processor manager once its scheduler is killed: parent gone,
    own process group, still in the server's session."""
    pid_file = tmp_path / "orphan.pid"
    orphan = (
        "import os, pathlib, sys, time; os.setpgid(0, 0); "
        "pathlib.Path(sys.argv[1]).write_text(str(os.getpid())); time.sleep(60)"
    )
    script = f'( "{sys.executable}" -c "{orphan}" "{pid_file}" & ); sleep 60'
    server = subprocess.Popen(["/bin/bash", "-c", script], start_new_session=True)
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    assert os.getpgid(pid) == pid and os.getsid(pid) == server.pid
    stop_process_tree(server, 5, "test server")
    deadline = time.monotonic() + 5
    while alive({pid}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive({pid})
