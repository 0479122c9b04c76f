"""A throw-away local Airflow (3.x or 2.x) for the dev stack and the tests: own home, SQLite.

The components are started one by one, not by ``airflow standalone``, which cannot keep the log
servers off ``0.0.0.0`` nor spare the triggerer (these DAGs use none) on a 2-core machine. SQLite
takes one writer at a time (Airflow 3 writes an audit row even for many reads) and a scheduler
that cannot write its heartbeat dies of "database is locked": so the database is in WAL mode and
a component that exits is restarted. The busy timeout stays at SQLite's 5 s: 60 s was tried and
let a burst pile up behind the lock for minutes instead of failing fast.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from labcas_workflow_api.devstack.airflow_venv import venv_airflow_version
from labcas_workflow_api.devstack.process import (
    free_port,
    persistent_secret,
    spawn,
    stop_process_tree,
    tail,
    write_private,
)

log = logging.getLogger(__name__)

SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)
AIRFLOW2_API_AUTH = (
    "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,"
    "airflow.api.auth.backend.session"
)
REPO_DAGS = Path(__file__).resolve().parents[3] / "dags"

# keep runs a component again when it exits: at most 5 times in a row, waiting 2, 4, 8... s (a
# burst holding SQLite's lock has time to pass); one that ran a minute was healthy, so its next
# exit starts the count again.
_KEEP = """\
set -u
keep() {
  local tries=0 rc began delay
  while :; do
    began=$SECONDS; "$@"; rc=$?
    [ $((SECONDS - began)) -ge 60 ] && tries=0
    tries=$((tries + 1)); [ $tries -gt 5 ] && return $rc
    delay=$((2 ** tries)); [ $delay -gt 30 ] && delay=30
    echo "labcas: '$*' exited with $rc; restart $tries of 5 in $delay s" >&2
    sleep "$delay"
  done
}"""
_WAL = """\
[ -f "$AIRFLOW_HOME/airflow.db" ] && { python -c "import sqlite3, sys; sqlite3.connect(sys.argv[1])\
.execute('PRAGMA journal_mode=WAL')" "$AIRFLOW_HOME/airflow.db" || exit 1; }"""
_STOP_ALL = """\
wait -n
echo "labcas: an Airflow component kept exiting; stopping the others" >&2
kill -TERM 0"""


class AirflowServer:
    """One local Airflow (3.x or 2.x) on 127.0.0.1: start it, wait for it, stop it.

    The version is the virtualenv's unless ``version`` is given. ``extra_env`` reaches every
    component and task (e.g. ``AWS_*``) and may override any ``AIRFLOW__*`` setting chosen here.
    ``home`` defaults to a temporary directory removed by ``stop()``. ``api_url`` ends in
    ``/api/v2`` (Airflow 3) or ``/api/v1`` (Airflow 2); ``auth_headers()`` authenticates to it.
    """

    def __init__(
        self,
        venv: Path,
        *,
        dags_folder: Path = REPO_DAGS,
        home: Path | None = None,
        port: int = 0,
        password: str = "admin",  # noqa: S107 - a local development stack
        extra_env: Mapping[str, str] | None = None,
        version: str | None = None,
    ) -> None:
        self.venv = venv
        self.version = version or venv_airflow_version(venv)
        self.major = int(self.version.split(".", 1)[0])
        self.dags_folder = dags_folder
        self._own_home = home is None
        self.home = home or Path(tempfile.mkdtemp(prefix="labcas-airflow-"))
        self.port = port or free_port()
        self.username = "admin"
        self.password = password
        self.extra_env = dict(extra_env or {})
        self.log_path = self.home / "airflow-server.log"
        self._passwords_file = self.home / "simple_auth_manager_passwords.json.generated"
        self.started_at: float | None = None
        self.ready_after: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + ("/api/v2" if self.major >= 3 else "/api/v1")

    def environment(self) -> dict[str, str]:
        """The environment of every Airflow component (and so of every task)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
        env.pop("PYTHONPATH", None)
        env.update(
            {
                "PATH": os.pathsep.join([str(self.venv / "bin"), env.get("PATH", os.defpath)]),
                "VIRTUAL_ENV": str(self.venv),
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        )
        env.update(self._environment_3() if self.major >= 3 else self._environment_2())
        env.update(self.extra_env)
        return env

    def _environment_3(self) -> dict[str, str]:
        return {
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self._passwords_file),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": persistent_secret(self.home / ".jwt_secret"),
            "AIRFLOW__API__SECRET_KEY": persistent_secret(self.home / ".secret_key"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        }

    def _environment_2(self) -> dict[str, str]:
        return {
            # Tasks of the LocalExecutor write to SQLite themselves; Airflow 2 refuses that
            # pairing unless told (as its own tests do). Fine for a few test runs.
            "_AIRFLOW__SKIP_DATABASE_EXECUTOR_COMPATIBILITY_CHECK": "1",
            "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
            "AIRFLOW__API__AUTH_BACKENDS": AIRFLOW2_API_AUTH,
            "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.port),
            "AIRFLOW__WEBSERVER__WORKERS": "2",
            "AIRFLOW__WEBSERVER__SECRET_KEY": persistent_secret(self.home / ".secret_key"),
            "AIRFLOW__WEBSERVER__BASE_URL": self.url,
            "AIRFLOW__WEBSERVER__WARN_DEPLOYMENT_EXPOSURE": "False",
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "False",
        }

    def _script(self) -> str:
        setup = ["airflow db migrate || exit 1"]
        components = ["airflow scheduler --skip-serve-logs"]
        if self.major >= 3:
            components += [
                "airflow dag-processor",
                f"airflow api-server --host 127.0.0.1 --port {self.port} --workers 1",
            ]
        else:
            user = shlex.join(
                [
                    *("airflow", "users", "create", "--role", "Admin"),
                    *("--username", self.username, "--password", self.password),
                    *("--firstname", "LabCAS", "--lastname", "Admin", "--email", "admin@localhost"),
                ]
            )
            setup.append(f"{user} >/dev/null || exit 1")
            components.append(
                f"airflow webserver --hostname 127.0.0.1 --port {self.port} --workers 2"
            )
        keep = [f"keep {component} &" for component in components]
        return "\n".join([_KEEP, *setup, _WAL, *keep, _STOP_ALL])

    def start(self) -> AirflowServer:
        """Start every component in a new process group; return at once (see ``wait_ready``)."""
        if self._process is not None:
            raise RuntimeError("Airflow is already started")
        self.home.mkdir(parents=True, exist_ok=True)
        write_private(self._passwords_file, json.dumps({self.username: self.password}) + "\n")
        self.started_at = time.monotonic()
        env = self.environment()
        self._process = spawn(
            ["/bin/bash", "-c", self._script()], self.log_path, cwd=self.home, env=env
        )
        log.info(
            "Airflow %s starting on %s (home %s, log %s)",
            self.version,
            self.url,
            self.home,
            self.log_path,
        )
        return self

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def _check_alive(self) -> None:
        if self._process is None:
            raise RuntimeError("Airflow is not started")
        if self._process.poll() is not None:
            raise RuntimeError(
                f"Airflow exited with {self._process.returncode}; "
                f"log {self.log_path}:\n{self.log_tail()}"
            )

    def token(self, client: httpx.Client | None = None) -> str:
        """A fresh API token for the admin user (Airflow 3)."""
        if self.major < 3:
            raise RuntimeError(f"Airflow {self.version} has no token endpoint (basic auth)")
        body = {"username": self.username, "password": self.password}
        with contextlib.ExitStack() as stack:
            http = client or stack.enter_context(httpx.Client(timeout=10))
            response = http.post(f"{self.url}/auth/token", json=body)
            response.raise_for_status()
            return str(response.json()["access_token"])

    def auth_headers(self, client: httpx.Client | None = None) -> dict[str, str]:
        """Headers authenticating the admin to the REST API (bearer token, or basic auth)."""
        if self.major >= 3:
            return {"Authorization": f"Bearer {self.token(client)}"}
        pair = f"{self.username}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def wait_ready(self, timeout: float = 180) -> float:
        """Block until the API answers, the scheduler (and DAG processor) are healthy and the
        admin is let in; return the seconds since ``start()``. Raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5) as http:
            while True:
                self._check_alive()
                if self._healthy(http):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"Airflow not ready after {timeout:.0f}s; log {self.log_path}:\n"
                        + self.log_tail()
                    )
                time.sleep(0.5)
        assert self.started_at is not None
        self.ready_after = time.monotonic() - self.started_at
        log.info("Airflow %s ready on %s after %.1fs", self.version, self.url, self.ready_after)
        return self.ready_after

    def _healthy(self, http: httpx.Client) -> bool:
        v3 = self.major >= 3
        components = ["metadatabase", "scheduler", *(["dag_processor"] if v3 else [])]
        try:
            health = http.get(self.api_url + ("/monitor/health" if v3 else "/health"))
            if health.status_code != 200 or any(
                (health.json().get(c) or {}).get("status") != "healthy" for c in components
            ):
                return False
            headers = self.auth_headers(http)
            probe = http.get(self.api_url + "/dags", params={"limit": 1}, headers=headers)
        except (httpx.HTTPError, ValueError):
            return False
        return probe.status_code == 200

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Block until ``dag_id`` is parsed (an answer too slow on the way, as on a loaded
        machine, is "not yet"). Raises ``RuntimeError`` at once when Airflow reports an import
        error for ``<dag_id>.py``, ``TimeoutError`` (listing any) if it is not there in time."""
        deadline = time.monotonic() + timeout
        errors: list[dict[str, Any]] = []
        with httpx.Client(timeout=10) as http:
            while True:
                self._check_alive()
                try:
                    headers = self.auth_headers(http)
                    response = http.get(f"{self.api_url}/dags/{dag_id}", headers=headers)
                    if response.status_code == 200:
                        return
                    errors = self._import_errors(http, headers)
                except httpx.TransportError as exc:
                    log.info("Airflow did not answer (%s); asking again", exc)
                own = [e for e in errors if Path(str(e.get("filename"))).stem == dag_id]
                if own:
                    raise RuntimeError(
                        f"DAG {dag_id!r} does not import: {own[0].get('stack_trace')}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"DAG {dag_id!r} not parsed after {timeout:.0f}s; import errors: {errors}"
                    )
                time.sleep(1)

    def _import_errors(self, http: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
        response = http.get(f"{self.api_url}/importErrors", headers=headers)
        if response.status_code != 200:
            return []
        errors = response.json().get("import_errors")
        return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []

    def stop(self, grace: float = 15) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds; remove an own home."""
        self._stop_processes(grace)
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def restart(self, *, new_jwt_secret: bool = False) -> float:
        """Stop and start again on the same home, database and port; return the seconds until
        ready. With ``new_jwt_secret``, Airflow 3 signs with a new ``[api_auth] jwt_secret``
        (as a standalone Airflow that generates its secret at start, or a key rotation, does),
        so it refuses every token signed before (403 ``Invalid JWT token``)."""
        self._stop_processes(5)
        if new_jwt_secret:
            (self.home / ".jwt_secret").unlink(missing_ok=True)
        self.start()
        return self.wait_ready()

    def _stop_processes(self, grace: float) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process_tree(process, grace, "Airflow")
